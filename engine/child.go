package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

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
	run, err := x.store.Run(ctx, x.RunID)
	if err != nil {
		if errors.Is(err, ErrDryRun) {
			return nil, errors.New("the run's record is not available here (a dry run records nothing)")
		}
		return nil, err
	}
	recs, err := x.store.Steps(ctx, x.RunID)
	if err != nil {
		return nil, err
	}
	plan := x.x.plan
	order := map[string]int{}
	for _, s := range plan.Steps() {
		order[s.ID] = s.Order
	}
	at := func(id string) int {
		if step, _, item := ItemOf(id); item {
			return order[step] // an item of a step with for_each goes with it
		}
		return order[id]
	}
	sort.SliceStable(recs, func(i, j int) bool { return at(recs[i].StepID) < at(recs[j].StepID) })
	params, m := maskParams(plan.Procedure, run.Params)
	for _, r := range recs {
		r.Outputs, _ = m.Any(r.Outputs).(map[string]any)
		r.Error = m.String(r.Error)
		r.Tail = m.String(r.Tail)
	}
	cp := *run
	cp.Params = params
	return &RunView{Run: &cp, Plan: plan, Steps: recs, Params: params, Now: time.Now()}, nil
}

// ChildResult is the end of a child run started by a call step.
type ChildResult struct {
	Run     *Run
	Outputs map[string]any // step id -> that step's outputs
}

// RunChild runs a call step's procedure as a child of this step's run.
// callee is the procedure compiled with the calling one (a literal
// target); nil means ref is resolved and compiled now (a target built with
// ${{ }}, see LoadProcedure), before anything of the child runs. params
// are checked against the callee's declarations first.
//
// When this step already started a child (a resumed parent), RunChild
// finishes that child, compiled from the text it started with. A child
// that already succeeded is not run again when the step was cut off after
// it (a resumed step); a step run again on purpose (--from, --reload)
// starts a new child.
func (x *Exec) RunChild(ctx context.Context, ref string, callee *Callee, params map[string]any) (*ChildResult, error) {
	r := x.x.r
	existing, err := x.childRun(ctx)
	if err != nil {
		return nil, err
	}
	child := *r
	child.nested = true
	child.Observer = prefixObserver{inner: r.Observer, step: x.StepID}
	child.Answers = nil
	child.inherited = x.x.answers
	child.parentMask = x.x.mask
	child.SecretSets = nil
	child.given = params
	if existing != nil {
		switch {
		case existing.Status == RunSucceeded && x.Resumed:
			return x.childResult(ctx, existing, nil)
		case existing.Status.Resumable():
			run, err := child.Resume(ctx, existing.ID, ResumeOptions{})
			if run == nil {
				run = existing
			}
			return x.childResult(ctx, run, err)
		}
	}
	if callee == nil {
		if callee, err = x.LoadProcedure(ref); err != nil {
			return nil, err
		}
	}
	if err := x.checkCallCycle(ctx, callee.Source.Path); err != nil {
		return nil, err
	}
	plan := callee.Plan
	resolved, err := ResolveParams(plan.Procedure, ParamInput{Given: params})
	if err != nil {
		return nil, fmt.Errorf("params for %s: %w", plan.Name(), err)
	}
	run := child.newRun(plan, resolved, callee.Source.Path, time.Now())
	run.ParentRun, run.ParentStep = x.RunID, x.StepID
	err = child.start(ctx, plan, run)
	return x.childResult(ctx, run, err)
}

// checkCallCycle refuses to start a child of path when path is this run's
// procedure or that of a run that called it: compiling finds the cycles of
// literal targets, this the ones a target built with ${{ }} closes.
func (x *Exec) checkCallCycle(ctx context.Context, path string) error {
	chain := []string{path}
	for id := x.RunID; id != ""; {
		run, err := x.store.Run(ctx, id)
		if err != nil {
			return fmt.Errorf("check call cycle: %w", err)
		}
		chain = append(chain, run.SourcePath)
		if procKey(run.SourcePath) == procKey(path) {
			slices.Reverse(chain)
			return fmt.Errorf("call cycle: %s", callChain(chain))
		}
		id = run.ParentRun
	}
	return nil
}

func (x *Exec) childRun(ctx context.Context) (*Run, error) {
	runs, err := x.store.Runs(ctx, "")
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
	recs, err := x.store.Steps(context.WithoutCancel(ctx), run.ID)
	if err == nil {
		for _, s := range recs {
			if len(s.Outputs) > 0 {
				res.Outputs[s.StepID] = s.Outputs
			}
		}
	}
	if fresh, err := x.store.Run(context.WithoutCancel(ctx), run.ID); err == nil {
		res.Run = fresh
	}
	return res, runErr
}

// LoadProcedure resolves and compiles, when its step starts, the procedure
// a call step names with a target built with ${{ }}: a built-in name or a
// path, relative to the calling procedure's file first.
func (x *Exec) LoadProcedure(ref string) (*Callee, error) {
	l := x.x.r.Loader
	if l == nil || l.Resolve == nil {
		return nil, errors.New("call steps are not available here")
	}
	src, err := l.Resolve(ref, x.SourcePath)
	if err != nil {
		return nil, err
	}
	plan, err := l.Load(src)
	if err != nil {
		return nil, fmt.Errorf("%s does not load: %w", src.Path, err)
	}
	return &Callee{Plan: plan, Source: src}, nil
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
