package fleet_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/procedures"
)

// callInput writes the procedure files (name -> text) in a folder of
// their own, the first being the one run, and resolves its callees as
// rbflow-fleet run does.
func (f *fixture) callInput(files map[string]string, main string, params map[string]any) fleet.ProcedureInput {
	f.t.Helper()
	dir := f.t.TempDir()
	for name, text := range files {
		testkit.WriteFile(f.t, filepath.Join(dir, name), text)
	}
	path := filepath.Join(dir, main)
	called, err := fleet.Resolve(path, files[main], f.reg, procedures.Resolver("", nil))
	if err != nil {
		f.t.Fatal(err)
	}
	in := f.input(files[main], params)
	in.SourcePath, in.Called = path, called
	return in
}

// childRun reads the child run a call step started from the host's store.
func (f *fixture) childRun(parent, step string) (*engine.Run, map[string]*engine.StepRecord) {
	f.t.Helper()
	run, recs := f.stored(fleet.CallRunID(parent, step))
	if run.ParentRun != parent || run.ParentStep != step {
		f.t.Errorf("child run %s: parent %s step %s, want %s step %s", run.ID, run.ParentRun, run.ParentStep, parent, step)
	}
	return run, recs
}

const greetChild = `version: 1
name: greet
params:
  who: {type: string}
  times: {type: int, default: 1}
steps:
  - id: hello
    run: echo "msg=hello ${{ params.who }} x${{ params.times }}" >> "$RBFLOW_OUTPUT"
`

// TestFleetCallStep: a call step runs its procedure (found next to the
// caller by the starter) as a child workflow on the same host and
// repository, under an id derived from the caller's and not the
// repository's lock id; its params come from with.params, typed by the
// callee's declarations; the caller reads the callee's outputs as a
// local call step gives them; the host's store records the child run
// with its parent run and step, and the call step in the parent run.
func TestFleetCallStep(t *testing.T) {
	f := newFixture(t)
	var childIDs []string
	f.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		childIDs = append(childIDs, info.WorkflowExecution.ID)
	})
	in := f.callInput(map[string]string{"main.yaml": `version: 1
name: caller
steps:
  - id: a
    run: echo "name=it's me" >> "$RBFLOW_OUTPUT"
  - id: c
    call: ./greet.yaml
    with:
      params:
        who: ${{ steps.a.outputs.name }}
        times: "3"
  - id: after
    if: steps.c.outputs.hello.msg == "hello it's me x3" && steps.c.outputs.status == "succeeded"
    run: echo "${{ steps.c.outputs.run_id }}" > after.txt
`, "greet.yaml": greetChild}, "main.yaml", nil)
	out := f.run(in)
	if out.Status != engine.RunSucceeded {
		for _, s := range out.Steps {
			t.Logf("%s: %s %s", s.StepID, s.Status, s.Error)
		}
		t.Fatalf("status %s (%s), want succeeded", out.Status, out.Error)
	}
	statuses(t, out, map[string]engine.StepStatus{"a": engine.StepSucceeded, "c": engine.StepSucceeded, "after": engine.StepSucceeded})
	childID := fleet.CallRunID(in.RunID, "c")
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "after.txt")); got != childID+"\n" {
		t.Errorf("after.txt = %q, want the child run's id %s", got, childID)
	}
	if len(childIDs) != 1 || !strings.HasSuffix(childIDs[0], "/call/c") || childIDs[0] == fleet.LockID(in.Target) {
		t.Errorf("child workflow ids %q, want one derived from the caller's, not the lock id", childIDs)
	}

	run, recs := f.childRun(in.RunID, "c")
	if run.Status != engine.RunSucceeded || run.Procedure != "greet" || !strings.HasSuffix(run.SourcePath, "greet.yaml") {
		t.Errorf("child run: %s %s from %s, want greet succeeded", run.Procedure, run.Status, run.SourcePath)
	}
	if h := recs["hello"]; h == nil || h.Status != engine.StepSucceeded || h.Outputs["msg"] != "hello it's me x3" {
		t.Errorf("child's step hello in the host's store: %+v", h)
	}
	prun, precs := f.stored(in.RunID)
	if prun.Status != engine.RunSucceeded {
		t.Errorf("parent run in the host's store: %s", prun.Status)
	}
	if c := precs["c"]; c == nil || c.Status != engine.StepSucceeded || c.Outputs["run_id"] != childID {
		t.Errorf("call step c in the host's store: %+v, want succeeded with run_id %s", c, childID)
	}
}

