package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/spec"
)

// Event is one thing that happened in a run, for live views and --json.
type Event struct {
	Kind     string         `json:"event"` // run_started, step_started, step_output, step_retry, step_finished, run_finished
	RunID    string         `json:"run_id"`
	Time     time.Time      `json:"time"`
	Step     string         `json:"step,omitempty"`
	Status   string         `json:"status,omitempty"`
	ExitCode *int           `json:"exit_code,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Line     string         `json:"line,omitempty"`
	Error    string         `json:"error,omitempty"`
	Attempt  int            `json:"attempt,omitempty"`
	Message  string         `json:"message,omitempty"`
	// Procedure and Target are set on run_started.
	Procedure string     `json:"procedure,omitempty"`
	Target    float64    `json:"target_seconds,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
}

// Observer receives a run's events. Calls may come from several goroutines.
type Observer interface {
	Event(e Event)
}

// Runner executes plans against a store. One Runner drives one run at a time.
type Runner struct {
	Store    Store
	StateDir string
	Repo     string // repository root; "" outside git
	WorkDir  string // base for relative dirs outside git
	Parallel int
	Grace    time.Duration   // SIGTERM to SIGKILL, and the time finally gets after a signal
	Hurry    <-chan struct{} // closed on a second Ctrl-C: kill at once
	Observer Observer
	Answers  map[string]string // --answer ID=VALUE
	Yes      bool
	Host     Host
	Prompter Prompter // nil when there is no terminal to ask on
	// Load and Compile let call steps run child procedures.
	Load    Loader
	Compile func(path string, text []byte) (*Plan, error)

	nested bool // a child run: the parent holds the lock
}

// NewRunID returns a sortable, time-ordered run id.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// Start creates and executes a new run of plan.
func (r *Runner) Start(ctx context.Context, plan *Plan, params map[string]any, sourcePath string) (*Run, error) {
	now := time.Now()
	run := &Run{
		ID:         NewRunID(now),
		Procedure:  plan.Name(),
		Source:     string(plan.Procedure.Text),
		SourcePath: sourcePath,
		Hash:       plan.Hash,
		Params:     params,
		Repo:       r.Repo,
		StateDir:   r.StateDir,
		Status:     RunRunning,
		StartedAt:  now,
		Target:     plan.Procedure.Target,
		Generation: 1,
	}
	return run, r.StartRun(ctx, plan, run)
}

// StartRun executes a prepared new run record (used by Start and by child
// runs, which set ParentRun).
func (r *Runner) StartRun(ctx context.Context, plan *Plan, run *Run) error {
	lock, err := r.lock(run.ID)
	if err != nil {
		return err
	}
	defer lock.Release()
	self := proc.Self()
	run.OwnerPID, run.OwnerStart = self.PID, self.Start
	if err := r.Store.CreateRun(ctx, run); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return r.execute(ctx, plan, run, map[string]*StepRecord{}, nil, "started")
}

func (r *Runner) lock(runID string) (*Lock, error) {
	if r.nested {
		return nil, nil
	}
	if r.StateDir == "" {
		return nil, errors.New("engine: runner without a state folder")
	}
	return AcquireLock(r.StateDir, r.Repo, runID)
}

// ResumeOptions steer a resume.
type ResumeOptions struct {
	From string   // run this step and everything after it again
	Skip []string // mark these steps skipped
	// Reloaded is set when plan was loaded from the edited file instead of
	// the stored text: steps whose definition changed run again.
	Reloaded bool
}

