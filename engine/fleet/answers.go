package fleet

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/rbflow/rbflow/engine"
)

// Workflows reaches procedure workflows by id: a Temporal client
// (rbflow-fleet), or the SDK's test environment. An empty runID is the
// workflow's open run.
type Workflows interface {
	// Status returns the workflow's Outcome so far (StatusQuery); an
	// error when the workflow is not there or did not answer.
	Status(ctx context.Context, workflowID, runID string) (*Outcome, error)
	// Answer gives the workflow an answer (AnswerUpdate) and returns once
	// it took it; the workflow's refusal (an answer its prompt does not
	// take) is the error.
	Answer(ctx context.Context, workflowID, runID string, a Answer) error
}

// FamilyRun is one run of a target's family: the target's own run, or
// one a running call step of the family started.
type FamilyRun struct {
	WorkflowID string
	RunID      string // Temporal's run id ("" for a called run: its open run)
	// Path is the call steps that lead to the run, each followed by a
	// slash ("c/", "c/d/"; "" for the target's run): how its steps are
	// named in the target's status and in --answer, as a local run shows
	// a called procedure's steps under its call step.
	Path    string
	Outcome *Outcome
}

// Family is the target's run (workflowID at runID, standing at o) and
// the runs its running call steps started, and theirs. A called run not
// yet started, or that does not answer, is left out: it waits on nothing
// yet.
func Family(ctx context.Context, w Workflows, workflowID, runID string, o *Outcome) []FamilyRun {
	fam := []FamilyRun{{WorkflowID: workflowID, RunID: runID, Outcome: o}}
	for i := 0; i < len(fam); i++ {
		parent := fam[i]
		for _, step := range slices.Sorted(maps.Keys(parent.Outcome.Calls)) {
			id := parent.Outcome.Calls[step]
			co, err := w.Status(ctx, id, "")
			if err != nil {
				continue
			}
			fam = append(fam, FamilyRun{WorkflowID: id, Path: parent.Path + step + "/", Outcome: co})
		}
	}
	return fam
}

// Merged is the target's run with its called runs' steps and waits, each
// named by its Path (c/ask) and shown after its call step: what status
// shows and what --answer names. A run whose called run waits is waiting.
func Merged(fam []FamilyRun) *Outcome {
	top := *fam[0].Outcome
	top.Waiting = slices.Clone(top.Waiting)
	top.Steps = slices.Clone(top.Steps)
	for _, run := range fam[1:] {
		var steps []*engine.StepRecord
		for _, s := range run.Outcome.Steps {
			cp := *s
			cp.StepID = run.Path + s.StepID
			steps = append(steps, &cp)
		}
		// After the call step's own record (or its called steps'), so
		// that a called procedure's steps show under it.
		call := strings.TrimSuffix(run.Path, "/")
		at := len(top.Steps)
		for i, s := range top.Steps {
			if s.StepID == call || strings.HasPrefix(s.StepID, call+"/") {
				at = i + 1
			}
		}
		top.Steps = slices.Insert(top.Steps, at, steps...)
		for _, w := range run.Outcome.Waiting {
			top.Waiting = append(top.Waiting, run.Path+w)
		}
	}
	if top.Status == engine.RunRunning && len(top.Waiting) > 0 {
		top.Status = engine.RunWaiting
	}
	return &top
}

// Waiter is a prompt that waits in one run of a family: the run's
// workflow and the step's id in its procedure.
type Waiter struct {
	Run  FamilyRun
	Step string
}

// Waiting finds what an --answer names in a family: "c/ask" is step ask
// of the procedure call step c runs (as status shows it); a plain "ask"
// is every run of the family that waits on a prompt ask, as a local
// rbflow answer RUN ask=yes finds the waiting prompt among a run and the
// runs it called. An item of a
// looped prompt (ask.1) is named as its step is.
func Waiting(fam []FamilyRun, key string) []Waiter {
	path, step := "", key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		path, step = key[:i+1], key[i+1:]
	}
	var out []Waiter
	for _, run := range fam {
		if (run.Path == path || !strings.Contains(key, "/")) && run.Outcome.WaitsOn(step) {
			out = append(out, Waiter{Run: run, Step: step})
		}
	}
	return out
}

// WaitsOn reports whether the run waits on the prompt step (or, for an
// item id such as ask.1, on its looped step).
func (o *Outcome) WaitsOn(step string) bool {
	for _, w := range o.Waiting {
		id, _, _ := strings.Cut(w, ":")
		if id == step {
			return true
		}
		if s, _, item := engine.ItemOf(step); item && s == id {
			return true
		}
	}
	return false
}