// TestFleetCallFails: a callee that fails fails the call step with the
// local call step's message (the callee, its failed step, the child run),
// the caller's on_failure and finally run, and the child run is failed in
// the host's store.
func TestFleetCallFails(t *testing.T) {
	f := newFixture(t)
	in := f.callInput(map[string]string{"main.yaml": `version: 1
name: caller
steps:
  - id: c
    call: ./child.yaml
  - id: never
    run: echo no > never.txt
finally:
  - id: fin
    run: echo "failed=${{ failure() }} at ${{ run.failed_step }}" > fin.txt
`, "child.yaml": `version: 1
name: child
steps:
  - id: boom
    run: echo "it broke" >&2; exit 3
finally:
  - id: child_fin
    run: echo child > child_fin.txt
`}, "main.yaml", nil)
	out := f.run(in)
	if out.Status != engine.RunFailed || out.FailedStep != "c" {
		t.Fatalf("status %s at %q, want failed at c", out.Status, out.FailedStep)
	}
	statuses(t, out, map[string]engine.StepStatus{"c": engine.StepFailed, "never": engine.StepSkipped, "fin": engine.StepSucceeded})
	childID := fleet.CallRunID(in.RunID, "c")
	if e := step(out, "c").Error; !strings.Contains(e, "called procedure child failed at step boom (child run "+childID+")") || !strings.Contains(e, "exit status 3") {
		t.Errorf("call step's error %q", e)
	}
	if s := step(out, "c").Outputs["status"]; s != "failed" {
		t.Errorf("call step's status output %v, want failed", s)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "fin.txt")); got != "failed=true at c\n" {
		t.Errorf("fin.txt = %q", got)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "child_fin.txt")); got != "child\n" {
		t.Errorf("the callee's finally: child_fin.txt = %q", got)
	}
	run, recs := f.childRun(in.RunID, "c")
	if run.Status != engine.RunFailed || run.FailedStep != "boom" || recs["boom"] == nil || recs["boom"].Status != engine.StepFailed {
		t.Errorf("child run in the host's store: %s at %s", run.Status, run.FailedStep)
	}
}

// TestFleetCallCancel: cancelling the caller while its callee runs
// cancels the child workflow (its running step's processes stop, its
// finally runs) and the caller's finally runs; both runs end cancelled in
// the host's store.
func TestFleetCallCancel(t *testing.T) {
	f := newFixture(t)
	f.cancelWhenStarted("long", "the callee's step to start")
	begin := time.Now()
	in := f.callInput(map[string]string{"main.yaml": `version: 1
name: caller
steps:
  - id: c
    call: ./child.yaml
  - id: next
    run: echo no > next.txt
finally:
  - id: cleanup
    run: echo "cancelled=${{ cancelled() }}" > cleanup.txt
`, "child.yaml": `version: 1
name: child
steps:
  - id: long
    run: touch started; sleep 60
finally:
  - id: child_fin
    run: echo "cancelled=${{ cancelled() }}" > child_fin.txt
`}, "main.yaml", nil)
	out := f.run(in)
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("cancel took %s: sleep 60 was not stopped", d)
	}
	if out.Status != engine.RunCancelled {
		t.Fatalf("status %s, want cancelled", out.Status)
	}
	statuses(t, out, map[string]engine.StepStatus{"c": engine.StepCancelled, "next": engine.StepCancelled, "cleanup": engine.StepSucceeded})
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "cleanup.txt")); got != "cancelled=true\n" {
		t.Errorf("cleanup.txt = %q", got)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "child_fin.txt")); got != "cancelled=true\n" {
		t.Errorf("child_fin.txt = %q", got)
	}
	if run, _ := f.childRun(in.RunID, "c"); run.Status != engine.RunCancelled {
		t.Errorf("child run in the host's store: %s, want cancelled", run.Status)
	}
	if run, _ := f.stored(in.RunID); run.Status != engine.RunCancelled {
		t.Errorf("parent run in the host's store: %s, want cancelled", run.Status)
	}
}

