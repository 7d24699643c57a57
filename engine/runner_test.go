package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
)

// recordingKind is a step kind that records its executions and does what its
// argument says: "ok", "fail", "sleep:DURATION", "flaky:N" (fails N times),
// "out:KEY=VALUE".
type recordingKind struct {
	mu      sync.Mutex
	ran     []string
	running atomic.Int32
	peak    atomic.Int32
	flaky   map[string]int
}

type fakeStep struct {
	k   *recordingKind
	arg string
}

func (k *recordingKind) Compile(c *engine.KindContext) engine.Action {
	c.With()
	return &fakeStep{k: k, arg: c.Step.Arg.Str}
}

func (a *fakeStep) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	k := a.k
	n := k.running.Add(1)
	defer k.running.Add(-1)
	for {
		p := k.peak.Load()
		if n <= p || k.peak.CompareAndSwap(p, n) {
			break
		}
	}
	k.mu.Lock()
	k.ran = append(k.ran, x.StepID)
	k.mu.Unlock()
	verb, rest, _ := strings.Cut(a.arg, ":")
	switch verb {
	case "ok":
		return engine.Result{}, nil
	case "fail":
		return engine.Result{ExitCode: 2}, errors.New("told to fail")
	case "sleep":
		d, _ := time.ParseDuration(rest)
		select {
		case <-time.After(d):
			return engine.Result{}, nil
		case <-ctx.Done():
			return engine.Result{ExitCode: -1}, context.Cause(ctx)
		}
	case "flaky":
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.flaky == nil {
			k.flaky = map[string]int{}
		}
		var limit int
		fmt.Sscan(rest, &limit)
		if k.flaky[x.StepID] < limit {
			k.flaky[x.StepID]++
			return engine.Result{ExitCode: 1}, fmt.Errorf("flaky failure %d", k.flaky[x.StepID])
		}
		return engine.Result{}, nil
	case "out":
		key, val, _ := strings.Cut(rest, "=")
		return engine.Result{Outputs: map[string]any{key: val}}, nil
	}
	return engine.Result{}, fmt.Errorf("unknown fake verb %q", verb)
}

func (k *recordingKind) order() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.ran)
}

type runResult struct {
	run  *engine.Run
	recs map[string]*engine.StepRecord
	err  error
	kind *recordingKind
}

func runProc(t *testing.T, text string, parallel int, params map[string]any) runResult {
	t.Helper()
	k := &recordingKind{}
	reg := engine.NewRegistry()
	reg.Register("run", k)
	plan, err := engine.Load("p.yaml", []byte(text), reg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	resolved, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Given: params})
	if err != nil {
		t.Fatalf("ResolveParams: %v", err)
	}
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &engine.Runner{Store: st, StateDir: dir, WorkDir: dir, Parallel: parallel, Grace: time.Second}
	run, err := r.Start(context.Background(), plan, resolved, "p.yaml")
	recs := map[string]*engine.StepRecord{}
	list, lerr := st.Steps(context.Background(), run.ID)
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, s := range list {
		recs[s.StepID] = s
	}
	stored, _ := st.Run(context.Background(), run.ID)
	return runResult{run: stored, recs: recs, err: err, kind: k}
}

func statusOf(r runResult, id string) string {
	rec, ok := r.recs[id]
	if !ok {
		return "not run"
	}
	return string(rec.Status)
}

func TestSequenceAndFailure(t *testing.T) {
	res := runProc(t, `version: 1
name: seq
steps:
  - {id: a, run: ok}
  - {id: b, run: fail}
  - {id: c, run: ok}
  - {id: d, if: failure(), run: ok}
  - {id: e, if: always(), run: ok}
on_failure:
  - {id: f1, run: ok}
  - {id: f2, if: steps.b.outcome == "failed", run: ok}
finally:
  - {id: z, run: ok}
`, 4, nil)
	if !errors.Is(res.err, engine.ErrRunFailed) || res.run.Status != engine.RunFailed || res.run.FailedStep != "b" {
		t.Fatalf("run = %v, %s, failed step %q; want failed at b", res.err, res.run.Status, res.run.FailedStep)
	}
	want := map[string]string{"a": "succeeded", "b": "failed", "c": "skipped", "d": "succeeded", "e": "succeeded", "f1": "succeeded", "f2": "succeeded", "z": "succeeded"}
	for id, w := range want {
		if got := statusOf(res, id); got != w {
			t.Errorf("step %s = %s, want %s", id, got, w)
		}
	}
	if got := res.kind.order(); !slices.Equal(got, []string{"a", "b", "d", "e", "f1", "f2", "z"}) {
		t.Errorf("order = %v", got)
	}
}