// Resume finishes an unfinished run. plan must be compiled from run.Source,
// or from the edited file with opt.Reloaded.
func (r *Runner) Resume(ctx context.Context, plan *Plan, run *Run, opt ResumeOptions) error {
	lock, err := r.lock(run.ID)
	if err != nil {
		return err
	}
	defer lock.Release()
	// Re-read under the lock: the owner may have finished meanwhile.
	fresh, err := r.Store.Run(ctx, run.ID)
	if err != nil {
		return err
	}
	*run = *fresh
	if !run.Status.Resumable() {
		return usageErr("run %s is %s: nothing to resume (rbflow retry %s runs it again)", run.ID, run.Status, run.ID)
	}
	owner := proc.Identity{PID: run.OwnerPID, Start: run.OwnerStart}
	if run.Status == RunRunning && owner.Alive() && owner != proc.Self() {
		return &LockError{RunID: run.ID, PID: run.OwnerPID, Path: filepath.Join(r.StateDir, lockName(r.Repo))}
	}
	recs, err := r.records(ctx, run.ID)
	if err != nil {
		return err
	}
	if opt.Reloaded {
		run.Source = string(plan.Procedure.Text)
		run.Hash = plan.Hash
	}
	interrupted, err := r.prepareResume(ctx, plan, run, recs, opt)
	if err != nil {
		return err
	}
	self := proc.Self()
	run.OwnerPID, run.OwnerStart = self.PID, self.Start
	run.Status = RunRunning
	run.FailedStep = ""
	run.EndedAt = time.Time{}
	if err := r.Store.UpdateRun(ctx, run); err != nil {
		return err
	}
	return r.execute(ctx, plan, run, recs, interrupted, "resumed")
}

// Retry starts a new attempt (generation) of a finished run: failed and
// later steps run again, or everything from a given step.
func (r *Runner) Retry(ctx context.Context, plan *Plan, run *Run, from string) error {
	lock, err := r.lock(run.ID)
	if err != nil {
		return err
	}
	defer lock.Release()
	recs, err := r.records(ctx, run.ID)
	if err != nil {
		return err
	}
	interrupted, err := r.prepareResume(ctx, plan, run, recs, ResumeOptions{From: from})
	if err != nil {
		return err
	}
	self := proc.Self()
	run.OwnerPID, run.OwnerStart = self.PID, self.Start
	run.Generation++
	run.Status = RunRunning
	run.FailedStep = ""
	run.EndedAt = time.Time{}
	if err := r.Store.UpdateRun(ctx, run); err != nil {
		return err
	}
	return r.execute(ctx, plan, run, recs, interrupted, "retried")
}

func (r *Runner) records(ctx context.Context, runID string) (map[string]*StepRecord, error) {
	list, err := r.Store.Steps(ctx, runID)
	if err != nil {
		return nil, err
	}
	recs := make(map[string]*StepRecord, len(list))
	for _, s := range list {
		recs[s.StepID] = s
	}
	return recs, nil
}

