package fleet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/procedures"
	"github.com/rbflow/rbflow/steps"
)

// TestMain lets the steps start rbflow's processes: engine/proc
// re-executes this binary as each step's supervisor and reapers.
func TestMain(m *testing.M) {
	testkit.Main()
	os.Exit(m.Run())
}

// fixture is one host ("web1") serving one real git repository, and the
// SDK's in-process test environment running the workflow code and the
// host's activities, every payload through the codec.
type fixture struct {
	t      *testing.T
	reg    *engine.Registry
	repo   string
	host   *fleet.Host
	env    *testsuite.TestWorkflowEnvironment
	sealed *recorder // the payloads as they leave the codec
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := engine.NewRegistry()
	steps.Register(reg)
	repo := testkit.GitRepo(t, map[string]string{"README.md": "hello\n"})
	h, err := fleet.NewHost(context.Background(), "web1", reg, []string{repo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	h.Temporal = "temporal.example:7233"
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	codec, err := fleet.NewCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.SetDataConverter(converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), rec, codec))
	env.SetTestTimeout(30 * time.Second)
	(&fleet.Interpreter{Registry: reg}).Register(env)
	return &fixture{t: t, reg: reg, repo: repo, host: h, env: env, sealed: rec}
}

// cancelWhenStarted cancels the workflow once the step named step has
// started and its script has made the file "started" in the repository.
func (f *fixture) cancelWhenStarted(step, what string) {
	started := filepath.Join(f.repo, "started")
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var in fleet.StepInput
		if info.ActivityType.Name != fleet.StepActivity || args.Get(&in) != nil || in.Step != step {
			return
		}
		go func() {
			testkit.WaitFor(f.t, 20*time.Second, what, func() bool {
				_, err := os.Stat(started)
				return err == nil
			})
			f.env.CancelWorkflow()
		}()
	})
}

func (f *fixture) input(src string, params map[string]any) fleet.ProcedureInput {
	return fleet.ProcedureInput{
		RunID: "20261130-120000-abcdef-1", Target: fleet.Target{Host: "web1", Path: f.repo},
		Source: src, SourcePath: "proc.yaml", Params: params, Grace: time.Second,
	}
}

// run runs a procedure workflow to its end with the host's activities.
func (f *fixture) run(in fleet.ProcedureInput) *fleet.Outcome {
	f.t.Helper()
	f.host.Register(f.env)
	return f.execute(in)
}

func (f *fixture) execute(in fleet.ProcedureInput) *fleet.Outcome {
	f.t.Helper()
	f.env.ExecuteWorkflow(fleet.ProcedureWorkflow, in)
	if !f.env.IsWorkflowCompleted() {
		f.t.Fatal("workflow did not complete")
	}
	if err := f.env.GetWorkflowError(); err != nil {
		f.t.Fatalf("workflow error: %v", err)
	}
	var out fleet.Outcome
	if err := f.env.GetWorkflowResult(&out); err != nil {
		f.t.Fatal(err)
	}
	return &out
}

// stored opens the host's store: what rbflow status shows there.
func (f *fixture) stored(runID string) (*engine.Run, map[string]*engine.StepRecord) {
	f.t.Helper()
	dir, err := engine.StateDir(context.Background(), "", f.repo, f.repo)
	if err != nil {
		f.t.Fatal(err)
	}
	st, err := store.Open(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	defer st.Close()
	run, err := st.Run(context.Background(), runID)
	if err != nil {
		f.t.Fatal(err)
	}
	list, err := st.Steps(context.Background(), runID)
	if err != nil {
		f.t.Fatal(err)
	}
	recs := map[string]*engine.StepRecord{}
	for _, s := range list {
		recs[s.StepID] = s
	}
	return run, recs
}

func step(o *fleet.Outcome, id string) *engine.StepRecord {
	for _, s := range o.Steps {
		if s.StepID == id {
			return s
		}
	}
	return nil
}

func statuses(t *testing.T, o *fleet.Outcome, want map[string]engine.StepStatus) {
	t.Helper()
	for id, w := range want {
		s := step(o, id)
		if s == nil {
			t.Errorf("step %s: no record, want %s", id, w)
			continue
		}
		if s.Status != w {
			t.Errorf("step %s: status %s (%s), want %s", id, s.Status, s.Error, w)
		}
	}
}

// recorder is a codec that changes nothing and keeps what passes.
type recorder struct {
	mu   sync.Mutex
	seen [][]byte
}

func (r *recorder) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range p {
		b, _ := x.Marshal()
		r.seen = append(r.seen, b)
	}
	return p, nil
}

func (r *recorder) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }

