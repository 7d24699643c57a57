package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
)

// Host runs: a run whose steps another engine schedules one at a time (a
// Temporal workflow, engine/fleet), each step on the host that holds the
// repository. The host's store records the run and its steps as a local
// run's, so that rbflow status there tells the truth; the scheduler keeps
// the order, the conditions it can evaluate anywhere, the retries and the
// answers, and hands each step the records of the steps that ended.

// ScheduledPrefix starts the SourcePath of a host run: the scheduler
// drives it, so rbflow resume, retry and cancel on the host refuse it.
const ScheduledPrefix = "scheduled:"

// Scheduled reports whether another engine drives the run (a host run).
func (r *Run) Scheduled() bool { return strings.HasPrefix(r.SourcePath, ScheduledPrefix) }

// HostRun describes a run scheduled from outside on this host.
type HostRun struct {
	ID         string
	SourcePath string
	Params     map[string]any // typed, secrets included (never stored in clear)
	StartedAt  time.Time
	// ParentRun and ParentStep name the run and call step that called
	// this one (a child run, recorded as a local call step records it).
	ParentRun  string
	ParentStep string
}

// BeginHostRun records a run scheduled from outside, once: called again for
// a run this store already has (a retried activity), it returns that run.
func (r *Runner) BeginHostRun(ctx context.Context, plan *Plan, h HostRun) (*Run, error) {
	if run, err := r.Store.Run(ctx, h.ID); err == nil && run.ID == h.ID {
		return run, nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	params, err := ResolveParams(plan.Procedure, ParamInput{Given: h.Params})
	if err != nil {
		return nil, fmt.Errorf("params of run %s: %w", h.ID, err)
	}
	run := r.newRun(plan, params, ScheduledPrefix+h.SourcePath, h.StartedAt)
	run.ID = h.ID
	run.ParentRun, run.ParentStep = h.ParentRun, h.ParentStep
	run.begin(proc.Self())
	kept := *run
	kept.Params = keptParams(plan.Procedure, params, NewMask(plan.Procedure, params))
	if err := r.Store.CreateRun(ctx, &kept, nil); err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	return run, nil
}

// HostStep is one step of a host run to run now.
type HostStep struct {
	Step string
	// Attempt is the attempt of the step the scheduler makes (1-based); it
	// owns the retries, so each call makes exactly one.
	Attempt int
	// Prior are the records of the steps that have ended, as the
	// scheduler holds them (outputs in clear): the step's expressions
	// read them.
	Prior []*StepRecord
	// Status is what success(), failure() and cancelled() give.
	Status eval.Status
	// EvalIf asks for the step's if: to be evaluated here: it reads the
	// machine or the clock (eval.Condition.Reads).
	EvalIf bool
	// FailedStep is the main step the run failed at, once it has (in
	// on_failure and finally: run.failed_step).
	FailedStep string
	// Params are the run's params, secrets included: the store keeps no
	// secret, the scheduler gives them with each step.
	Params  map[string]any
	Answers map[string]string
}

// HostResult is how one attempt of a host step ended.
type HostResult struct {
	Record *StepRecord // as recorded, but with outputs in clear
	// Retry reports that the attempt failed and the step's retry allows
	// another: attempts are left, retry.if holds and the failure is not
	// one that would repeat (ErrNotRetried).
	Retry bool
	// Waiting reports that the step stopped for a person; Record.Error
	// says what it waits for.
	Waiting bool
}

// RunHostStep runs one attempt of one step of a host run begun with
// BeginHostRun, under the same code as a local run (its kind, Exec, log,
// masking, outputs, the supervisor in ctx), and records it in the host's
// store. A step with for_each runs all its items (each with the step's
// own retries). The error is for what kept the step from being recorded.
func (r *Runner) RunHostStep(ctx context.Context, plan *Plan, runID string, hs HostStep) (HostResult, error) {
	st, ok := plan.Step(hs.Step)
	if !ok {
		return HostResult{}, fmt.Errorf("procedure %s has no step %q", plan.Name(), hs.Step)
	}
	run, err := r.Store.Run(ctx, runID)
	if err != nil {
		return HostResult{}, err
	}
	recs := map[string]*StepRecord{}
	for _, p := range hs.Prior {
		cp := *p
		recs[p.StepID] = &cp
	}
	runDir := filepath.Join(r.StateDir, "runs", run.ID)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return HostResult{}, fmt.Errorf("create run folder: %w", err)
	}
	run.Params = hs.Params
	run.FailedStep = hs.FailedStep
	x, err := r.newExecution(ctx, plan, run, recs, runDir)
	if err != nil {
		return HostResult{}, err
	}
	x.answers = map[string]Answer{}
	for id, v := range hs.Answers {
		x.answers[id] = Answer{RunID: run.ID, StepID: id, Value: v, Source: AnswerFlag, Actor: r.actor(), At: time.Now()}
	}
	// A step the store shows running was cut off with its worker: it runs
	// again as resumed (git actions look at git's traces first).
	if prev, err := r.Store.Steps(ctx, run.ID); err == nil {
		for _, p := range prev {
			if p.StepID == st.ID && p.Status == StepRunning {
				x.resumed = map[string]bool{st.ID: true}
			}
		}
	}
	x.single = max(hs.Attempt, 1)
	// Unless asked, the scheduler has decided that the step runs.
	x.decided = !hs.EvalIf
	x.step(ctx, st, hs.Status)
	x.mu.Lock()
	rec, retry, fatal := x.recs[st.ID], x.retry, x.fatal
	x.mu.Unlock()
	if fatal != nil {
		return HostResult{}, fatal
	}
	if rec == nil || rec.StepID != st.ID {
		return HostResult{}, fmt.Errorf("step %s left no record", st.ID)
	}
	out := *rec
	return HostResult{Record: &out, Retry: retry, Waiting: rec.Status == StepWaiting}, nil
}