func TestContinueOnErrorOutcomeAndConclusion(t *testing.T) {
	res := runProc(t, `version: 1
name: coe
steps:
  - {id: a, run: fail, continue_on_error: true}
  - {id: b, if: steps.a.outcome == "failed" && steps.a.conclusion == "succeeded", run: ok}
`, 4, nil)
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	a := res.recs["a"]
	if a.Outcome != engine.StepFailed || a.Conclusion != engine.StepSucceeded || a.ExitCode != 2 {
		t.Errorf("a = outcome %s conclusion %s exit %d; want failed, succeeded, 2", a.Outcome, a.Conclusion, a.ExitCode)
	}
	if statusOf(res, "b") != "succeeded" {
		t.Errorf("b = %s, want succeeded", statusOf(res, "b"))
	}
}

func TestDAGParallelism(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nname: dag\nsteps:\n  - {id: root, run: ok}\n")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "  - {id: w%d, needs: [root], run: \"sleep:50ms\"}\n", i)
	}
	b.WriteString("  - {id: join, needs: [w0, w1, w2, w3, w4, w5, w6, w7], run: ok}\n")
	for _, parallel := range []int{1, 3} {
		res := runProc(t, b.String(), parallel, nil)
		if res.err != nil {
			t.Fatalf("parallel %d: %v", parallel, res.err)
		}
		if peak := res.kind.peak.Load(); int(peak) != parallel {
			t.Errorf("--parallel %d: peak concurrency %d", parallel, peak)
		}
		order := res.kind.order()
		if order[0] != "root" || order[len(order)-1] != "join" {
			t.Errorf("order = %v, want root first and join last", order)
		}
	}
}

func TestNeedsEmptyStartsAtOnceAndBranchesAreIndependent(t *testing.T) {
	res := runProc(t, `version: 1
name: branches
steps:
  - {id: a, run: fail}
  - {id: a2, run: ok}
  - {id: b, needs: [], run: "sleep:20ms"}
  - {id: b2, needs: [b], run: ok}
`, 4, nil)
	if statusOf(res, "a2") != "skipped" || statusOf(res, "b2") != "succeeded" {
		t.Errorf("a2 = %s (want skipped), b2 = %s (want succeeded): an independent branch goes on", statusOf(res, "a2"), statusOf(res, "b2"))
	}
}

func TestRetry(t *testing.T) {
	res := runProc(t, `version: 1
name: retry
steps:
  - id: a
    retry: {attempts: 3, delay: 10ms, backoff: 2}
    run: "flaky:2"
  - id: b
    retry: {attempts: 5, delay: 1ms, if: "attempt < 2"}
    run: "flaky:4"
`, 4, nil)
	if a := res.recs["a"]; a.Status != engine.StepSucceeded || a.Attempts != 3 {
		t.Errorf("a = %s after %d attempts, want succeeded after 3", a.Status, a.Attempts)
	}
	if b := res.recs["b"]; b.Status != engine.StepFailed || b.Attempts != 2 {
		t.Errorf("b = %s after %d attempts, want failed after 2 (retry.if stops it)", b.Status, b.Attempts)
	}
}

func TestTimeout(t *testing.T) {
	res := runProc(t, `version: 1
name: timeout
steps:
  - {id: slow, timeout: 30ms, run: "sleep:5s"}
`, 4, nil)
	slow := res.recs["slow"]
	if slow.Status != engine.StepFailed || !strings.Contains(slow.Error, "timed out after 30ms") {
		t.Errorf("slow = %s %q, want failed, timed out after 30ms", slow.Status, slow.Error)
	}
}

func TestOutputsAndParamsInConditions(t *testing.T) {
	res := runProc(t, `version: 1
name: outputs
params:
  n: {type: int, default: 3}
  names: {type: list}
steps:
  - {id: a, run: "out:color=blue"}
  - {id: b, if: steps.a.outputs.color == "blue" && params.n == 3 && len(params.names) == 2, run: ok}
  - {id: c, if: steps.a.outputs.color == "red", run: ok}
`, 4, map[string]any{"names": []any{"x", "y"}})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if statusOf(res, "b") != "succeeded" || statusOf(res, "c") != "skipped" {
		t.Errorf("b = %s, c = %s; want succeeded, skipped", statusOf(res, "b"), statusOf(res, "c"))
	}
	if got := res.recs["a"].Outputs["color"]; got != "blue" {
		t.Errorf("stored outputs of a = %v", res.recs["a"].Outputs)
	}
}