func (r *recorder) contains(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.seen {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestFleetDAGOrder: steps run on the host in the order their needs give,
// a later step reads an earlier one's outputs in its if:, a false if:
// skips, and the host's store records the run as a local one.
func TestFleetDAGOrder(t *testing.T) {
	f := newFixture(t)
	out := f.run(f.input(`version: 1
name: dag
params:
  flag: {type: bool, default: false}
steps:
  - id: a
    run: echo a >> order.txt; echo n=1 >> "$RBFLOW_OUTPUT"
  - id: b
    needs: [a]
    if: steps.a.outputs.n == 1
    run: echo b >> order.txt
  - id: c
    needs: [a]
    run: echo c >> order.txt
  - id: d
    needs: [b, c]
    run: echo d >> order.txt
  - id: e
    needs: [d]
    if: params.flag
    run: echo e >> order.txt
`, nil))
	if out.Status != engine.RunSucceeded {
		t.Fatalf("status %s, want succeeded: %+v", out.Status, out)
	}
	statuses(t, out, map[string]engine.StepStatus{"a": engine.StepSucceeded, "b": engine.StepSucceeded, "c": engine.StepSucceeded, "d": engine.StepSucceeded, "e": engine.StepSkipped})
	lines := strings.Fields(testkit.ReadFile(t, filepath.Join(f.repo, "order.txt")))
	if len(lines) != 4 || lines[0] != "a" || lines[3] != "d" {
		t.Errorf("order.txt = %q, want a, then b and c, then d", lines)
	}
	run, recs := f.stored(out.RunID)
	if run.Status != engine.RunSucceeded {
		t.Errorf("host store: run %s, want succeeded", run.Status)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if recs[id] == nil || recs[id].Status != engine.StepSucceeded {
			t.Errorf("host store: step %s = %+v, want succeeded", id, recs[id])
		}
	}
	if recs["e"] == nil || recs["e"].Status != engine.StepSkipped {
		t.Errorf("host store: step e = %+v, want skipped", recs["e"])
	}
	if got := fmt.Sprint(recs["a"].Outputs["n"]); got != "1" {
		t.Errorf("host store: a's output n = %v, want 1", got)
	}
}

// TestFleetFailure: a failing step skips what needs it, a
// continue_on_error failure does not, on_failure and finally run, and the
// run ends failed at the failing step.
func TestFleetFailure(t *testing.T) {
	f := newFixture(t)
	out := f.run(f.input(`version: 1
name: failing
steps:
  - id: verify
    run: exit 5
    continue_on_error: true
  - id: reset
    run: echo resetting; exit 3
  - id: after
    run: echo never > after.txt
on_failure:
  - id: tell
    run: echo "failed at ${{ run.failed_step }}" > told.txt
finally:
  - id: summary
    if: always()
    run: echo "${{ steps.reset.status }}" > summary.txt
`, nil))
	if out.Status != engine.RunFailed || out.FailedStep != "reset" {
		t.Fatalf("status %s at %q, want failed at reset", out.Status, out.FailedStep)
	}
	statuses(t, out, map[string]engine.StepStatus{"verify": engine.StepFailed, "reset": engine.StepFailed, "after": engine.StepSkipped, "tell": engine.StepSucceeded, "summary": engine.StepSucceeded})
	if c := step(out, "verify").Conclusion; c != engine.StepSucceeded {
		t.Errorf("verify conclusion %s, want succeeded (continue_on_error)", c)
	}
	if _, err := os.Stat(filepath.Join(f.repo, "after.txt")); err == nil {
		t.Error("after ran after reset failed")
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "summary.txt")); got != "failed\n" {
		t.Errorf("summary.txt = %q, want failed", got)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "told.txt")); got != "failed at reset\n" {
		t.Errorf("told.txt = %q, want on_failure to see run.failed_step", got)
	}
	run, _ := f.stored(out.RunID)
	if run.Status != engine.RunFailed || run.FailedStep != "reset" {
		t.Errorf("host store: run %s at %q, want failed at reset", run.Status, run.FailedStep)
	}
}

// TestFleetRetry: retry becomes Temporal's RetryPolicy; each attempt is
// one activity, and the step succeeds on its third.
func TestFleetRetry(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	attempts := 0
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == fleet.StepActivity {
			mu.Lock()
			attempts++
			mu.Unlock()
		}
	})
	out := f.run(f.input(`version: 1
name: flaky
steps:
  - id: flaky
    run: |
      n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
      [ "$n" -ge 3 ]
    retry: {attempts: 4, delay: 100ms}
`, nil))
	if out.Status != engine.RunSucceeded {
		t.Fatalf("status %s, want succeeded: %+v", out.Status, step(out, "flaky"))
	}
	if got := strings.TrimSpace(testkit.ReadFile(t, filepath.Join(f.repo, "count"))); got != "3" {
		t.Errorf("the step ran %s times, want 3", got)
	}
	if attempts != 3 {
		t.Errorf("%d step activities, want 3 (one per attempt)", attempts)
	}
	if a := step(out, "flaky").Attempts; a != 3 {
		t.Errorf("record attempts %d, want 3", a)
	}
}