// prepareResume decides, before anything runs, which recorded steps stand
// and which run again.
// It returns the steps that were interrupted and run again.
func (r *Runner) prepareResume(ctx context.Context, plan *Plan, run *Run, recs map[string]*StepRecord, opt ResumeOptions) (map[string]bool, error) {
	forget := map[string]bool{}
	interrupted := map[string]bool{}
	// Steps no longer in the plan (reload) are dropped.
	for id := range recs {
		if _, ok := plan.Step(id); !ok {
			forget[id] = true
		}
	}
	if opt.From != "" {
		st, ok := plan.Step(opt.From)
		if !ok {
			return nil, usageErr("--from: no step %q in %s", opt.From, plan.Name())
		}
		forget[st.ID] = true
		for _, d := range plan.descendants(st) {
			forget[d.ID] = true
		}
	}
	if opt.Reloaded {
		for _, st := range plan.Steps() {
			if rec, ok := recs[st.ID]; ok && rec.DefHash != st.DefHash {
				forget[st.ID] = true
				for _, d := range plan.descendants(st) {
					forget[d.ID] = true
				}
			}
		}
	}
	for _, id := range opt.Skip {
		if _, ok := plan.Step(id); !ok {
			return nil, usageErr("--skip: no step %q in %s", id, plan.Name())
		}
	}
	// A step found running belongs to a dead owner: it was interrupted.
	// What happens to an interrupted step is its on_resume policy.
	var asks []string
	for _, st := range plan.Steps() {
		rec, ok := recs[st.ID]
		if !ok || forget[st.ID] {
			continue
		}
		if rec.Status == StepRunning {
			rec.Status, rec.Outcome, rec.Conclusion = StepInterrupted, StepInterrupted, StepInterrupted
			rec.Error = "rbflow stopped while the step ran"
			if rec.EndedAt.IsZero() {
				rec.EndedAt = time.Now()
			}
		}
		if rec.Done() {
			continue
		}
		if rec.Status != StepInterrupted {
			// Failed, cancelled or waiting steps run again.
			forget[st.ID] = true
			continue
		}
		policy := st.OnResume
		if policy == "ask" && r.Yes {
			policy = "rerun"
		}
		switch policy {
		case "rerun":
			forget[st.ID] = true
			interrupted[st.ID] = true
		case "skip":
			rec.Status, rec.Outcome, rec.Conclusion = StepSkipped, StepSkipped, StepSkipped
			rec.Error = "interrupted, then skipped (on_resume: skip)"
		case "fail":
			rec.Status, rec.Outcome, rec.Conclusion = StepFailed, StepFailed, StepFailed
			rec.Error = "interrupted while it ran (on_resume: fail)"
		case "ask":
			asks = append(asks, st.ID)
		}
		if err := r.Store.SaveStep(ctx, rec); err != nil {
			return nil, err
		}
	}
	if len(asks) > 0 {
		msg := fmt.Sprintf("step %s was interrupted while it ran and may have done part of its work; check the repository, then run it again with: rbflow resume %s --yes (or skip it: rbflow resume %s --skip %s)",
			strings.Join(asks, ", "), run.ID, run.ID, asks[0])
		run.Status = RunWaiting
		if err := r.Store.UpdateRun(ctx, run); err != nil {
			return nil, err
		}
		return nil, &RunError{RunID: run.ID, Status: RunWaiting, Step: strings.Join(asks, ", "), Msg: msg, Err: ErrWaiting}
	}
	// on_failure and finally run again at the end of every execution.
	for _, st := range append(append([]*Step{}, plan.OnFailure...), plan.Finally...) {
		forget[st.ID] = true
	}
	// Steps that will run again take their skipped dependents with them:
	// a skip caused by an upstream failure is not a decision to keep.
	for _, st := range plan.Main {
		rec, ok := recs[st.ID]
		if ok && rec.Done() && !forget[st.ID] {
			continue
		}
		for _, d := range plan.descendants(st) {
			if dr, ok := recs[d.ID]; ok && dr.Status == StepSkipped {
				forget[d.ID] = true
			}
		}
	}
	ids := make([]string, 0, len(forget))
	for id := range forget {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := recs[id]; !ok {
			continue
		}
		if err := r.Store.DeleteStep(ctx, run.ID, id); err != nil {
			return nil, err
		}
		delete(recs, id)
	}
	for _, id := range opt.Skip {
		rec := &StepRecord{RunID: run.ID, StepID: id, Section: mustStep(plan, id).Section, Status: StepSkipped,
			Outcome: StepSkipped, Conclusion: StepSkipped, StartedAt: time.Now(), EndedAt: time.Now(),
			DefHash: mustStep(plan, id).DefHash, Error: "skipped with --skip"}
		if err := r.Store.SaveStep(ctx, rec); err != nil {
			return nil, err
		}
		recs[id] = rec
	}
	return interrupted, nil
}

func mustStep(p *Plan, id string) *Step {
	s, _ := p.Step(id)
	return s
}