// TestFleetCallRefused: what a call step on the fleet cannot do is a
// positioned error before anything starts: a target built with ${{ }}
// (the starter resolves every callee first), and a callee that was not
// resolved by the starter.
func TestFleetCallRefused(t *testing.T) {
	f := newFixture(t)
	src := `version: 1
name: caller
params:
  which: {type: string, default: ./greet.yaml}
steps:
  - id: c
    call: ${{ params.which }}
`
	_, err := fleet.Compile("/x/main.yaml", src, nil, f.reg)
	if err == nil || !strings.Contains(err.Error(), "/x/main.yaml:7:5") || !strings.Contains(err.Error(), "a call target built with ${{ }} does not run on Temporal") {
		t.Errorf("template target: %v", err)
	}
	_, err = fleet.Compile("/x/main.yaml", "version: 1\nname: caller\nsteps:\n  - id: c\n    call: ./greet.yaml\n", nil, f.reg)
	if err == nil || !strings.Contains(err.Error(), "was not resolved when the run started") {
		t.Errorf("callee not resolved: %v", err)
	}
}

// TestFleetDeadline: when the procedure's deadline passes during a long
// step, the step is stopped on the host, the main steps after it do not
// start, on_failure and finally run, and the run ends failed with the
// deadline as its reason, worded as in a local run.
func TestFleetDeadline(t *testing.T) {
	f := newFixture(t)
	begin := time.Now()
	in := f.input(`version: 1
name: bounded
deadline: 2s
steps:
  - id: slow
    run: echo $$ > slow.pid; exec sleep 30
  - id: after
    run: echo after > after.txt
on_failure:
  - id: tell
    run: echo on_failure >> marks.txt
finally:
  - id: fin
    if: failure()
    run: echo finally >> marks.txt
`, nil)
	in.Grace = 5 * time.Second
	out := f.run(in)
	if d := time.Since(begin); d > 25*time.Second {
		t.Errorf("the run took %s with a 2s deadline: sleep 30 was not stopped", d)
	}
	if out.Status != engine.RunFailed || out.FailedStep != "slow" {
		t.Fatalf("status %s at %q, want failed at slow", out.Status, out.FailedStep)
	}
	want := "deadline 2s passed 2s after the run started; stopped step slow; not started: after"
	if out.Error != want {
		t.Errorf("run error %q, want %q", out.Error, want)
	}
	statuses(t, out, map[string]engine.StepStatus{"slow": engine.StepFailed, "tell": engine.StepSucceeded, "fin": engine.StepSucceeded})
	if e := step(out, "slow").Error; e != "stopped: deadline 2s passed 2s after the run started" {
		t.Errorf("slow's error %q", e)
	}
	if s := step(out, "after"); s != nil {
		t.Errorf("step after has a record (%s): it ran after the deadline", s.Status)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "marks.txt")); got != "on_failure\nfinally\n" {
		t.Errorf("marks.txt = %q, want on_failure and finally", got)
	}
	run, recs := f.stored(out.RunID)
	if run.Status != engine.RunFailed || run.FailedStep != "slow" {
		t.Errorf("host store: run %s at %s, want failed at slow", run.Status, run.FailedStep)
	}
	if s := recs["slow"]; s == nil || s.Status != engine.StepFailed || !strings.Contains(s.Error, "deadline 2s passed") {
		t.Errorf("host store: step slow %+v, want failed by the deadline", s)
	}
	if _, ok := recs["after"]; ok {
		t.Errorf("host store: step after has a record")
	}
}

// hookReceiver keeps the webhook posts it is sent.
type hookReceiver struct {
	mu     sync.Mutex
	titles []string
	texts  []string
	paths  []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var slack struct {
		Text   string
		Blocks []struct{ Text struct{ Text string } }
	}
	_ = json.Unmarshal(b, &slack)
	h.mu.Lock()
	defer h.mu.Unlock()
	title := ""
	if len(slack.Blocks) > 0 {
		title = slack.Blocks[0].Text.Text
	}
	h.titles, h.texts, h.paths = append(h.titles, title), append(h.texts, slack.Text), append(h.paths, r.URL.Path)
}

