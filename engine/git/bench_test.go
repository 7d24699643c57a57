package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// The benchmark repository: 20,000 committed files, 1,000 of them modified
// and 1,000 untracked files, the case `git stash push -u` is used for.
const (
	benchFiles     = 20000
	benchModified  = 1000
	benchUntracked = 1000
)

var (
	benchMu   sync.Mutex
	benchDirs []string // removed by TestMain
)

// benchRepo generates a benchmark repository in a new temporary directory.
func benchRepo(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp("", "rbflow-git-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchMu.Lock()
	benchDirs = append(benchDirs, dir)
	benchMu.Unlock()
	testkit.Git(b, dir, "init", "-q", "-b", "main")
	writeFile(b, dir, ".gitignore", "*.log\nnode_modules/\n", 0o644)
	for i := 0; i < benchFiles; i++ {
		writeFile(b, dir, fmt.Sprintf("pkg%03d/file%05d.go", i/100, i), fmt.Sprintf("package p\n\n// file %d\nvar X%d = %d\n", i, i, i*7), 0o644)
	}
	testkit.Git(b, dir, "add", "-A")
	testkit.Git(b, dir, "commit", "-q", "-m", "generated")
	for i := 0; i < benchModified; i++ {
		n := i * (benchFiles / benchModified)
		writeFile(b, dir, fmt.Sprintf("pkg%03d/file%05d.go", n/100, n), fmt.Sprintf("package p\n\n// modified %d\n", n), 0o644)
	}
	for i := 0; i < benchUntracked; i++ {
		writeFile(b, dir, fmt.Sprintf("new%02d/untracked%04d.txt", i/100, i), fmt.Sprintf("untracked %d\n", i), 0o644)
	}
	writeFile(b, dir, "node_modules/x/index.js", "ignored, reinstallable\n", 0o644)
	testkit.Git(b, dir, "status", "--porcelain") // a fresh index, as in a repository in use
	return dir
}

var (
	snapOnce, stashOnce sync.Once
	snapDir, stashDir   string
	snapCount           int
)

func BenchmarkSnapshot(b *testing.B) {
	snapOnce.Do(func() { snapDir = benchRepo(b) })
	r, err := Open(context.Background(), snapDir)
	if err != nil {
		b.Fatal(err)
	}
	opt := SnapshotOptions{IncludeIgnored: true}
	cpu := childCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snapCount++
		if _, err := r.Snapshot(context.Background(), fmt.Sprintf("refs/rbflow/bench/%d", snapCount), opt); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report()
}

// BenchmarkStashPushU is the baseline: what the seed scripts did, minus the
// data loss. Each iteration's stash is popped, untimed, to restore the tree.
func BenchmarkStashPushU(b *testing.B) {
	stashOnce.Do(func() { stashDir = benchRepo(b) })
	cpu := childCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		testkit.Git(b, stashDir, "stash", "push", "-q", "-u")
		b.StopTimer()
		cpu.pause()
		testkit.Git(b, stashDir, "stash", "pop", "-q")
		cpu.resume()
		b.StartTimer()
	}
	cpu.report()
}

// cpuMeter measures the CPU time (user + system) of git processes, which a
// busy machine disturbs much less than wall time.
type cpuMeter struct {
	b              *testing.B
	start, skipped time.Duration
	pausedAt       time.Duration
}

func childCPU(b *testing.B) *cpuMeter {
	return &cpuMeter{b: b, start: childrenCPU()}
}

func (m *cpuMeter) pause()  { m.pausedAt = childrenCPU() }
func (m *cpuMeter) resume() { m.skipped += childrenCPU() - m.pausedAt }

func (m *cpuMeter) report() {
	used := childrenCPU() - m.start - m.skipped
	m.b.ReportMetric(float64(used.Microseconds())/1000/float64(m.b.N), "git-cpu-ms/op")
}

func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func removeBenchDirs() {
	benchMu.Lock()
	defer benchMu.Unlock()
	for _, d := range benchDirs {
		os.RemoveAll(filepath.Clean(d))
	}
}

// BenchmarkSnapshotVsStash takes a snapshot and runs `git stash push -u`
// in turn on two copies of the benchmark repository, round by round, and
// reports the ratio snapshot/stash pair by pair (min/median/max) of wall
// time and of git's CPU time. Each stash is popped, untimed.
func BenchmarkSnapshotVsStash(b *testing.B) {
	snapOnce.Do(func() { snapDir = benchRepo(b) })
	stashOnce.Do(func() { stashDir = benchRepo(b) })
	r, err := Open(context.Background(), snapDir)
	if err != nil {
		b.Fatal(err)
	}
	opt := SnapshotOptions{IncludeIgnored: true}
	var wall, cpu []float64
	for i := 0; i < b.N; i++ {
		snapCount++
		c0, t0 := childrenCPU(), time.Now()
		if _, err := r.Snapshot(context.Background(), fmt.Sprintf("refs/rbflow/bench/%d", snapCount), opt); err != nil {
			b.Fatal(err)
		}
		sw, sc := time.Since(t0), childrenCPU()-c0
		c0, t0 = childrenCPU(), time.Now()
		testkit.Git(b, stashDir, "stash", "push", "-q", "-u")
		gw, gc := time.Since(t0), childrenCPU()-c0
		testkit.Git(b, stashDir, "stash", "pop", "-q")
		wall = append(wall, sw.Seconds()/gw.Seconds())
		cpu = append(cpu, sc.Seconds()/gc.Seconds())
	}
	b.ReportMetric(testkit.Median(wall), "wall-ratio-median")
	b.ReportMetric(testkit.Median(cpu), "cpu-ratio-median")
	b.Logf("snapshot / stash push -u over %d rounds: wall %s, git CPU %s (min/median/max)", b.N, testkit.Spread(wall), testkit.Spread(cpu))
}