// usageError is a wrong resume or retry option.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// IsUsage reports whether err is a wrong option given to the engine.
func IsUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func usageErr(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// descendants returns every step that (transitively) needs st, in plan order.
func (p *Plan) descendants(st *Step) []*Step {
	children := map[*Step][]*Step{}
	for _, s := range p.Steps() {
		for _, n := range s.Needs {
			children[n] = append(children[n], s)
		}
	}
	seen := map[*Step]bool{}
	var out []*Step
	var walk func(s *Step)
	walk = func(s *Step) {
		for _, c := range children[s] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(st)
	sort.Slice(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out
}

// execution is the state of one run while rbflow drives it.
type execution struct {
	r      *Runner
	plan   *Plan
	run    *Run
	runDir string
	mask   *masker
	env    map[string]string // procedure env, rendered
	base   string            // working directory base
	dry    bool              // a dry run: a step's dir may be made by an earlier step

	mu          sync.Mutex
	recs        map[string]*StepRecord
	waiting     []string // steps that stopped for a person
	waitMsgs    []string
	interrupted bool
	fatal       error // the store could not record a transition
	resumed     map[string]bool
}

func (r *Runner) emit(e Event) {
	if r.Observer != nil {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		r.Observer.Event(e)
	}
}

// execute drives the run to its end, or until it is interrupted or waits.
// how says how the execution began: started, resumed or retried.
// interrupted names steps that were cut off and now run again.
func (r *Runner) execute(ctx context.Context, plan *Plan, run *Run, recs map[string]*StepRecord, interrupted map[string]bool, how string) error {
	// Params come back from the store as JSON types ([]any, float64): give
	// them their declared types again (and defaults to params a reloaded
	// procedure added).
	params, err := ResolveParams(plan.Procedure, ParamInput{Given: run.Params})
	if err != nil {
		return fmt.Errorf("params of run %s: %w", run.ID, err)
	}
	run.Params = params
	x := &execution{r: r, plan: plan, run: run, recs: recs, resumed: interrupted}
	x.runDir = filepath.Join(r.StateDir, "runs", run.ID)
	if err := os.MkdirAll(x.runDir, 0o700); err != nil {
		return fmt.Errorf("create run folder: %w", err)
	}
	x.base = r.Repo
	if x.base == "" {
		x.base = r.WorkDir
	}
	x.mask = NewMask(plan.Procedure, run.Params)
	r.emit(Event{Kind: "run_started", RunID: run.ID, Procedure: run.Procedure, Target: run.Target.Seconds(), Status: string(RunRunning), Message: how, StartedAt: &run.StartedAt})

	// Procedure env may use params and host functions only.
	x.env = map[string]string{}
	envData := x.data(nil, eval.Status{Success: true})
	for _, e := range plan.Env {
		v, err := e.Value.Render(plan.eval.Env(envData))
		if err != nil {
			return x.finish(ctx, RunFailed, "", fmt.Errorf("env %s: %w", e.Name, err))
		}
		x.env[e.Name] = v
	}

	x.section(ctx, plan.Main, spec.SectionMain, false)

	status := RunSucceeded
	failedStep := x.firstFailed(plan.Main)
	if x.fatal != nil {
		return x.finish(ctx, RunInterrupted, "", x.fatal)
	}
	switch {
	case x.interrupted || ctx.Err() != nil:
		status = RunInterrupted
	case len(x.waiting) > 0:
		status = RunWaiting
	case failedStep != "":
		status = RunFailed
	}
	run.FailedStep = failedStep
	if status == RunFailed && len(plan.OnFailure) > 0 {
		x.section(ctx, plan.OnFailure, spec.SectionOnFailure, true)
	}
	if status != RunWaiting && len(plan.Finally) > 0 {
		fctx := ctx
		if ctx.Err() != nil {
			// After a signal, finally gets the grace period.
			var cancel context.CancelFunc
			fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), r.grace())
			defer cancel()
		}
		x.section(fctx, plan.Finally, spec.SectionFinally, status != RunSucceeded)
		if status == RunSucceeded {
			if f := x.firstFailed(plan.Finally); f != "" {
				status, run.FailedStep = RunFailed, f
			}
		}
	}
	return x.finish(ctx, status, run.FailedStep, nil)
}

func secretStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

func (r *Runner) grace() time.Duration {
	if r.Grace > 0 {
		return r.Grace
	}
	return 10 * time.Second
}

func (x *execution) firstFailed(steps []*Step) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range steps {
		if rec, ok := x.recs[s.ID]; ok && rec.Conclusion == StepFailed {
			return s.ID
		}
	}
	return ""
}