// TestFleetRetryExhausted: a step that fails every attempt it is allowed
// fails the run after exactly that many.
func TestFleetRetryExhausted(t *testing.T) {
	f := newFixture(t)
	out := f.run(f.input(`version: 1
name: broken
steps:
  - id: broken
    run: echo x >> count; exit 1
    retry: {attempts: 2, delay: 100ms}
`, nil))
	if out.Status != engine.RunFailed {
		t.Fatalf("status %s, want failed", out.Status)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "count")); got != "x\nx\n" {
		t.Errorf("count = %q, want two attempts", got)
	}
}

// TestFleetTimeout: a step's timeout stops it on the host, and its
// activity's start-to-close is the timeout plus the grace period.
func TestFleetTimeout(t *testing.T) {
	f := newFixture(t)
	var stc time.Duration
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == fleet.StepActivity {
			stc = info.Deadline.Sub(info.StartedTime)
		}
	})
	begin := time.Now()
	out := f.run(f.input(`version: 1
name: slow
steps:
  - id: slow
    run: sleep 30
    timeout: 1s
`, nil))
	if out.Status != engine.RunFailed {
		t.Fatalf("status %s, want failed", out.Status)
	}
	if e := step(out, "slow").Error; !strings.Contains(e, "timed out after 1s") {
		t.Errorf("error %q, want timed out after 1s", e)
	}
	if d := time.Since(begin); d > 20*time.Second {
		t.Errorf("the run took %s: the timeout did not stop sleep 30", d)
	}
	if stc < time.Second || stc > 3*time.Second {
		t.Errorf("start-to-close %s, want 1s + 1s grace", stc)
	}
}

// TestFleetPromptUpdate: a prompt with no answer waits in the workflow
// (status says so); an answer given by update runs it again and the run
// goes on with it. An answer for a step that is no prompt is refused.
func TestFleetPromptUpdate(t *testing.T) {
	f := newFixture(t)
	var waiting *fleet.Outcome
	var rejected, accepted error
	f.env.RegisterDelayedCallback(func() {
		v, err := f.env.QueryWorkflow(fleet.StatusQuery)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		waiting = &fleet.Outcome{}
		_ = v.Get(waiting)
		f.env.UpdateWorkflow(fleet.AnswerUpdate, "bad", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { rejected = err },
			OnAccept: func() {}, OnComplete: func(any, error) {},
		}, fleet.Answer{Step: "before", Value: "x"})
		f.env.UpdateWorkflow(fleet.AnswerUpdate, "good", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { accepted = err },
			OnAccept: func() {}, OnComplete: func(any, error) {},
		}, fleet.Answer{Step: "ask", Value: "yes"})
	}, time.Hour)
	out := f.run(f.input(`version: 1
name: ask
steps:
  - id: before
    run: "true"
  - id: ask
    prompt: Go on?
    with: {type: confirm}
  - id: after
    if: steps.ask.outputs.confirmed
    run: echo went on > after.txt
`, nil))
	if waiting == nil || waiting.Status != engine.RunWaiting || len(waiting.Waiting) != 1 || !strings.HasPrefix(waiting.Waiting[0], "ask: ") {
		t.Fatalf("status while waiting = %+v, want waiting on ask", waiting)
	}
	// The wait names the command that answers it through Temporal, not
	// a local rbflow resume or rbflow answer of the host's run.
	if w, want := waiting.Waiting[0], "answer with: rbflow resume 20261130-120000-abcdef --temporal temporal.example:7233 --answer ask=yes (or ask=no)"; !strings.HasSuffix(w, want) || strings.Contains(w, "rbflow answer") {
		t.Errorf("waiting on %q, want it to end with %q", w, want)
	}
	if rejected == nil || !strings.Contains(rejected.Error(), "only prompt steps take answers") {
		t.Errorf("answer for a run step: %v, want refused", rejected)
	}
	if accepted != nil {
		t.Errorf("answer for ask refused: %v", accepted)
	}
	if out.Status != engine.RunSucceeded {
		for _, s := range out.Steps {
			t.Logf("%s: %s %s", s.StepID, s.Status, s.Error)
		}
		t.Fatalf("status %s, want succeeded", out.Status)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "after.txt")); got != "went on\n" {
		t.Errorf("after.txt = %q", got)
	}
}