// EndHostRun records how a host run ended, with the records of the steps
// the scheduler decided alone (skipped, or never run because the run was
// cancelled) that this store does not have yet. It runs the plan's run-end
// hooks first, as a local run's end does (the git kind saves the state the
// run left there, which rbflow undo on the host needs): the caller holds
// the repository lock. A hook's error is a run_warning event.
func (r *Runner) EndHostRun(ctx context.Context, plan *Plan, runID string, status RunStatus, failedStep string, decided []*StepRecord) error {
	run, err := r.Store.Run(ctx, runID)
	if err != nil {
		return err
	}
	if run.Status != RunRunning {
		return nil // recorded already (a retried activity)
	}
	have := map[string]bool{}
	if list, err := r.Store.Steps(ctx, runID); err == nil {
		for _, s := range list {
			have[s.StepID] = s.ended()
		}
	}
	params, _ := ResolveParams(plan.Procedure, ParamInput{Given: run.Params})
	mask := NewMask(plan.Procedure, params)
	for _, rec := range decided {
		if have[rec.StepID] {
			continue
		}
		saved := *rec
		saved.Outputs, _ = mask.Any(rec.Outputs).(map[string]any)
		saved.Error = mask.String(rec.Error)
		if err := r.Store.SaveStep(ctx, &saved); err != nil {
			return err
		}
	}
	if run.ParentRun == "" {
		for _, h := range plan.hooks() {
			if err := h(ctx, r.Store, run); err != nil {
				r.emit(Event{Kind: "run_warning", RunID: run.ID, Message: mask.String(err.Error())})
			}
		}
	}
	if status == RunCancelled {
		run.cancel(time.Now())
	} else {
		run.end(status, failedStep, time.Now())
	}
	return r.Store.UpdateRun(ctx, run)
}

// StepsRead lists the steps whose records the step's expressions read
// (steps.<id>), in plan order; all is true when one reads steps by a
// computed name, or the whole of steps.
func (s *Step) StepsRead(p *Plan) (ids []string, all bool) {
	if s.refs == nil || s.refs.All {
		return nil, true
	}
	for _, st := range p.Steps() {
		if s.refs.IDs[st.ID] {
			ids = append(ids, st.ID)
		}
	}
	return ids, false
}

// State is the record as expressions see it (steps.<id>).
func (s *StepRecord) State() eval.StepState { return stepState(s) }

// DecidedRecord is the record of a step its scheduler ended without
// running it on the host: skipped (status StepSkipped), failed because no
// attempt could be made or finished (StepFailed: its host was lost, say;
// continue_on_error applies), or cancelled with its run (StepCancelled).
func DecidedRecord(runID string, st *Step, status StepStatus, reason string, now time.Time) *StepRecord {
	rec := &StepRecord{RunID: runID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash, StartedAt: now}
	switch status {
	case StepSkipped:
		rec.skip(reason, now)
	case StepCancelled:
		rec.start(proc.Identity{}, now)
		rec.cancel(now)
		if reason != "" {
			rec.Error = reason
		}
	default:
		rec.fail(reason, st.Spec.ContinueOnError, now)
	}
	return rec
}