// finish records the run's end and turns it into the caller's error.
func (x *execution) finish(ctx context.Context, status RunStatus, step string, cause error) error {
	run := x.run
	run.Status = status
	if status.Finished() {
		run.EndedAt = time.Now()
	}
	// The run's end must be recorded even when ctx was cancelled by a signal.
	sctx := context.WithoutCancel(ctx)
	if err := x.r.Store.UpdateRun(sctx, run); err != nil {
		return fmt.Errorf("record end of run %s: %w", run.ID, err)
	}
	ev := Event{Kind: "run_finished", RunID: run.ID, Status: string(status), Step: step}
	var err error
	switch status {
	case RunSucceeded:
	case RunFailed:
		msg := ""
		if cause != nil {
			msg = x.mask.mask(cause.Error())
		} else if rec := x.recs[step]; rec != nil && rec.Error != "" {
			msg = rec.Error
		}
		err = &RunError{RunID: run.ID, Status: status, Step: step, Msg: msg, Err: ErrRunFailed}
	case RunInterrupted:
		err = &RunError{RunID: run.ID, Status: status, Msg: "finish it with: rbflow resume " + run.ID, Err: ErrInterrupted}
	case RunWaiting:
		err = &RunError{RunID: run.ID, Status: status, Step: strings.Join(x.waiting, ", "), Msg: strings.Join(x.waitMsgs, "; "), Err: ErrWaiting}
	}
	if err != nil {
		ev.Error = err.Error()
	}
	x.r.emit(ev)
	return err
}

// data builds the expression data for a step (nil: procedure level).
func (x *execution) data(st *Step, status eval.Status) *eval.Data {
	x.mu.Lock()
	steps := make(map[string]eval.StepState, len(x.recs))
	for id, rec := range x.recs {
		steps[id] = stepState(rec)
	}
	x.mu.Unlock()
	// Every declared step is visible, even before it ran.
	for _, s := range x.plan.Steps() {
		if _, ok := steps[s.ID]; !ok {
			steps[s.ID] = eval.StepState{Status: string(StepPending), Outputs: map[string]any{}}
		}
	}
	elapsed := time.Since(x.run.StartedAt).Seconds()
	return &eval.Data{
		Params: x.run.Params,
		Env:    x.env,
		Steps:  steps,
		Run: eval.RunState{
			ID: x.run.ID, Procedure: x.run.Procedure, Dir: x.runDir, Elapsed: elapsed,
			Target: x.run.Target.Seconds(), Status: string(x.run.Status), FailedStep: x.run.FailedStep,
		},
		Status: status,
		Funcs:  hostFuncs(x.r.Repo, x.base, x.env),
	}
}

func stepState(rec *StepRecord) eval.StepState {
	out := rec.Outputs
	if out == nil {
		out = map[string]any{}
	}
	d := 0.0
	if !rec.EndedAt.IsZero() && !rec.StartedAt.IsZero() {
		d = rec.EndedAt.Sub(rec.StartedAt).Seconds()
	}
	return eval.StepState{
		Status: string(rec.Status), Outcome: string(rec.Outcome), Conclusion: string(rec.Conclusion),
		ExitCode: rec.ExitCode, Outputs: out, Duration: d, Attempts: rec.Attempts,
	}
}

// section runs one section's steps as a DAG with at most Parallel at once.
// failed marks on_failure and finally after a failed run (failure() is true).
func (x *execution) section(ctx context.Context, steps []*Step, section string, runFailed bool) {
	parallel := x.r.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	started := map[string]bool{}
	done := make(chan string, len(steps))
	running := 0
	for {
		if ctx.Err() == nil && !x.halted(section) {
			for _, st := range steps {
				if running >= parallel {
					break
				}
				if started[st.ID] || x.recDone(st.ID) || !x.ready(st) {
					continue
				}
				started[st.ID] = true
				running++
				status := x.status(ctx, st, section, runFailed)
				go func(st *Step) {
					x.step(ctx, st, status)
					done <- st.ID
				}(st)
			}
		}
		if running == 0 {
			return
		}
		<-done
		running--
	}
}