// TestFleetNotifications: the notification hooks are posted by the host's
// worker (NotifyActivity on its queue: the webhook URL, a secret param,
// is rendered there), at the events a local run posts them (start; the
// failure, before on_failure runs; finish), each recorded in the host's
// store; the secret URL never leaves the codec in clear.
func TestFleetNotifications(t *testing.T) {
	f := newFixture(t)
	hooks := &hookReceiver{}
	srv := httptest.NewServer(hooks)
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	var queues []string
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == fleet.NotifyActivity {
			mu.Lock()
			queues = append(queues, info.TaskQueue)
			mu.Unlock()
		}
	})
	url := srv.URL + "/s3cr3t-hook"
	out := f.run(f.input(`version: 1
name: told
params:
  chat: {type: string, secret: true}
notifications:
  - url: ${{ params.chat }}
    format: slack
    on: [start, failure, finish]
steps:
  - id: check
    run: echo "bad state" >&2; exit 3
on_failure:
  - id: tell
    run: echo told > told.txt
`, map[string]any{"chat": url}))
	if out.Status != engine.RunFailed {
		t.Fatalf("status %s, want failed", out.Status)
	}
	hooks.mu.Lock()
	titles, texts, paths := hooks.titles, hooks.texts, hooks.paths
	hooks.mu.Unlock()
	if got, want := strings.Join(titles, " | "), "rbflow: told started | rbflow: told failed at step check | rbflow: told failed at step check"; got != want {
		t.Fatalf("the hook got %q, want %q", got, want)
	}
	for _, p := range paths {
		if p != "/s3cr3t-hook" {
			t.Errorf("posted to %s", p)
		}
	}
	for _, w := range []string{"**Procedure**: told", "**Run**: " + out.RunID, "**Status**: failed", "**Failed step**: check: exit status 3"} {
		if !strings.Contains(texts[1], w) {
			t.Errorf("the failure's text lacks %q:\n%s", w, texts[1])
		}
	}
	mu.Lock()
	for _, q := range queues {
		if q != fleet.HostQueue("web1") {
			t.Errorf("a notification ran on queue %s, want the host's", q)
		}
	}
	mu.Unlock()
	if len(queues) != 3 {
		t.Errorf("%d notification activities, want 3 (start, failure, finish)", len(queues))
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
	sent, err := st.Notifications(context.Background(), out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, s := range sent {
		if s.Error != "" || s.Status != http.StatusOK {
			t.Errorf("recorded %s: status %d, error %q", s.Event, s.Status, s.Error)
		}
		events = append(events, s.Event)
	}
	if got := strings.Join(events, " "); got != "start failure finish" {
		t.Errorf("the host's store recorded %q, want start failure finish", got)
	}
	if f.sealed.contains("s3cr3t-hook") {
		t.Error("the secret webhook URL left the codec in clear")
	}
}

// TestFleetCompilesTriage: the built-in triage, whose levels call the
// built-in emergency, sprint and selective procedures, runs on the fleet:
// the starter resolves the three, and the workflow's compile takes it.
func TestFleetCompilesTriage(t *testing.T) {
	f := newFixture(t)
	src, err := procedures.Resolve("triage", "")
	if err != nil {
		t.Fatal(err)
	}
	called, err := fleet.Resolve(src.Path, string(src.Text), f.reg, procedures.Resolver("", nil))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range called {
		paths = append(paths, c.Path)
	}
	for _, want := range []string{"builtin:emergency", "builtin:sprint", "builtin:selective"} {
		if !slices.Contains(paths, want) {
			t.Errorf("resolved %q, want %s among them", paths, want)
		}
	}
	if _, err := fleet.Compile(src.Path, string(src.Text), called, f.reg); err != nil {
		t.Fatalf("triage on the fleet: %v", err)
	}
}

// TestFleetDeadlineDuringCall: the caller's deadline passing while its
// callee runs cancels the child workflow (its finally runs) and fails the
// call step as stopped by the deadline.
func TestFleetDeadlineDuringCall(t *testing.T) {
	f := newFixture(t)
	in := f.callInput(map[string]string{"main.yaml": `version: 1
name: caller
deadline: 2s
steps:
  - id: c
    call: ./child.yaml
`, "child.yaml": `version: 1
name: child
steps:
  - id: long
    run: exec sleep 30
finally:
  - id: child_fin
    run: echo "cancelled=${{ cancelled() }}" > child_fin.txt
`}, "main.yaml", nil)
	in.Grace = 5 * time.Second
	out := f.run(in)
	if out.Status != engine.RunFailed || out.FailedStep != "c" || out.Error != "deadline 2s passed 2s after the run started; stopped step c" {
		t.Fatalf("status %s at %q (%s), want failed at c by the deadline", out.Status, out.FailedStep, out.Error)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "child_fin.txt")); got != "cancelled=true\n" {
		t.Errorf("child_fin.txt = %q", got)
	}
	if run, _ := f.childRun(in.RunID, "c"); run.Status != engine.RunCancelled {
		t.Errorf("child run in the host's store: %s, want cancelled", run.Status)
	}
}
