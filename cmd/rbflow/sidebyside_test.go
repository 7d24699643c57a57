package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// BenchmarkSideBySide measures rbflow against its floors and peers the way
// issue 13 sets the targets: whole processes, A and B interleaved round by
// round (A B A B ...) so that a machine that slows down mid-way slows both,
// and the ratio A/B taken pair by pair, printed as min/median/max. It runs
// its rounds once whatever b.N is: make bench gives -benchtime 1x.
//
//   - 1000 steps `run: /usr/bin/true` (run directly, without bash) against
//     floor b, a bash loop that spawns `bash --noprofile --norc -c
//     /usr/bin/true` 1000 times, and floor a, one that spawns /usr/bin/true;
//   - 1000 bash steps (`x=1; /usr/bin/true`) against floor b;
//   - 200 steps `sleep 0.05` at --parallel 8 against the ideal 1.25 s and
//     against xargs -P 8;
//   - a step printing 1 GB of 2-byte lines against bash writing the same to
//     a file, with rbflow's peak RSS;
//   - 4000 steps against 1000 steps;
//   - 1000 steps against go-task running the same commands, when task is
//     on PATH;
//   - a one-step `git: reset` run against a plain `git reset --hard` on a
//     20,000-file tree with 1,000 files changed (the snapshot before and
//     the after-state snapshot included), each round's tree dirtied again
//     outside the timing.
//
// RBFLOW_BENCH_ROUNDS sets the rounds (default 5); RBFLOW_BENCH_ONLY=reset
// measures the reset alone.
func BenchmarkSideBySide(b *testing.B) {
	rounds := 5
	if n, err := fmt.Sscan(os.Getenv("RBFLOW_BENCH_ROUNDS"), &rounds); n != 1 || err != nil {
		rounds = 5
	}
	self := rbflowBinary(b)
	if os.Getenv("RBFLOW_BENCH_ONLY") == "reset" {
		resetSide(b, rounds, sideReport(b), self)
		return
	}
	dir := b.TempDir()
	repo := filepath.Join(dir, "repo")
	testkit.Git(b, dir, "init", "-q", repo)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	steps := func(name string, n int, step string) string {
		var s strings.Builder
		s.WriteString("version: 1\nname: bench\nsteps:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&s, "  - id: s%d\n%s", i, step)
		}
		return write(name, s.String())
	}
	true1000 := steps("true1000.yaml", 1000, "    run: /usr/bin/true\n")
	true4000 := steps("true4000.yaml", 4000, "    run: /usr/bin/true\n")
	bash1000 := steps("bash1000.yaml", 1000, "    run: x=1; /usr/bin/true\n")
	sleep200 := steps("sleep200.yaml", 200, "    needs: []\n    run: sleep 0.05\n")
	gigabyte := write("gigabyte.yaml", "version: 1\nname: bench\nsteps:\n  - id: print\n    run: yes | head -c 1000000000 || true\n")
	out := filepath.Join(dir, "out.txt")

	rb := func(args ...string) *exec.Cmd {
		cmd := exec.Command(self, append(args, "--repo", repo, "-q")...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		return cmd
	}
	sh := func(script string) *exec.Cmd { return exec.Command("bash", "--noprofile", "--norc", "-c", script) }
	floorB := func() *exec.Cmd {
		return sh("for i in $(seq 1000); do bash --noprofile --norc -c /usr/bin/true; done")
	}
	floorA := func() *exec.Cmd { return sh("for i in $(seq 1000); do /usr/bin/true; done") }

	report := sideReport(b)
	side := func(name string, a, bb func() *exec.Cmd) {
		var pairs [][2]measure
		for r := 0; r < rounds; r++ {
			pairs = append(pairs, [2]measure{run(b, a()), run(b, bb())})
		}
		report(name, pairs)
	}
	side("1000 x run: /usr/bin/true  vs floor b (bash -c loop)", func() *exec.Cmd { return rb("run", true1000) }, floorB)
	side("1000 x run: /usr/bin/true  vs floor a (exec loop)", func() *exec.Cmd { return rb("run", true1000) }, floorA)
	side("1000 bash steps            vs floor b", func() *exec.Cmd { return rb("run", bash1000) }, floorB)
	side("4000 x run: /usr/bin/true  vs 1000 of them", func() *exec.Cmd { return rb("run", true4000) }, func() *exec.Cmd { return rb("run", true1000) })
	side("200 x sleep 0.05 --parallel 8 vs xargs -P 8", func() *exec.Cmd { return rb("run", sleep200, "--parallel", "8") },
		func() *exec.Cmd { return sh("seq 200 | xargs -P 8 -I{} sleep 0.05") })
	var ideal []float64
	for r := 0; r < rounds; r++ {
		ideal = append(ideal, run(b, rb("run", sleep200, "--parallel", "8")).wall.Seconds()/1.25)
	}
	b.Logf("%-58s wall %s", "200 x sleep 0.05 --parallel 8 vs ideal 1.25 s", testkit.Spread(ideal))
	if task, err := exec.LookPath("task"); err != nil {
		b.Logf("%-58s not measured: task is not on PATH (go install github.com/go-task/task/v3/cmd/task@v3.54.0)", "1000 x /usr/bin/true vs go-task")
	} else {
		var tf strings.Builder
		tf.WriteString("version: '3'\ntasks:\n  default:\n    cmds:\n")
		for i := 0; i < 1000; i++ {
			tf.WriteString("      - /usr/bin/true\n")
		}
		taskfile := write("Taskfile.yml", tf.String())
		side("1000 x run: /usr/bin/true  vs go-task, same commands", func() *exec.Cmd { return rb("run", true1000) },
			func() *exec.Cmd { return exec.Command(task, "--silent", "--taskfile", taskfile) })
	}
	resetSide(b, rounds, report, self)
	var rss []float64
	var pairs [][2]measure
	for r := 0; r < rounds; r++ {
		a := run(b, rb("run", gigabyte))
		rss = append(rss, float64(a.rss)/1024)
		// The step's log holds the gigabyte: gone before the next round.
		logs, _ := filepath.Glob(filepath.Join(repo, ".git", "rbflow", "runs", "*", "print.log"))
		for _, l := range logs {
			os.Remove(l)
		}
		pairs = append(pairs, [2]measure{a, run(b, sh("yes | head -c 1000000000 > "+out))})
	}
	os.Remove(out)
	report("1 GB of 2-byte lines        vs bash to a file", pairs)
	b.Logf("%-58s %s MB", "  rbflow peak RSS", testkit.Spread(rss))
}

type measure struct {
	wall, cpu time.Duration
	rss       int64 // KB, the largest process waited for
}

func run(b *testing.B, cmd *exec.Cmd) measure {
	b.Helper()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	m := measure{wall: time.Since(start), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss
	}
	return m
}

func secondsOf(pairs [][2]measure, i int) []float64 {
	var out []float64
	for _, p := range pairs {
		out = append(out, p[i].wall.Seconds())
	}
	return out
}

// resetSide times a one-step `git: reset` run of rbflow against `git reset
// --hard`, on a 20,000-file tree of which 1,000 files are changed again
// (untimed) before each command.
// sideReport returns the function that logs pairs of runs, A and B, as the
// ratios A/B of their wall and CPU times (min/median/max).
func sideReport(b *testing.B) func(string, [][2]measure) {
	return func(name string, pairs [][2]measure) {
		var wall, cpu []float64
		for _, p := range pairs {
			wall = append(wall, p[0].wall.Seconds()/p[1].wall.Seconds())
			cpu = append(cpu, p[0].cpu.Seconds()/p[1].cpu.Seconds())
		}
		b.Logf("%-58s wall %s  cpu %s  (A median %.2fs, B median %.2fs)", name, testkit.Spread(wall), testkit.Spread(cpu),
			testkit.Median(secondsOf(pairs, 0)), testkit.Median(secondsOf(pairs, 1)))
	}
}

func resetSide(b *testing.B, rounds int, report func(string, [][2]measure), self string) {
	dir := b.TempDir()
	repo := filepath.Join(dir, "big")
	testkit.Git(b, dir, "init", "-q", repo)
	for i := 0; i < 20000; i++ {
		p := filepath.Join(repo, fmt.Sprintf("pkg%03d", i/100), fmt.Sprintf("file%05d.go", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(fmt.Sprintf("package p\n\n// file %d\nvar X%d = %d\n", i, i, i*7)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	testkit.Git(b, repo, "add", "-A")
	testkit.Git(b, repo, "commit", "-q", "-m", "generated")
	proc := filepath.Join(dir, "reset.yaml")
	if err := os.WriteFile(proc, []byte("version: 1\nname: reset\nsteps:\n  - id: reset\n    git: reset\n    with:\n      to: HEAD\n      mode: hard\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	round := 0
	dirty := func() {
		round++
		for i := 0; i < 20000; i += 20 {
			p := filepath.Join(repo, fmt.Sprintf("pkg%03d", i/100), fmt.Sprintf("file%05d.go", i))
			if err := os.WriteFile(p, []byte(fmt.Sprintf("// changed in round %d\n", round)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	var pairs [][2]measure
	for r := 0; r < rounds; r++ {
		dirty()
		cmd := exec.Command(self, "run", proc, "--repo", repo, "-q")
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		a := run(b, cmd)
		dirty()
		pairs = append(pairs, [2]measure{a, run(b, exec.Command("git", "-C", repo, "reset", "-q", "--hard", "HEAD"))})
	}
	report("git: reset, 20,000 files, 1,000 changed vs git reset --hard", pairs)
}