// halted reports whether no new step may start: the store failed, or (in
// the main section) a step waits for a person.
func (x *execution) halted(section string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.fatal != nil || (section == spec.SectionMain && len(x.waiting) > 0)
}

func (x *execution) isWaiting() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.waiting) > 0
}

func (x *execution) recDone(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	rec, ok := x.recs[id]
	return ok && (rec.Done() || rec.Status.Terminal())
}

// ready reports whether every need of st has ended.
func (x *execution) ready(st *Step) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, n := range st.Needs {
		rec, ok := x.recs[n.ID]
		if !ok || !(rec.Done() || rec.Status.Terminal()) {
			return false
		}
	}
	return true
}

// status computes success() / failure() / cancelled() for st from its
// ancestors in its section (and, in on_failure and finally, the run).
func (x *execution) status(ctx context.Context, st *Step, section string, runFailed bool) eval.Status {
	x.mu.Lock()
	defer x.mu.Unlock()
	failed := false
	seen := map[*Step]bool{}
	var walk func(s *Step)
	walk = func(s *Step) {
		for _, n := range s.Needs {
			if seen[n] {
				continue
			}
			seen[n] = true
			if rec, ok := x.recs[n.ID]; ok && (rec.Conclusion == StepFailed || rec.Status == StepCancelled) {
				failed = true
			}
			walk(n)
		}
	}
	walk(st)
	cancelled := ctx.Err() != nil || x.interrupted
	if section == spec.SectionMain {
		return eval.Status{Success: !failed && !cancelled, Failure: failed, Cancelled: cancelled}
	}
	return eval.Status{Success: !failed, Failure: failed || runFailed, Cancelled: cancelled || x.run.Status == RunInterrupted}
}

// setRec stores a copy of a record in memory and in the store: the step's
// goroutine keeps changing its own, others read the copy.
func (x *execution) setRec(ctx context.Context, rec *StepRecord) error {
	cp := *rec
	x.mu.Lock()
	x.recs[rec.StepID] = &cp
	x.mu.Unlock()
	saved := cp
	return x.r.Store.SaveStep(context.WithoutCancel(ctx), &saved)
}