// TestFleetCancelRunsFinally: cancelling the workflow stops the running
// step's processes on the host, skips the rest, and finally still runs.
func TestFleetCancelRunsFinally(t *testing.T) {
	f := newFixture(t)
	f.cancelWhenStarted("long", "the step's process")
	begin := time.Now()
	out := f.run(f.input(`version: 1
name: cancel
steps:
  - id: long
    run: touch started; sleep 60
  - id: next
    run: echo no > next.txt
finally:
  - id: cleanup
    run: echo "cancelled=${{ cancelled() }}" > cleanup.txt
`, nil))
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("cancel took %s: sleep 60 was not stopped", d)
	}
	if out.Status != engine.RunCancelled {
		t.Fatalf("status %s, want cancelled", out.Status)
	}
	statuses(t, out, map[string]engine.StepStatus{"long": engine.StepCancelled, "next": engine.StepCancelled, "cleanup": engine.StepSucceeded})
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "cleanup.txt")); got != "cancelled=true\n" {
		t.Errorf("cleanup.txt = %q, want cancelled=true", got)
	}
	run, _ := f.stored(out.RunID)
	if run.Status != engine.RunCancelled {
		t.Errorf("host store: run %s, want cancelled", run.Status)
	}
}

// TestFleetLostWorker: the worker running a step dies (its heartbeat stops:
// the attempt times out); Temporal runs the step again, the steps that
// had finished are not run again.
func TestFleetLostWorker(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	calls := map[string]int{}
	f.env.RegisterActivityWithOptions(f.host.BeginRun, activity.RegisterOptions{Name: fleet.BeginRunActivity})
	f.env.RegisterActivityWithOptions(f.host.EndRun, activity.RegisterOptions{Name: fleet.EndRunActivity})
	f.env.RegisterActivityWithOptions(func(ctx context.Context, in fleet.StepInput) (*fleet.StepOutput, error) {
		mu.Lock()
		calls[in.Step]++
		first := in.Step == "b" && calls[in.Step] == 1
		mu.Unlock()
		if !first {
			return f.host.RunStep(ctx, in)
		}
		// The worker dies mid-step: its processes go with it (the
		// supervisor), nothing reports the end, the heartbeat times out.
		ctx, kill := context.WithCancel(ctx)
		go func() {
			testkit.WaitFor(t, 20*time.Second, "b's process", func() bool {
				_, err := os.Stat(filepath.Join(f.repo, "b-started"))
				return err == nil
			})
			kill()
		}()
		_, _ = f.host.RunStep(ctx, in)
		return nil, temporal.NewHeartbeatTimeoutError()
	}, activity.RegisterOptions{Name: fleet.StepActivity})
	out := f.execute(f.input(`version: 1
name: lost
steps:
  - id: a
    run: echo a >> a.txt
  - id: b
    run: |
      if [ -f b-started ]; then echo again > b.txt; else touch b-started; sleep 60; fi
  - id: c
    run: echo c >> c.txt
`, nil))
	if out.Status != engine.RunSucceeded {
		t.Fatalf("status %s, want succeeded: %+v", out.Status, step(out, "b"))
	}
	if calls["a"] != 1 || calls["b"] != 2 || calls["c"] != 1 {
		t.Errorf("activities per step %v, want a 1, b 2, c 1", calls)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "a.txt")); got != "a\n" {
		t.Errorf("a.txt = %q: a ran again", got)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "b.txt")); got != "again\n" {
		t.Errorf("b.txt = %q", got)
	}
	_, recs := f.stored(out.RunID)
	if recs["b"].Status != engine.StepSucceeded {
		t.Errorf("host store: b %s, want succeeded", recs["b"].Status)
	}
}

// TestFleetCodecHidesSecrets: a secret param, and an output that carries
// it, never leave the codec in clear; without the codec they would.
func TestFleetCodecHidesSecrets(t *testing.T) {
	const secret = "hunter2-s3cr3t-value"
	src := `version: 1
name: secret
params:
  token: {type: string, secret: true}
steps:
  - id: use
    run: echo "token=$RBFLOW_PARAM_TOKEN" >> "$RBFLOW_OUTPUT"; echo "using $RBFLOW_PARAM_TOKEN"
`
	f := newFixture(t)
	out := f.run(f.input(src, map[string]any{"token": secret}))
	if out.Status != engine.RunSucceeded {
		t.Fatalf("status %s: %+v", out.Status, step(out, "use"))
	}
	if len(f.sealed.seen) == 0 {
		t.Fatal("no payload went through the codec")
	}
	if f.sealed.contains(secret) {
		t.Error("the secret left the codec in clear")
	}
	if got := step(out, "use").Outputs["token"]; got != "***" {
		t.Errorf("the outcome's output token = %v, want ***", got)
	}
	// The same run with a codec that seals nothing: the recorder sees it.
	g := newFixture(t)
	plain := &recorder{}
	g.env.SetDataConverter(converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), plain))
	g.run(g.input(src, map[string]any{"token": secret}))
	if !plain.contains(secret) {
		t.Error("without the codec the secret is not in any payload: this test would not see a leak")
	}
}

