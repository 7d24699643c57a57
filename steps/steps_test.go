package steps

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// runOpts are what a command line would give a run.
type runOpts struct {
	sets     []string
	answers  map[string]string
	yes      bool
	prompter engine.Prompter
	ctx      context.Context // nil: not cancelled
}

// finished is a run as the store holds it after Start returned.
type finished struct {
	run   *engine.Run
	steps map[string]*engine.StepRecord
	err   error
	state string
}

// loadPlan compiles a procedure with the built-in kinds.
func loadPlan(t *testing.T, text string) (*engine.Plan, error) {
	t.Helper()
	reg := engine.NewRegistry()
	Register(reg)
	return engine.Load("p.yaml", []byte(text), reg)
}

// runProcedure runs a procedure in repo through the package's harness
// (a real store in a temp state folder) with what a command line would
// give, and returns what the run recorded.
func runProcedure(t *testing.T, repo, text string, o runOpts) finished {
	t.Helper()
	h := newHarness(t)
	h.repo = repo
	plan, err := engine.Load("p.yaml", []byte(text), h.reg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Sets: o.sets})
	if err != nil {
		t.Fatalf("params: %v", err)
	}
	r := h.runner()
	r.Answers, r.Yes, r.Prompter = o.answers, o.yes, o.prompter
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	run, runErr := r.Start(ctx, plan, params, "p.yaml")
	if run == nil {
		t.Fatalf("run did not start: %v", runErr)
	}
	stored, err := h.st.Run(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return finished{run: stored, steps: h.steps(run.ID), err: runErr, state: h.state}
}

// step returns a step's record or fails the test.
func (f finished) step(t *testing.T, id string) *engine.StepRecord {
	t.Helper()
	rec, ok := f.steps[id]
	if !ok {
		t.Fatalf("step %s has no record (run %s: %v)", id, f.run.Status, f.err)
	}
	return rec
}

// log returns a step's log text.
func (f finished) log(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(f.step(t, id).LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
}

// TestFailedRunSaysWhy (issue 14): a run that failed at a step whose error
// is only an exit status ends with the step's last lines of output, masked
// ("run … failed at step check: exit status 1" said nothing of why).
func TestFailedRunSaysWhy(t *testing.T) {
	h := newHarness(t)
	_, _, err := h.runSet("p", `version: 1
name: p
params:
  token: {type: string, secret: true}
steps:
  - id: check
    run: |
      echo "checking" >&2
      echo "cannot reach the database with ${{ params.token }}" >&2
      echo "nothing was changed" >&2
      exit 3
`, "token=hunter2-value")
	if err == nil {
		t.Fatal("the run succeeded")
	}
	want := "failed at step check: exit status 3; its last output:\n  checking\n  cannot reach the database with ***\n  nothing was changed"
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2-value") {
		t.Errorf("the run's error = %q, want it to end with %q, the secret masked", err, want)
	}
}