// step evaluates the condition and runs one step with its retries.
func (x *execution) step(ctx context.Context, st *Step, status eval.Status) {
	r := x.r
	data := x.data(st, status)
	env := x.plan.eval.Env(data)
	now := time.Now()
	rec := &StepRecord{RunID: x.run.ID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash, StartedAt: now}
	self := proc.Self()
	rec.PID, rec.PIDStart = self.PID, self.Start

	if st.If != nil {
		ok, err := st.If.Eval(env)
		if err != nil {
			x.fail(ctx, st, rec, 0, fmt.Errorf("if: %w", err))
			return
		}
		if !ok {
			rec.Status, rec.Outcome, rec.Conclusion = StepSkipped, StepSkipped, StepSkipped
			rec.EndedAt = now
			if err := x.setRec(ctx, rec); err != nil {
				x.storeFailed(st, err)
			}
			r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(StepSkipped)})
			return
		}
	} else if !status.Success {
		rec.Status, rec.Outcome, rec.Conclusion = StepSkipped, StepSkipped, StepSkipped
		rec.EndedAt = now
		rec.Error = "skipped: an earlier step failed"
		if status.Cancelled {
			rec.Error = "skipped: the run was interrupted"
		}
		if err := x.setRec(ctx, rec); err != nil {
			x.storeFailed(st, err)
		}
		r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(StepSkipped)})
		return
	}

	ex, err := x.exec(st, env)
	if err != nil {
		x.fail(ctx, st, rec, 0, err)
		return
	}
	// The running record is committed before any side effect.
	rec.Status = StepRunning
	logPath := filepath.Join(x.runDir, st.ID+".log")
	rec.LogPath = logPath
	if err := x.setRec(ctx, rec); err != nil {
		x.storeFailed(st, err)
		return
	}
	r.emit(Event{Kind: "step_started", RunID: x.run.ID, Step: st.ID, Status: string(StepRunning)})

	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		x.fail(ctx, st, rec, 0, fmt.Errorf("open log: %w", err))
		return
	}
	log := &stepLog{file: lf, mask: x.mask, onLine: func(line string) {
		r.emit(Event{Kind: "step_output", RunID: x.run.ID, Step: st.ID, Line: line})
	}}
	defer log.Close()
	ex.Log = log

	attempts := 1
	var delay time.Duration
	backoff := 1.0
	if st.Spec.Retry != nil {
		attempts, delay, backoff = st.Spec.Retry.Attempts, st.Spec.Retry.Delay, st.Spec.Retry.Backoff
	}
	var res Result
	var runErr error
	for attempt := 1; ; attempt++ {
		ex.Attempt = attempt
		log.Note("attempt %d started %s", attempt, time.Now().UTC().Format(time.RFC3339))
		_ = os.Remove(ex.OutputFile)
		if f, err := os.OpenFile(ex.OutputFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			f.Close()
		}
		res, runErr = x.attempt(ctx, st, ex)
		rec.Attempts = attempt
		if runErr == nil || ctx.Err() != nil || attempt >= attempts {
			break
		}
		if st.RetryIf != nil {
			rd := *data
			rd.Attempt = attempt
			rd.Result = eval.AttemptState{ExitCode: res.ExitCode, Error: runErr.Error(), Outputs: res.Outputs, Status: string(StepFailed)}
			again, err := st.RetryIf.Eval(x.plan.eval.Env(&rd))
			if err != nil {
				runErr = fmt.Errorf("%w (and retry.if: %v)", runErr, err)
				break
			}
			if !again {
				break
			}
		}
		wait := time.Duration(float64(delay) * math.Pow(backoff, float64(attempt-1)))
		log.Note("attempt %d failed: %v; retrying in %s", attempt, x.mask.mask(runErr.Error()), wait)
		r.emit(Event{Kind: "step_retry", RunID: x.run.ID, Step: st.ID, Attempt: attempt + 1, Error: x.mask.mask(runErr.Error()), Message: fmt.Sprintf("retrying in %s", wait)})
		_ = x.setRec(ctx, rec)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
	}
	rec.ExitCode = res.ExitCode
	rec.Outputs = res.Outputs
	rec.Tail = log.Tail()
	rec.EndedAt = time.Now()
	switch {
	case errors.Is(runErr, errWaiting):
		rec.Status, rec.Outcome, rec.Conclusion = StepWaiting, StepWaiting, StepWaiting
		rec.Error = x.mask.mask(runErr.Error())
		x.mu.Lock()
		x.waiting = append(x.waiting, st.ID)
		x.waitMsgs = append(x.waitMsgs, rec.Error)
		x.mu.Unlock()
	case runErr != nil && ctx.Err() != nil:
		rec.Status, rec.Outcome, rec.Conclusion = StepInterrupted, StepInterrupted, StepInterrupted
		rec.Error = "interrupted"
		x.mu.Lock()
		x.interrupted = true
		x.mu.Unlock()
	case runErr != nil:
		rec.Status, rec.Outcome, rec.Conclusion = StepFailed, StepFailed, StepFailed
		if st.Spec.ContinueOnError {
			rec.Conclusion = StepSucceeded
		}
		rec.Error = x.mask.mask(runErr.Error())
	default:
		rec.Status, rec.Outcome, rec.Conclusion = StepSucceeded, StepSucceeded, StepSucceeded
	}
	if err := x.setRec(ctx, rec); err != nil {
		x.storeFailed(st, err)
	}
	code := rec.ExitCode
	r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(rec.Status), ExitCode: &code,
		Outputs: x.mask.maskAny(rec.Outputs).(map[string]any), Error: rec.Error, Attempt: rec.Attempts})
}