// CallStep is the action of a call step (the steps package's call kind),
// as a scheduler that runs the callee itself sees it (engine/fleet runs it
// as a child workflow).
type CallStep interface {
	// Callee is the procedure a literal target names, compiled with the
	// calling procedure; nil when the target is built with ${{ }}.
	Callee() *Callee
	// CallParams evaluates the step's with.params (nil: none given).
	CallParams(x *Exec) (map[string]any, error)
}

// Call returns the step's call action, or nil when it is no call step.
func (s *Step) Call() CallStep {
	c, _ := s.Action.(CallStep)
	return c
}

// ExprExec is an Exec that only evaluates a step's arguments (Render,
// Value) with data, secrets masked by mask: what a scheduler that runs
// no process needs to evaluate a call step's with.params.
func (p *Plan) ExprExec(runID string, st *Step, data *eval.Data, mask *Mask) *Exec {
	return &Exec{RunID: runID, StepID: st.ID, Procedure: p.Name(), env: p.eval.Env(data), mask: mask}
}

// CalledRecord is the record of a call step whose callee its scheduler
// ran (a child workflow): started at start, with the outputs the local
// call step gives (each callee step's outputs by id, run_id, status), and
// failed with failure unless it is "".
func CalledRecord(runID string, st *Step, outputs map[string]any, failure string, start, now time.Time) *StepRecord {
	rec := &StepRecord{RunID: runID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash, Outputs: outputs}
	rec.start(proc.Identity{}, start)
	if failure != "" {
		rec.ExitCode = 1
		rec.fail(failure, st.Spec.ContinueOnError, now)
	} else {
		rec.succeed(now)
	}
	return rec
}

// HostNotice is one event of a host run to tell its notification hooks.
type HostNotice struct {
	Event      string // spec.NotifyStart, NotifyFailure, NotifyOverTarget, NotifyFinish
	Status     RunStatus
	FailedStep string
	// Prior are the records of the steps that have ended (the failed
	// step's error is told); Params the run's params, secrets included.
	Prior  []*StepRecord
	Params map[string]any
}

// NotifyHost posts event to each of the plan's hooks that fires on it
// and has not sent it for this run yet (the store keeps what was sent), as
// a local run's notifier does, and records each post. It returns the
// warnings of the posts that were not delivered.
func (r *Runner) NotifyHost(ctx context.Context, plan *Plan, runID string, hn HostNotice) ([]string, error) {
	if len(plan.Notifications) == 0 {
		return nil, nil
	}
	run, err := r.Store.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	recs := map[string]*StepRecord{}
	for _, p := range hn.Prior {
		cp := *p
		recs[p.StepID] = &cp
	}
	run.Params = hn.Params
	run.FailedStep = hn.FailedStep
	x, err := r.newExecution(ctx, plan, run, recs, filepath.Join(r.StateDir, "runs", run.ID))
	if x == nil {
		return nil, err
	}
	n := &notifier{x: x, fired: map[hookEvent]bool{}}
	sent, err := r.Store.Notifications(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range sent {
		if s.Generation == run.Generation {
			n.fired[hookEvent{s.Hook, s.Event}] = true
		}
	}
	for _, h := range plan.Notifications {
		if !h.On(hn.Event) || n.fired[hookEvent{h.Spec.Index, hn.Event}] {
			continue
		}
		s := x.hookSend(ctx, h, hn.Event, hn.Status, hn.FailedStep)
		if s.renErr == nil && strings.TrimSpace(s.url) == "" {
			continue // an optional webhook param not given: the hook is off
		}
		n.send(ctx, s)
	}
	return n.warnings, nil
}

// ScheduledRecord is the record of a step its scheduler runs itself (a
// call step's child workflow), running since start.
func ScheduledRecord(runID string, st *Step, start time.Time) *StepRecord {
	rec := &StepRecord{RunID: runID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash}
	rec.start(proc.Identity{}, start)
	return rec
}

// StoppedRecord is the record of a step the run's deadline stopped:
// failed, continue_on_error not applying (the run is over), as a local
// run records it.
func StoppedRecord(runID string, st *Step, reason string, now time.Time) *StepRecord {
	rec := &StepRecord{RunID: runID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash, StartedAt: now}
	rec.fail(reason, false, now)
	return rec
}
