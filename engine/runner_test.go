package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
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

func (k *recordingKind) Signature() engine.Signature { return engine.Signature{Arg: "a word"} }

func (k *recordingKind) Compile(c *engine.KindContext) engine.Action {
	return &fakeStep{k: k, arg: c.Step.Arg.Str}
}

func (a *fakeStep) Describe(context.Context, *engine.Exec) (string, error) { return a.arg, nil }
func (a *fakeStep) DefaultOnResume() string                                { return "rerun" }

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
	case "final":
		return engine.Result{ExitCode: 2}, engine.NotRetried(errors.New("told to fail for good"))
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
	run   *engine.Run
	recs  map[string]*engine.StepRecord
	err   error
	kind  *recordingKind
	store *store.Store
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
	return runResult{run: stored, recs: recs, err: err, kind: k, store: st}
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

// TestRandomGraphsStartInFileOrder: on random graphs (each step needs a
// few earlier ones, none, or by default the one before), one step at a
// time starts the first step in the file whose needs have all ended, as a
// simulation of that rule does; side by side, each step starts after its
// needs; with a failing step, exactly the steps below it are skipped. The
// scheduler counts each step's needs down as they end rather than
// looking at every step each time one ends.
func TestRandomGraphsStartInFileOrder(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	for g := 0; g < 12; g++ {
		n := 10 + rnd.Intn(30)
		needs := make([][]int, n)
		var b strings.Builder
		b.WriteString("version: 1\nname: graph\nsteps:\n")
		fail := -1
		if g%3 == 2 {
			fail = rnd.Intn(n)
		}
		for i := 0; i < n; i++ {
			arg := "ok"
			if i == fail {
				arg = "fail"
			}
			switch r := rnd.Intn(4); {
			case i == 0 || r == 0: // by default: the step before
				if i > 0 {
					needs[i] = []int{i - 1}
				}
				fmt.Fprintf(&b, "  - {id: s%d, run: %s}\n", i, arg)
			default:
				var ids []string
				for j := 0; j < i; j++ {
					if rnd.Intn(i) < r-1 {
						needs[i] = append(needs[i], j)
						ids = append(ids, fmt.Sprintf("s%d", j))
					}
				}
				fmt.Fprintf(&b, "  - {id: s%d, needs: [%s], run: %s}\n", i, strings.Join(ids, ", "), arg)
			}
		}
		below := map[int]bool{} // steps that need the failing one, at any depth
		for i := 0; i < n; i++ {
			for _, j := range needs[i] {
				if j == fail || below[j] {
					below[i] = true
				}
			}
		}
		for _, parallel := range []int{1, 3} {
			res := runProc(t, b.String(), parallel, nil)
			order := res.kind.order()
			pos := map[string]int{}
			for k, id := range order {
				pos[id] = k
			}
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("s%d", i)
				_, ran := pos[id]
				if ran == below[i] {
					t.Errorf("graph %d, --parallel %d: %s ran = %v, want %v (status %s)\n%s", g, parallel, id, ran, !below[i], statusOf(res, id), b.String())
				}
				if below[i] && statusOf(res, id) != "skipped" {
					t.Errorf("graph %d: %s is %s, want skipped below the failed step", g, id, statusOf(res, id))
				}
				for _, j := range needs[i] {
					if k, ok := pos[fmt.Sprintf("s%d", j)]; ran && (!ok || k > pos[id]) {
						t.Errorf("graph %d, --parallel %d: %s ran before its need s%d", g, parallel, id, j)
					}
				}
			}
			if parallel != 1 || fail >= 0 {
				continue
			}
			var want []string
			done := make([]bool, n)
			for len(want) < n {
				for i := 0; i < n; i++ {
					if done[i] {
						continue
					}
					ok := true
					for _, j := range needs[i] {
						ok = ok && done[j]
					}
					if ok {
						done[i] = true
						want = append(want, fmt.Sprintf("s%d", i))
						break
					}
				}
			}
			if !slices.Equal(order, want) {
				t.Errorf("graph %d, one at a time: started %v, want %v\n%s", g, order, want, b.String())
			}
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

// TestNotRetried: a failure its kind marks NotRetried is not tried again
// by retry:, unless retry.if asks for it.
func TestNotRetried(t *testing.T) {
	res := runProc(t, `version: 1
name: final
steps:
  - id: a
    retry: {attempts: 3, delay: 1ms}
    continue_on_error: true
    run: "final"
  - id: b
    retry: {attempts: 3, delay: 1ms, if: "attempt < 3"}
    run: "final"
`, 4, nil)
	if a := res.recs["a"]; a.Outcome != engine.StepFailed || a.Attempts != 1 || a.Error != "told to fail for good" {
		t.Errorf("a = %s after %d attempts (%q), want failed after 1 with its own message", a.Outcome, a.Attempts, a.Error)
	}
	if b := res.recs["b"]; b.Status != engine.StepFailed || b.Attempts != 3 {
		t.Errorf("b = %s after %d attempts, want failed after 3 (retry.if decides)", b.Status, b.Attempts)
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

// TestOutputsCompareAsNumbers: a step's text output compared with a number
// compares numerically in a real run (SPEC §2.3), and a text that is not a
// number matches no comparison but !=.
func TestOutputsCompareAsNumbers(t *testing.T) {
	tests := []struct {
		cond string
		want string
	}{
		{`steps.a.outputs.n == 3`, "succeeded"},
		{`steps.a.outputs.n == 1`, "skipped"},
		{`steps.a.outputs.n > 0`, "succeeded"},
		{`steps.a.outputs.n >= params.n`, "succeeded"},
		{`steps.a.outputs.n < 3`, "skipped"},
		{`steps.a.outputs.n == "3"`, "succeeded"},
		{`steps.w.outputs.n > 0`, "skipped"},
		{`steps.w.outputs.n < 0`, "skipped"},
		{`steps.w.outputs.n != 0`, "succeeded"},
		{`steps.w.outputs.n == "many"`, "succeeded"},
	}
	var b strings.Builder
	b.WriteString("version: 1\nname: numbers\nparams:\n  n: {type: int, default: 3}\nsteps:\n  - {id: a, run: \"out:n=3\"}\n  - {id: w, run: \"out:n=many\"}\n")
	for i, tt := range tests {
		fmt.Fprintf(&b, "  - {id: c%d, needs: [a, w], if: '%s', run: ok}\n", i, tt.cond)
	}
	res := runProc(t, b.String(), 4, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	for i, tt := range tests {
		id := fmt.Sprintf("c%d", i)
		if got := statusOf(res, id); got != tt.want {
			t.Errorf("if: %s = %s (%s), want %s", tt.cond, got, res.recs[id].Error, tt.want)
		}
	}
}

// newRunner is a runner of the fake kind on a real store in a temp state
// folder; procedures are read from files.
func newRunner(t *testing.T) (*engine.Runner, *store.Store, *recordingKind) {
	t.Helper()
	k := &recordingKind{}
	reg := engine.NewRegistry()
	reg.Register("run", k)
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	resolve := func(ref, from string) (engine.Source, error) {
		text, err := os.ReadFile(ref)
		return engine.Source{Path: ref, Text: text}, err
	}
	r := &engine.Runner{Store: st, Loader: &engine.Loader{Registry: reg, Resolve: resolve}, StateDir: dir, WorkDir: dir, Grace: time.Second}
	return r, st, k
}

// startFile writes a procedure to a file and starts a run of it.
func startFile(t *testing.T, r *engine.Runner, path, text string) (*engine.Run, error) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := r.Loader.Load(engine.Source{Path: path, Text: []byte(text)})
	if err != nil {
		t.Fatal(err)
	}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Start(context.Background(), plan, params, path)
}

// Cancel ends what a dead owner left: the run and its running step are
// cancelled, outcome and conclusion included.
func TestCancel(t *testing.T) {
	r, st, _ := newRunner(t)
	ctx := context.Background()
	run := &engine.Run{ID: "r1", Procedure: "p", Status: engine.RunRunning, OwnerPID: 1 << 30, StartedAt: time.Now()}
	if err := st.CreateRun(ctx, run, nil); err != nil {
		t.Fatal(err)
	}
	left := &engine.StepRecord{RunID: "r1", StepID: "s", Status: engine.StepRunning, Outcome: engine.StepRunning, Conclusion: engine.StepRunning, StartedAt: time.Now()}
	if err := st.SaveStep(ctx, left); err != nil {
		t.Fatal(err)
	}
	got, err := r.Cancel(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := st.Run(ctx, "r1")
	if got.Status != engine.RunCancelled || stored.Status != engine.RunCancelled || stored.EndedAt.IsZero() {
		t.Errorf("run after cancel = %s (stored %s, ended %v), want cancelled with an end", got.Status, stored.Status, stored.EndedAt)
	}
	steps, _ := st.Steps(ctx, "r1")
	if s := steps[0]; s.Status != engine.StepCancelled || s.Outcome != engine.StepCancelled || s.Conclusion != engine.StepCancelled || s.EndedAt.IsZero() {
		t.Errorf("step after cancel = %s/%s/%s ended %v, want cancelled throughout", s.Status, s.Outcome, s.Conclusion, s.EndedAt)
	}
	if _, err := r.Cancel(ctx, "r1"); err == nil || !strings.Contains(err.Error(), "already cancelled") {
		t.Errorf("second cancel = %v, want already cancelled", err)
	}
	if _, err := r.Resume(ctx, "r1", engine.ResumeOptions{}); !engine.IsUsage(err) {
		t.Errorf("resume of a cancelled run = %v, want a usage error", err)
	}
}

// Run-end hooks run under the lock before the end is recorded, and a hook
// that fails is a warning of a run that still succeeded.
func TestRunEndHook(t *testing.T) {
	r, st, _ := newRunner(t)
	var seen []string
	r.Loader.Registry.OnRunEnd(func(ctx context.Context, s engine.Store, run *engine.Run) error {
		stored, err := s.Run(ctx, run.ID)
		if err != nil {
			return err
		}
		_, lockErr := engine.AcquireLock(r.StateDir, run.Repo, "probe")
		var held *engine.LockError
		seen = append(seen, fmt.Sprintf("stored %s, lock held %v", stored.Status, errors.As(lockErr, &held)))
		return errors.New("disk full")
	})
	var events []engine.Event
	var mu sync.Mutex
	r.Observer = observerFunc(func(e engine.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	run, err := startFile(t, r, filepath.Join(t.TempDir(), "p.yaml"), "version: 1\nname: p\nsteps:\n  - {id: a, run: ok}\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"stored running, lock held true"}; !slices.Equal(seen, want) {
		t.Errorf("hook saw %v, want %v", seen, want)
	}
	stored, _ := st.Run(context.Background(), run.ID)
	if stored.Status != engine.RunSucceeded {
		t.Errorf("run = %s, want succeeded despite the hook's error", stored.Status)
	}
	warned := false
	for _, e := range events {
		warned = warned || e.Kind == "run_warning" && e.Message == "disk full"
	}
	if !warned {
		t.Errorf("no run_warning event for the hook's error: %+v", events)
	}
}

type observerFunc func(engine.Event)

func (f observerFunc) Event(e engine.Event) { f(e) }

// Answers given for a run are stored as it starts, before any step runs,
// with who gave them; answers given on resume stand over them. The run
// keeps who started it, each step who ran it.
func TestAnswersStoredWithTheRun(t *testing.T) {
	r, st, _ := newRunner(t)
	alice, bob := engine.Actor{User: "alice", Host: "h1"}, engine.Actor{User: "bob (sudo as root)", Host: "h2"}
	r.Answers, r.Actor = map[string]string{"a": "first"}, alice
	r.Loader.Registry.Register("prompt", askKind{})
	run, err := startFile(t, r, filepath.Join(t.TempDir(), "p.yaml"), "version: 1\nname: p\nsteps:\n  - {id: a, prompt: x}\n  - {id: b, prompt: x}\n")
	if !errors.Is(err, engine.ErrWaiting) {
		t.Fatalf("run = %v, want it waiting at b", err)
	}
	ctx := context.Background()
	if got, _ := st.Answers(ctx, run.ID); len(got) != 1 || got[0].StepID != "a" || got[0].Value != "first" ||
		got[0].Source != engine.AnswerFlag || got[0].Actor != alice || got[0].At.IsZero() {
		t.Errorf("stored answers = %+v, want a=first given with --answer by %v", got, alice)
	}
	r.Answers, r.Actor = map[string]string{"b": "second"}, bob
	if _, err := r.Resume(ctx, run.ID, engine.ResumeOptions{}); err != nil {
		t.Fatal(err)
	}
	steps, _ := st.Steps(ctx, run.ID)
	for _, s := range steps {
		want := map[string]string{"a": "first", "b": "second"}[s.StepID]
		if s.Outputs["answer"] != want {
			t.Errorf("step %s answered %v, want %q", s.StepID, s.Outputs["answer"], want)
		}
		by := map[string]engine.Actor{"a": alice, "b": bob}[s.StepID]
		if s.Actor != by {
			t.Errorf("step %s ran by %+v, want %+v", s.StepID, s.Actor, by)
		}
	}
	if got, _ := st.Run(ctx, run.ID); got.Actor != alice {
		t.Errorf("run started by %+v, want %+v", got.Actor, alice)
	}
	r.Answers = map[string]string{"nosuch": "x"}
	if _, err := r.Retry(ctx, run.ID, engine.ResumeOptions{}); !engine.IsUsage(err) || !strings.Contains(err.Error(), `has no step "nosuch"`) {
		t.Errorf("retry with an answer for no step = %v, want a usage error", err)
	}
}

// askKind steps take answers: without one they wait for a person.
type askKind struct{}

type askAction struct{}

func (askKind) Signature() engine.Signature { return engine.Signature{Arg: "a question"} }

func (askKind) Compile(c *engine.KindContext) engine.Action {
	c.TakesAnswers(nil)
	return askAction{}
}

func (askAction) Describe(context.Context, *engine.Exec) (string, error) { return "ask", nil }
func (askAction) DefaultOnResume() string                                { return "rerun" }
func (askAction) Execute(_ context.Context, x *engine.Exec) (engine.Result, error) {
	if v, ok := x.Answer(); ok {
		return engine.Result{Outputs: map[string]any{"answer": v.Value}}, nil
	}
	return engine.Result{}, engine.NeedPerson("answer it with --answer " + x.StepID + "=VALUE")
}

// retry --reload takes the edited file, and keeps it: a later resume runs
// the edited text too.
func TestRetryReloadKeepsTheEditedText(t *testing.T) {
	r, st, _ := newRunner(t)
	r.Loader.Registry.Register("prompt", askKind{})
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.yaml")
	run, err := startFile(t, r, path, "version: 1\nname: p\nsteps:\n  - {id: a, run: ok}\n  - {id: b, run: fail}\n")
	if !errors.Is(err, engine.ErrRunFailed) {
		t.Fatalf("first run = %v, want failed", err)
	}
	// The edited b waits for an answer, where the old one fails.
	edited := "version: 1\nname: p\nsteps:\n  - {id: a, run: ok}\n  - {id: b, prompt: fixed}\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Retry(ctx, run.ID, engine.ResumeOptions{Reload: true}); !errors.Is(err, engine.ErrWaiting) {
		t.Fatalf("retry --reload = %v, want it waiting at the edited b", err)
	}
	stored, _ := st.Run(ctx, run.ID)
	if stored.Source != edited || stored.Generation != 2 {
		t.Errorf("after retry --reload the run keeps %q (generation %d), want the edited text", stored.Source, stored.Generation)
	}
	r.Answers = map[string]string{"b": "yes"}
	if _, err := r.Resume(ctx, run.ID, engine.ResumeOptions{}); err != nil {
		t.Fatalf("resume after retry --reload = %v: it ran the old text", err)
	}
}