// TestCodecKeys: keys from a file (raw, hex) or the environment; a wrong
// key cannot open a payload.
func TestCodecKeys(t *testing.T) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	dir := t.TempDir()
	rawFile := filepath.Join(dir, "raw.key")
	testkit.WriteFile(t, rawFile, string(raw))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	k, err := fleet.LoadKey(rawFile, env(nil))
	if err != nil || !bytes.Equal(k, raw) {
		t.Fatalf("LoadKey(raw file) = %x, %v", k, err)
	}
	k, err = fleet.LoadKey("", env(map[string]string{fleet.KeyEnv: strings.Repeat("ab", 32)}))
	if err != nil || len(k) != 32 || k[0] != 0xab {
		t.Fatalf("LoadKey(hex env) = %x, %v", k, err)
	}
	if _, err := fleet.LoadKey("", env(map[string]string{fleet.KeyEnv: "short"})); err == nil {
		t.Error("LoadKey(short key) succeeded")
	}
	if _, err := fleet.LoadKey("", env(nil)); err != fleet.ErrNoKey {
		t.Errorf("LoadKey(nothing) = %v, want ErrNoKey", err)
	}
	c1, _ := fleet.NewCodec(raw)
	c2, _ := fleet.NewCodec(k)
	p, err := c1.DataConverter().ToPayload("hello")
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := c1.DataConverter().FromPayload(p, &s); err != nil || s != "hello" {
		t.Errorf("round trip = %q, %v", s, err)
	}
	if err := c2.DataConverter().FromPayload(p, &s); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Errorf("another key opened the payload: %v", err)
	}
	// Error messages are sealed too.
	fail := c1.FailureConverter().ErrorToFailure(temporal.NewApplicationError("step a failed: hunter2", "StepFailed"))
	if b, _ := fail.Marshal(); bytes.Contains(b, []byte("hunter2")) {
		t.Error("an error message crossed the failure converter in clear")
	}
	if err := c1.FailureConverter().FailureToError(fail); err == nil || !strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the sealed error came back as %v", err)
	}
}

// TestFleetIncident: an incident runs the procedure on each target as a
// child workflow whose id is that repository's lock. (Two spellings of one
// repository: TestFleetIncidentOneRepositoryTwice.)
func TestFleetIncident(t *testing.T) {
	f := newFixture(t)
	other := testkit.GitRepo(t, map[string]string{"README.md": "other\n"})
	h, err := fleet.NewHost(context.Background(), "web2", f.reg, []string{f.repo, other})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.Register(f.env)
	var mu sync.Mutex
	var ids []string
	f.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		mu.Lock()
		ids = append(ids, info.WorkflowExecution.ID)
		mu.Unlock()
	})
	proc := f.input(`version: 1
name: everywhere
steps:
  - id: mark
    run: echo "$RBFLOW_RUN_ID" > mark.txt
`, nil)
	one := fleet.Target{Host: "web1", Path: f.repo}
	two := fleet.Target{Host: "web2", Path: other}
	f.env.ExecuteWorkflow(fleet.IncidentWorkflow, fleet.IncidentInput{RunID: "20261130-120000-abcdef", Targets: []fleet.Target{one, two}, Procedure: proc})
	if err := f.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out fleet.IncidentOutcome
	if err := f.env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Runs) != 2 {
		t.Fatalf("%d runs, want 2", len(out.Runs))
	}
	for i, dir := range []string{f.repo, other} {
		o := out.Runs[i]
		want := fleet.TargetRunID("20261130-120000-abcdef", i)
		if o.Status != engine.RunSucceeded || o.RunID != want {
			t.Errorf("target %d: run %s %s (%s), want %s succeeded", i, o.RunID, o.Status, o.Error, want)
		}
		if got := testkit.ReadFile(t, filepath.Join(dir, "mark.txt")); got != want+"\n" {
			t.Errorf("%s/mark.txt = %q, want the run id %s", dir, got, want)
		}
	}
	lock1, lock2 := fleet.LockID(realTarget(t, one)), fleet.LockID(realTarget(t, two))
	if len(ids) != 2 || ids[0] != lock1 || ids[1] != lock2 {
		t.Errorf("child workflow ids %q, want %q and %q", ids, lock1, lock2)
	}
}

// TestFleetRetryIf: retry.if is evaluated on the host over the failed
// attempt: a failure it does not name is not retried.
func TestFleetRetryIf(t *testing.T) {
	f := newFixture(t)
	out := f.run(f.input(`version: 1
name: retryif
steps:
  - id: once
    run: echo x >> count; exit 3
    retry: {attempts: 3, delay: 100ms, if: result.exit_code == 75}
`, nil))
	if out.Status != engine.RunFailed {
		t.Fatalf("status %s, want failed", out.Status)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "count")); got != "x\n" {
		t.Errorf("count = %q, want one attempt (exit 3 is not 75)", got)
	}
}

