package steps_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/steps"
)

// The package's TestMain (main_test.go) makes the test binary the reaper
// when rbflow re-executes it.

const benchSteps = 20

// benchEngine runs a procedure of benchSteps `run: "true"` steps through
// the engine with reg's kinds, b.N times, and reports the time per step.
func benchEngine(b *testing.B, reg *engine.Registry) {
	var y strings.Builder
	y.WriteString("version: 1\nname: bench\nsteps:\n")
	for i := 0; i < benchSteps; i++ {
		fmt.Fprintf(&y, "  - id: s%d\n    run: \"true\"\n", i)
	}
	plan, err := engine.Load("bench.yaml", []byte(y.String()), reg)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	st, err := store.Open(filepath.Join(dir, "state"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := &engine.Runner{Store: st, StateDir: st.Dir(), WorkDir: dir, Parallel: 1, Grace: time.Second}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Start(context.Background(), plan, map[string]any{}, "bench.yaml"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*benchSteps), "µs/step")
}

// BenchmarkEngineSteps runs a procedure of 20 `run: "true"` steps through
// the whole engine: plan, SQLite transitions, logs, the reaper and bash.
// Compare with BenchmarkBashLoop, which spawns the same bash processes.
func BenchmarkEngineSteps(b *testing.B) {
	reg := engine.NewRegistry()
	steps.Register(reg)
	benchEngine(b, reg)
}

// BenchmarkBashLoop spawns the same processes rbflow does for 20 steps
// (bash running a script file), from a bash loop: the floor the engine's
// overhead is measured against.
func BenchmarkBashLoop(b *testing.B) {
	dir := b.TempDir()
	script := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(script, []byte("true\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	loop := fmt.Sprintf("for i in $(seq %d); do bash --noprofile --norc -eo pipefail %s; done", benchSteps, script)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command("bash", "-c", loop).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*benchSteps), "µs/step")
}

// noopKind does nothing: BenchmarkEngineNoopSteps measures the engine and
// its SQLite transitions alone, without processes.
type noopKind struct{}

func (noopKind) Signature() engine.Signature                 { return engine.Signature{Arg: "anything"} }
func (noopKind) Compile(c *engine.KindContext) engine.Action { return noopKind{} }

func (noopKind) Describe(context.Context, *engine.Exec) (string, error) { return "nothing", nil }
func (noopKind) DefaultOnResume() string                                { return "rerun" }

func (noopKind) Execute(context.Context, *engine.Exec) (engine.Result, error) {
	return engine.Result{}, nil
}

// BenchmarkEngineNoopSteps: the engine and its SQLite transitions alone.
func BenchmarkEngineNoopSteps(b *testing.B) {
	reg := engine.NewRegistry()
	reg.Register("run", noopKind{})
	benchEngine(b, reg)
}
