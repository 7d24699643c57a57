package fleet_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/engine/testkit"
)

// envWorkflows reaches the workflows of the SDK's test environment, as
// rbflow-fleet reaches a server's: top is the workflow the test runs.
// Answers are taken after the callback that gives them returns; a refused
// one is kept in refused.
type envWorkflows struct {
	env     *testsuite.TestWorkflowEnvironment
	top     string
	n       int
	refused []error
}

func (w *envWorkflows) Status(_ context.Context, workflowID, _ string) (*fleet.Outcome, error) {
	var v converter.EncodedValue
	var err error
	if workflowID == w.top {
		v, err = w.env.QueryWorkflow(fleet.StatusQuery)
	} else {
		v, err = w.env.QueryWorkflowByID(workflowID, fleet.StatusQuery)
	}
	if err != nil {
		return nil, err
	}
	var o fleet.Outcome
	return &o, v.Get(&o)
}

func (w *envWorkflows) Answer(_ context.Context, workflowID, _ string, a fleet.Answer) error {
	w.n++
	cb := &testsuite.TestUpdateCallback{
		OnReject: func(err error) { w.refused = append(w.refused, err) },
		OnAccept: func() {}, OnComplete: func(any, error) {},
	}
	id := fmt.Sprint("answer-", w.n)
	if workflowID == w.top {
		w.env.UpdateWorkflow(fleet.AnswerUpdate, id, cb, a)
		return nil
	}
	return w.env.UpdateWorkflowByID(workflowID, fleet.AnswerUpdate, id, cb, a)
}

// TestFleetAnswerInCalledProcedure: a prompt inside a called procedure
// waits in the call step's child workflow; the target's status shows it
// as c/ask (as a local run shows a called step under its call step), and
// an answer given after the start reaches that workflow: by c/ask, or by
// the plain step id as a local rbflow answer finds it. The
// called workflow checks the value; the caller reads the answer from the
// call step's outputs.
func TestFleetAnswerInCalledProcedure(t *testing.T) {
	f := newFixture(t)
	const top = "rbflow/repo/web1:/srv/app"
	f.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: top})
	w := &envWorkflows{env: f.env, top: top}
	ctx := context.Background()
	var merged *fleet.Outcome
	var byPath, plain, elsewhere []fleet.Waiter
	f.env.RegisterDelayedCallback(func() {
		o, err := w.Status(ctx, top, "")
		if err != nil {
			t.Errorf("status: %v", err)
			return
		}
		fam := fleet.Family(ctx, w, top, "", o)
		merged = fleet.Merged(fam)
		byPath, plain, elsewhere = fleet.Waiting(fam, "c/ask"), fleet.Waiting(fam, "ask"), fleet.Waiting(fam, "d/ask")
		for _, wt := range byPath {
			// A value the confirm does not take: refused by the called workflow.
			if err := w.Answer(ctx, wt.Run.WorkflowID, wt.Run.RunID, fleet.Answer{Step: wt.Step, Value: "maybe"}); err != nil {
				t.Error(err)
			}
		}
		for _, wt := range plain {
			if err := w.Answer(ctx, wt.Run.WorkflowID, wt.Run.RunID, fleet.Answer{Step: wt.Step, Value: "yes"}); err != nil {
				t.Error(err)
			}
		}
	}, time.Hour)
	in := f.callInput(map[string]string{"main.yaml": `version: 1
name: caller
steps:
  - id: before
    run: "true"
  - id: c
    call: ./child.yaml
  - id: after
    run: echo "${{ steps.c.outputs.ask.confirmed }}" > after.txt
`, "child.yaml": `version: 1
name: child
steps:
  - id: ask
    prompt: Deploy?
    with: {type: confirm}
  - id: done
    if: steps.ask.outputs.confirmed
    run: echo yes > done.txt
`}, "main.yaml", nil)
	out := f.run(in)

	if merged == nil {
		t.Fatal("the run never waited")
	}
	if merged.Status != engine.RunWaiting || len(merged.Waiting) != 1 || !strings.HasPrefix(merged.Waiting[0], "c/ask: ") {
		t.Errorf("status while the called prompt waits: %s, waiting %q; want waiting on c/ask", merged.Status, merged.Waiting)
	} else if want := "--answer ask=yes (or ask=no)"; !strings.HasSuffix(merged.Waiting[0], want) {
		t.Errorf("waiting on %q, want it to end with %q", merged.Waiting[0], want)
	}
	if s := step(merged, "c/ask"); s == nil || s.Status != engine.StepWaiting {
		t.Errorf("c/ask in the status: %+v, want waiting", s)
	}
	callee := fleet.CallWorkflowID(top, "c")
	if len(byPath) != 1 || byPath[0].Run.WorkflowID != callee || byPath[0].Step != "ask" || byPath[0].Run.Path != "c/" {
		t.Errorf("Waiting(c/ask) = %+v, want step ask of %s", byPath, callee)
	}
	if len(plain) != 1 || plain[0].Run.WorkflowID != callee {
		t.Errorf("Waiting(ask) = %+v, want step ask of %s", plain, callee)
	}
	if len(elsewhere) != 0 {
		t.Errorf("Waiting(d/ask) = %+v, want none", elsewhere)
	}
	if len(w.refused) != 1 || !strings.Contains(w.refused[0].Error(), "maybe") {
		t.Errorf("answers refused: %v, want only maybe", w.refused)
	}
	if out.Status != engine.RunSucceeded {
		for _, s := range out.Steps {
			t.Logf("%s: %s %s", s.StepID, s.Status, s.Error)
		}
		t.Fatalf("status %s, want succeeded", out.Status)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "done.txt")); got != "yes\n" {
		t.Errorf("done.txt = %q", got)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.repo, "after.txt")); got != "true\n" {
		t.Errorf("after.txt = %q", got)
	}
	if len(out.Calls) != 0 {
		t.Errorf("Calls of the ended run = %v, want none", out.Calls)
	}
}
