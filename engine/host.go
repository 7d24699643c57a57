package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Question is what a prompt step asks a person.
type Question struct {
	Step    string
	Text    string
	Type    string // confirm, text, choice, multi
	Choices []string
	Default string
}

// Prompter asks a person on a terminal. Runners without one (no terminal)
// take answers from --answer and --yes, or stop the run resumably.
type Prompter interface {
	// Ask returns the answer text (for multi: items joined by ",").
	// It returns an error when the person cannot be asked (input closed).
	Ask(ctx context.Context, q Question) (string, error)
}

// Loader resolves a procedure reference (a built-in name or a path) for call
// steps; cmd/rbflow provides it.
type Loader func(ctx context.Context, ref string) (plan *Plan, sourcePath string, err error)

// Prompter returns the terminal prompter, or nil when nobody can be asked.
func (x *Exec) Prompter() Prompter { return x.runner.Prompter }

// Yes reports whether --yes was given.
func (x *Exec) Yes() bool { return x.runner.Yes }

// RunView is what a report sees of a run: its record, plan, step records
// in plan order and params, with secrets masked.
type RunView struct {
	Run    *Run
	Plan   *Plan
	Steps  []*StepRecord
	Params map[string]any
	Now    time.Time
}

// View reads the run as it stands now, for reports.
func (x *Exec) View(ctx context.Context) (*RunView, error) {
	if x.Store == nil {
		return nil, errors.New("the run's record is not available here (a dry run records nothing)")
	}
	run, err := x.Store.Run(ctx, x.RunID)
	if err != nil {
		return nil, err
	}
	recs, err := x.Store.Steps(ctx, x.RunID)
	if err != nil {
		return nil, err
	}
	order := map[string]int{}
	for _, s := range x.plan.Steps() {
		order[s.ID] = s.Order
	}
	sort.SliceStable(recs, func(i, j int) bool { return order[recs[i].StepID] < order[recs[j].StepID] })
	m := x.maskObj
	for _, r := range recs {
		r.Outputs, _ = m.maskAny(r.Outputs).(map[string]any)
		r.Error = m.mask(r.Error)
		r.Tail = m.mask(r.Tail)
	}
	params, _ := m.maskAny(run.Params).(map[string]any)
	for _, pm := range x.plan.Procedure.Params {
		if pm.Secret {
			params[pm.Name] = "***"
		}
	}
	cp := *run
	cp.Params = params
	return &RunView{Run: &cp, Plan: x.plan, Steps: recs, Params: params, Now: time.Now()}, nil
}

// ChildResult is the end of a child run started by a call step.
type ChildResult struct {
	Run     *Run
	Outputs map[string]any // step id -> that step's outputs
}

// RunChild runs the procedure ref as a child of this step's run, or, when
// this step already started one (a resumed parent), finishes that child.
// A child that already succeeded is not run again when the step was cut
// off after it (a resumed step); a step run again on purpose (--from,
// --reload) starts a new child.
func (x *Exec) RunChild(ctx context.Context, ref string, params map[string]any) (*ChildResult, error) {
	r := x.runner
	if r.Load == nil {
		return nil, errors.New("call steps are not available here")
	}
	existing, err := x.childRun(ctx)
	if err != nil {
		return nil, err
	}
	child := *r
	child.nested = true
	child.Observer = prefixObserver{inner: r.Observer, step: x.StepID}
	if existing != nil {
		plan, err := compileStored(ctx, r, existing)
		if err != nil {
			return nil, err
		}
		switch {
		case existing.Status == RunSucceeded:
			if !x.Resumed {
				existing = nil
			}
		case existing.Status.Resumable():
			err = child.Resume(ctx, plan, existing, ResumeOptions{})
		default:
			existing = nil
		}
		if existing != nil {
			return x.childResult(ctx, existing, err)
		}
	}
	plan, path, err := r.Load(ctx, ref)
	if err != nil {
		return nil, err
	}
	resolved, err := ResolveParams(plan.Procedure, ParamInput{Given: params})
	if err != nil {
		return nil, fmt.Errorf("params for %s: %w", ref, err)
	}
	now := time.Now()
	run := &Run{
		ID: NewRunID(now), Procedure: plan.Name(), Source: string(plan.Procedure.Text), SourcePath: path,
		Hash: plan.Hash, Params: resolved, Repo: r.Repo, StateDir: r.StateDir, Status: RunRunning,
		StartedAt: now, ParentRun: x.RunID, ParentStep: x.StepID, Target: plan.Procedure.Target, Generation: 1,
	}
	err = child.StartRun(ctx, plan, run)
	return x.childResult(ctx, run, err)
}

// compileStored compiles the text a run started with.
func compileStored(ctx context.Context, r *Runner, run *Run) (*Plan, error) {
	if r.Compile == nil {
		return nil, errors.New("cannot resume a child run: no compiler")
	}
	return r.Compile(run.SourcePath, []byte(run.Source))
}

func (x *Exec) childRun(ctx context.Context) (*Run, error) {
	runs, err := x.Store.Runs(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.ParentRun == x.RunID && r.ParentStep == x.StepID {
			return r, nil
		}
	}
	return nil, nil
}

func (x *Exec) childResult(ctx context.Context, run *Run, runErr error) (*ChildResult, error) {
	res := &ChildResult{Run: run, Outputs: map[string]any{}}
	recs, err := x.Store.Steps(context.WithoutCancel(ctx), run.ID)
	if err == nil {
		for _, s := range recs {
			if len(s.Outputs) > 0 {
				res.Outputs[s.StepID] = s.Outputs
			}
		}
	}
	if fresh, err := x.Store.Run(context.WithoutCancel(ctx), run.ID); err == nil {
		res.Run = fresh
	}
	return res, runErr
}

// prefixObserver shows a child run's events under the calling step.
type prefixObserver struct {
	inner Observer
	step  string
}

func (p prefixObserver) Event(e Event) {
	if p.inner == nil {
		return
	}
	switch e.Kind {
	case "run_started", "run_finished":
		e.Kind = "child_" + e.Kind
		e.Step = p.step
	default:
		e.Step = p.step + "/" + e.Step
	}
	p.inner.Event(e)
}