// errWaiting is returned by actions that need a person (a prompt with no
// answer in a non-interactive session).
var errWaiting = ErrWaiting

// NeedPerson returns the error an action returns to stop the run resumably
// until a person answers; msg says what to run.
func NeedPerson(msg string) error { return fmt.Errorf("%w: %s", ErrWaiting, msg) }

// attempt runs the action once with the step's timeout and collects outputs.
func (x *execution) attempt(ctx context.Context, st *Step, ex *Exec) (Result, error) {
	actx := ctx
	if st.Spec.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, st.Spec.Timeout, fmt.Errorf("timed out after %s", st.Spec.Timeout))
		defer cancel()
	}
	res, err := st.Action.Execute(actx, ex)
	if res.Outputs == nil {
		res.Outputs = map[string]any{}
	}
	fileOut, perr := ParseOutputs(ex.OutputFile)
	// Outputs live on in the store; the file may hold secrets.
	_ = os.Remove(ex.OutputFile)
	if perr != nil {
		if err == nil {
			err = perr
		}
	}
	for k, v := range fileOut {
		res.Outputs[k] = v
	}
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = context.Cause(actx)
	}
	return res, err
}

// exec prepares what the action sees.
func (x *execution) exec(st *Step, env *eval.Env) (*Exec, error) {
	dir := x.base
	if st.Dir != nil {
		d, err := st.Dir.Render(env)
		if err != nil {
			return nil, fmt.Errorf("dir: %w", err)
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(x.base, d)
		}
		dir = d
	}
	if st.Dir != nil && !x.dry {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("dir %s does not exist", dir)
		}
	}
	vars := map[string]string{}
	for k, v := range x.env {
		vars[k] = v
	}
	for _, e := range st.Env {
		v, err := e.Value.Render(env)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		vars[e.Name] = v
	}
	for _, pm := range x.plan.Procedure.Params {
		vars["RBFLOW_PARAM_"+strings.ToUpper(pm.Name)] = paramEnv(x.run.Params[pm.Name])
	}
	out := filepath.Join(x.runDir, st.ID+".out")
	vars["RBFLOW_RUN_ID"] = x.run.ID
	vars["RBFLOW_RUN_DIR"] = x.runDir
	vars["RBFLOW_STEP"] = st.ID
	vars["RBFLOW_OUTPUT"] = out
	vars["RBFLOW_REPO"] = x.r.Repo
	envList := os.Environ()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		envList = append(envList, k+"="+vars[k])
	}
	ex := &Exec{
		RunID: x.run.ID, StepID: st.ID, Procedure: x.run.Procedure, Repo: x.r.Repo, Dir: dir,
		RunDir: x.runDir, StateDir: x.r.StateDir, Env: envList, Grace: x.r.grace(), Store: x.r.Store,
		OutputFile: out, Resumed: x.resumed[st.ID],
		env: env, mask: x.mask.mask, maskObj: x.mask, host: x.r.Host, hurry: x.r.Hurry, runner: x.r, plan: x.plan,
	}
	return ex, nil
}

func paramEnv(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(x, "\n")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, "\n")
	}
	return fmt.Sprint(v)
}

func (x *execution) fail(ctx context.Context, st *Step, rec *StepRecord, code int, err error) {
	rec.Status, rec.Outcome, rec.Conclusion = StepFailed, StepFailed, StepFailed
	if st.Spec.ContinueOnError {
		rec.Conclusion = StepSucceeded
	}
	rec.ExitCode = code
	rec.Error = x.mask.mask(err.Error())
	rec.EndedAt = time.Now()
	if serr := x.setRec(ctx, rec); serr != nil {
		x.storeFailed(st, serr)
	}
	x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(StepFailed), Error: rec.Error})
}

// storeFailed stops the run: without its records it could not be resumed.
func (x *execution) storeFailed(st *Step, err error) {
	x.mu.Lock()
	if x.fatal == nil {
		x.fatal = &StepError{Step: st.ID, Err: fmt.Errorf("cannot record step state: %w", err)}
	}
	x.mu.Unlock()
}