// TestFleetHostCondition: a condition that reads the machine is evaluated
// on the step's host, in its repository, not in the workflow.
func TestFleetHostCondition(t *testing.T) {
	f := newFixture(t)
	testkit.WriteFile(t, filepath.Join(f.repo, "present"), "x\n")
	out := f.run(f.input(`version: 1
name: hostif
steps:
  - id: here
    if: file_exists("present")
    run: echo here > here.txt
  - id: absent
    if: file_exists("absent")
    run: echo absent > absent.txt
`, nil))
	if out.Status != engine.RunSucceeded {
		t.Fatalf("status %s, want succeeded", out.Status)
	}
	statuses(t, out, map[string]engine.StepStatus{"here": engine.StepSucceeded, "absent": engine.StepSkipped})
	if _, err := os.Stat(filepath.Join(f.repo, "here.txt")); err != nil {
		t.Errorf("here did not run: %v", err)
	}
	_, recs := f.stored(out.RunID)
	if recs["absent"] == nil || recs["absent"].Status != engine.StepSkipped {
		t.Errorf("host store: absent = %+v, want skipped", recs["absent"])
	}
}

// TestFleetRunNotDrivenLocally: the host's store shows a fleet run, but a
// local resume, retry or cancel does not take it over from Temporal.
func TestFleetRunNotDrivenLocally(t *testing.T) {
	f := newFixture(t)
	out := f.run(f.input("version: 1\nname: failing\nsteps:\n  - id: a\n    run: exit 1\n", nil))
	if out.Status != engine.RunFailed {
		t.Fatalf("status %s, want failed", out.Status)
	}
	dir, err := engine.StateDir(context.Background(), "", f.repo, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := &engine.Runner{Store: st, Loader: &engine.Loader{Registry: f.reg}, StateDir: dir, Repo: f.repo}
	ctx := context.Background()
	for what, do := range map[string]func() error{
		"resume": func() error { _, err := r.Resume(ctx, out.RunID, engine.ResumeOptions{}); return err },
		"retry":  func() error { _, err := r.Retry(ctx, out.RunID, engine.ResumeOptions{}); return err },
	} {
		if err := do(); err == nil || !engine.IsUsage(err) || !strings.Contains(err.Error(), "driven by fleet mode (Temporal)") {
			t.Errorf("local %s of a fleet run: %v, want refused", what, err)
		}
	}
	// One still running (its workflow waits, say): cancel refuses it too.
	plan, err := fleet.Compile("p.yaml", "version: 1\nname: open\nsteps:\n  - id: a\n    run: \"true\"\n", nil, f.reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.BeginHostRun(ctx, plan, engine.HostRun{ID: "20261130-130000-aaaaaa-1", SourcePath: "p.yaml", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Cancel(ctx, "20261130-130000-aaaaaa-1"); err == nil || !strings.Contains(err.Error(), "driven by fleet mode (Temporal)") {
		t.Errorf("local cancel of a running fleet run: %v, want refused", err)
	}
	run, recs := f.stored(out.RunID)
	if run.Status != engine.RunFailed || recs["a"].Status != engine.StepFailed || !run.Scheduled() {
		t.Errorf("the fleet run changed: %s, a %s", run.Status, recs["a"].Status)
	}
}

// TestFleetHostLost: a step no worker of its host takes in time
// (schedule-to-start, --host-wait) fails, naming the cause, and the steps
// after it are skipped.
func TestFleetHostLost(t *testing.T) {
	f := newFixture(t)
	f.host.Register(f.env)
	f.env.OnActivity(fleet.StepActivity, mock.Anything, mock.Anything).Return(nil, temporal.NewTimeoutError(enums.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
	in := f.input("version: 1\nname: lost\nsteps:\n  - id: a\n    run: \"true\"\n  - id: b\n    run: \"true\"\n", nil)
	in.HostWait = time.Minute
	out := f.execute(in)
	if out.Status != engine.RunFailed || out.FailedStep != "a" {
		t.Fatalf("status %s at %q, want failed at a", out.Status, out.FailedStep)
	}
	if e := step(out, "a").Error; !strings.Contains(e, "no worker of host web1 took the step within 1m0s (--host-wait): is 'rbflow worker --host web1' running there?") {
		t.Errorf("a's error %q, want the host named as lost", e)
	}
	statuses(t, out, map[string]engine.StepStatus{"b": engine.StepSkipped})
}

// TestFleetHostLostAtStart: a run no worker of its host begins in time
// (the host's first activity) ends failed with the cause, as its
// workflow's outcome (status shows it), not as the SDK's error chain.
func TestFleetHostLostAtStart(t *testing.T) {
	f := newFixture(t)
	f.host.Register(f.env)
	f.env.OnActivity(fleet.BeginRunActivity, mock.Anything, mock.Anything).Return(temporal.NewTimeoutError(enums.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
	in := f.input("version: 1\nname: lost\nsteps:\n  - id: a\n    run: \"true\"\n", nil)
	in.HostWait = 3 * time.Second
	out := f.execute(in)
	if out.Status != engine.RunFailed || len(out.Steps) != 0 {
		t.Fatalf("status %s with steps %v, want failed before any step", out.Status, out.Steps)
	}
	if want := "no worker of host web1 took the run within 3s (--host-wait): is 'rbflow worker --host web1' running there?"; out.Error != want {
		t.Errorf("error %q, want %q", out.Error, want)
	}
}

// TestHeartbeatCadence: a running step heartbeats a third of its
// heartbeat timeout apart, at most MaxHeartbeatEvery apart (a cancel
// reaches it in the answer to one), and the worker's throttle lets every
// such heartbeat out at once for any timeout run --heartbeat accepts (3s
// up): the SDK's default held them back to 80% of the timeout.
func TestHeartbeatCadence(t *testing.T) {
	throttle := fleet.WorkerOptions().MaxHeartbeatThrottleInterval
	if throttle <= 0 {
		t.Fatalf("worker's MaxHeartbeatThrottleInterval %s: the SDK's default (80%% of the timeout) applies", throttle)
	}
	for _, timeout := range []time.Duration{3 * time.Second, 10 * time.Second, fleet.DefaultHeartbeat, time.Hour} {
		every := fleet.HeartbeatEvery(timeout)
		if every <= 0 || every > timeout/3 || every > fleet.MaxHeartbeatEvery {
			t.Errorf("timeout %s: a heartbeat every %s, want at most a third of it and at most %s", timeout, every, fleet.MaxHeartbeatEvery)
		}
		if sent := min(throttle, timeout*8/10); sent > every {
			t.Errorf("timeout %s: heartbeats sent every %s, held back to %s by the throttle", timeout, every, sent)
		}
	}
	if every := fleet.HeartbeatEvery(0); every != fleet.MaxHeartbeatEvery {
		t.Errorf("no timeout: a heartbeat every %s, want %s", every, fleet.MaxHeartbeatEvery)
	}
}

// TestFleetSavesStateAfter: a fleet run that took snapshots saves the
// state it left when it ends, as a local run does, under the run's after
// ref: rbflow undo on the host compares it with the tree (without it, undo
// refused: "no record of the state it left").
func TestFleetSavesStateAfter(t *testing.T) {
	f := newFixture(t)
	testkit.WriteFile(t, filepath.Join(f.repo, "README.md"), "edited\n")
	in := f.input(`version: 1
name: resets
steps:
  - id: reset
    git: reset
    with: {to: HEAD, mode: hard}
`, nil)
	out := f.run(in)
	if out.Status != engine.RunSucceeded {
		t.Fatalf("status %s: %+v", out.Status, step(out, "reset"))
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "README.md")); got != "hello\n" {
		t.Fatalf("README.md = %q after the reset", got)
	}
	// KeptGit fails the test when the ref is missing.
	testkit.KeptGit(t, f.repo, "rev-parse", "--verify", "--quiet", steps.AfterRef(in.RunID))
}

// TestFleetUndo runs an incident whose steps throw away uncommitted work on
// two hosts' repositories, then the undo incident rbflow undo --temporal
// starts: the built-in undo procedure on each target, each with its own
// run. Both trees come back byte for byte, and each host's store marks its
// run undone by the undo's run.
func TestFleetUndo(t *testing.T) {
	f := newFixture(t)
	other := testkit.GitRepo(t, map[string]string{"README.md": "other\n"})
	h, err := fleet.NewHost(context.Background(), "web2", f.reg, []string{f.repo, other})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.Register(f.env)
	dirs := []string{f.repo, other}
	for i, dir := range dirs {
		testkit.WriteFile(t, filepath.Join(dir, "README.md"), fmt.Sprintf("work in progress %d\n", i))
		testkit.WriteFile(t, filepath.Join(dir, "notes.txt"), "untracked, it's $(not) code\n")
		if err := os.Chmod(filepath.Join(dir, "notes.txt"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	before := []string{testkit.TreeManifest(t, dirs[0]), testkit.TreeManifest(t, dirs[1])}
	targets := []fleet.Target{{Host: "web1", Path: f.repo}, {Host: "web2", Path: other}}
	const incident = "20261130-120000-abcdef"
	f.env.ExecuteWorkflow(fleet.IncidentWorkflow, fleet.IncidentInput{RunID: incident, Targets: targets, Procedure: f.input(`version: 1
name: discard
steps:
  - id: reset
    git: reset
    with: {to: HEAD, mode: hard}
  - id: clean
    needs: [reset]
    git: clean
`, nil)})
	var out fleet.IncidentOutcome
	if err := errors.Join(f.env.GetWorkflowError(), f.env.GetWorkflowResult(&out)); err != nil {
		t.Fatal(err)
	}
	for i, dir := range dirs {
		if o := out.Runs[i]; o.Status != engine.RunSucceeded {
			t.Fatalf("target %d: %s %s", i, o.Status, o.Error)
		}
		if _, err := os.Stat(filepath.Join(dir, "notes.txt")); !os.IsNotExist(err) {
			t.Fatalf("%s: the incident left notes.txt (%v)", dir, err)
		}
	}

	// A new environment, as a new rbflow undo process would find. (The
	// test environment runs every activity of one name in one place: host
	// web2 serves both repositories, as in TestFleetIncident.)
	u := newFixture(t)
	h.Register(u.env)
	const undo = "20261130-121500-fedcba"
	u.env.ExecuteWorkflow(fleet.IncidentWorkflow, fleet.IncidentInput{
		RunID: undo, Targets: targets,
		TargetParams: []map[string]any{{"run": fleet.TargetRunID(incident, 0)}, {"run": fleet.TargetRunID(incident, 1)}},
		Procedure: fleet.ProcedureInput{Source: procedures.Undo, SourcePath: procedures.BuiltinPrefix + "undo",
			Params: map[string]any{"run": "", "force": false}, Grace: time.Second},
	})
	var undone fleet.IncidentOutcome
	if err := errors.Join(u.env.GetWorkflowError(), u.env.GetWorkflowResult(&undone)); err != nil {
		t.Fatal(err)
	}
	for i, dir := range dirs {
		if o := undone.Runs[i]; o.Status != engine.RunSucceeded {
			r := step(o, "restore")
			t.Fatalf("undo on target %d: %s %s: %s %s %s", i, o.Status, o.Error, r.Status, r.Error, r.Tail)
		}
		if got := testkit.TreeManifest(t, dir); got != before[i] {
			t.Errorf("%s after the undo differs from before the incident:\n%s", dir, testkit.LineDiff(before[i], got))
		}
		st, err := engine.StateDir(context.Background(), "", dir, dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(st)
		if err != nil {
			t.Fatal(err)
		}
		run, err := s.Run(context.Background(), fleet.TargetRunID(incident, i))
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := fleet.TargetRunID(undo, i); run.UndoneBy != want {
			t.Errorf("%s: run %s undone by %q, want %q", dir, run.ID, run.UndoneBy, want)
		}
	}
}

// TestFleetHoldsTheLockBetweenSteps: from the start of a fleet run on a
// host to its end, the repository's lock is held, so a local rbflow run
// cannot slip in between two of its steps (before, each step took it and
// let it go); it is let go at the end, and after Host.HoldIdle with no step
// running (a prompt waiting for hours, a workflow terminated without its
// end).
func TestFleetHoldsTheLockBetweenSteps(t *testing.T) {
	f := newFixture(t)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	f.host.Register(env)
	dir, err := engine.StateDir(context.Background(), "", f.repo, f.repo)
	if err != nil {
		t.Fatal(err)
	}
	src := "version: 1\nname: held\nsteps:\n  - id: a\n    run: \"true\"\n"
	local := func() error {
		l, err := engine.AcquireLock(dir, f.repo, "20261130-140000-local0")
		if err == nil {
			l.Release()
		}
		return err
	}
	for i, idle := range []time.Duration{time.Hour, 300 * time.Millisecond} {
		f.host.HoldIdle = idle
		runID := fmt.Sprintf("20261130-140000-aaaaa%d-1", i)
		if _, err := env.ExecuteActivity(fleet.BeginRunActivity, fleet.BeginInput{RunID: runID, Repo: f.repo, Source: src, SourcePath: "held.yaml", StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := local(); err == nil {
			t.Fatalf("a local run took the repository while fleet run %s was between steps", runID)
		}
		if idle < time.Minute {
			testkit.WaitFor(t, 10*time.Second, "the idle run's lock to be let go", func() bool { return local() == nil })
		}
		if _, err := env.ExecuteActivity(fleet.EndRunActivity, fleet.EndInput{RunID: runID, Repo: f.repo, Source: src, SourcePath: "held.yaml", Status: engine.RunSucceeded}); err != nil {
			t.Fatal(err)
		}
		if err := local(); err != nil {
			t.Errorf("after fleet run %s ended the repository stays locked: %v", runID, err)
		}
	}
}
