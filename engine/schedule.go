package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/spec"
)

// execution is the state of one run while rbflow drives it.
type execution struct {
	r       *Runner
	plan    *Plan
	run     *Run
	runDir  string
	mask    *Mask
	env     map[string]string // procedure env, rendered
	base    string            // working directory base
	repo    *git.Repo         // the repository, for expression functions (nil outside git)
	answers map[string]Answer // prompt answers: stored with the run and given now
	dry     bool              // a dry run: a step's dir may be made by an earlier step

	mu          sync.Mutex
	recs        map[string]*StepRecord
	waiting     []string // steps that stopped for a person
	waitMsgs    []string
	interrupted bool
	fatal       error // the store could not record a transition
	resumed     map[string]bool
	above       map[*Step]bool // failedAbove of ended steps
	// deadlineStopped holds the steps the procedure's deadline stopped.
	deadlineStopped map[string]bool
	// stopMain stops the main steps as the operator asked (a gate answered no).
	stopMain context.CancelCauseFunc
	notify   *notifier // the procedure's notification hooks; nil when it has none

	// A host step (hoststep.go): single is the one attempt to make (0: a
	// local run, which makes them all), decided that the step's if: was
	// decided by the scheduler, retry that the failed attempt may be
	// followed by another.
	single  int
	decided bool
	retry   bool
}

// newExecution prepares the state of an execution of run: params typed as
// the plan declares them, the run folder, the mask and the procedure env.
func (r *Runner) newExecution(ctx context.Context, plan *Plan, run *Run, recs map[string]*StepRecord, runDir string) (*execution, error) {
	// Params come back from the store as JSON types ([]any, float64): give
	// them their declared types again (and defaults to params a reloaded
	// procedure added).
	params, err := ResolveParams(plan.Procedure, ParamInput{Given: run.Params})
	if err != nil {
		return nil, fmt.Errorf("params of run %s: %w", run.ID, err)
	}
	run.Params = params
	x := &execution{r: r, plan: plan, run: run, recs: recs, runDir: runDir, base: r.Repo}
	if x.base == "" {
		x.base = r.WorkDir
	}
	if r.Repo != "" {
		x.repo, _ = git.Open(ctx, r.Repo)
	}
	x.mask = NewMask(plan.Procedure, run.Params).With(r.parentMask)
	x.env = map[string]string{}
	data := x.data(ctx, nil, eval.Status{Success: true})
	for _, e := range plan.Env {
		v, err := e.Value.Render(plan.eval.Env(data))
		if err != nil {
			return x, fmt.Errorf("env %s: %w", e.Name, err)
		}
		x.env[e.Name] = v
	}
	return x, nil
}

// execute drives the run to its end, or until it is interrupted or waits.
// how says how the execution began (started, resumed, retried); interrupted
// names steps that were cut off and now run again.
func (r *Runner) execute(ctx context.Context, plan *Plan, run *Run, recs map[string]*StepRecord, interrupted map[string]bool, how string, answers map[string]Answer) error {
	runDir := filepath.Join(r.StateDir, "runs", run.ID)
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return fmt.Errorf("create run folder: %w", err)
	}
	x, err := r.newExecution(ctx, plan, run, recs, runDir)
	if x == nil {
		return err
	}
	x.resumed, x.answers = interrupted, answers
	r.emit(Event{Kind: "run_started", RunID: run.ID, Procedure: run.Procedure, Target: run.Target.Seconds(), Deadline: plan.Procedure.Deadline.Seconds(), Status: string(RunRunning), Message: how, StartedAt: &run.StartedAt})
	x.notify = x.startNotifier(ctx)
	if err != nil {
		return x.finish(ctx, RunFailed, "", err)
	}
	x.notify.fire(ctx, spec.NotifyStart, RunRunning, "")

	// The main steps run under the procedure's deadline, counted from
	// this execution's start: a run resumed the next morning gets its
	// whole deadline again (as a Temporal workflow run's timeout does).
	mctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	x.mu.Lock()
	x.stopMain = stop
	x.mu.Unlock()
	if d := plan.Procedure.Deadline; d > 0 {
		var cancel context.CancelFunc
		mctx, cancel = context.WithTimeoutCause(ctx, d, &deadlineError{Deadline: d, How: how})
		defer cancel()
	}
	x.section(mctx, plan.Main, spec.SectionMain, false)

	failedStep := x.firstFailed(plan.Main)
	if x.fatal != nil {
		return x.finish(ctx, RunInterrupted, "", x.fatal)
	}
	status := RunSucceeded
	cut := x.deadlineCut(mctx)
	var byOperator *operatorStop
	switch {
	case x.interrupted || ctx.Err() != nil && !deadlinePassed(ctx):
		status = RunInterrupted
		x.interrupted = true // for cancelled() in finally
	case len(x.waiting) > 0:
		status = RunWaiting
	case errors.As(context.Cause(mctx), &byOperator):
		status, cut = RunCancelled, x.stopCut(byOperator)
	case cut != nil:
		status = RunFailed
		if stopped := x.stoppedByDeadline(); len(stopped) > 0 {
			failedStep = stopped[0]
		}
	case failedStep != "":
		status = RunFailed
	}
	x.mu.Lock()
	run.FailedStep = failedStep
	x.mu.Unlock()
	if status == RunFailed {
		// Told before on_failure runs: people hear of it at once.
		x.notify.fire(ctx, spec.NotifyFailure, status, failedStep)
	}
	// After a signal or the deadline, on_failure and finally get the grace
	// period (a signal during it still stops them).
	ectx := ctx
	if ctx.Err() != nil || cut != nil && byOperator == nil {
		base := ctx
		if ctx.Err() != nil {
			base = context.WithoutCancel(ctx)
		}
		var cancel context.CancelFunc
		ectx, cancel = context.WithTimeout(base, r.grace())
		defer cancel()
	}
	if status == RunFailed && len(plan.OnFailure) > 0 {
		x.section(ectx, plan.OnFailure, spec.SectionOnFailure, true)
	}
	if status != RunWaiting && len(plan.Finally) > 0 {
		x.section(ectx, plan.Finally, spec.SectionFinally, status != RunSucceeded)
		if status == RunSucceeded {
			if f := x.firstFailed(plan.Finally); f != "" {
				status, failedStep = RunFailed, f
			}
		}
	}
	return x.finish(ctx, status, failedStep, cut)
}

// deadlineError is the cause of the main steps' context when the
// procedure's deadline passes.
type deadlineError struct {
	Deadline time.Duration
	How      string // how the execution began: started, resumed, retried (attempt N)
}

func (e *deadlineError) Error() string {
	since := "started"
	if e.How != "started" {
		since = "was " + strings.Fields(e.How)[0]
	}
	return fmt.Sprintf("deadline %s passed %s after the run %s", e.Deadline, e.Deadline, since)
}

// operatorStop is the cause of the main steps' context when a gate (a
// confirm prompt with gate: true) was answered no: the operator stopped
// the run.
type operatorStop struct{ Step, Answer string }

func (e *operatorStop) Error() string {
	return fmt.Sprintf("stopped by the operator: the gate %s was answered %s", e.Step, e.Answer)
}

// StopRun stops the run as stopped by the operator (a gate answered no):
// main steps not yet started do not start, running ones get the grace
// period, on_failure does not run, finally does, and the run ends
// cancelled (exit 1, not resumable: rbflow retry runs it again).
func (x *Exec) StopRun(answer string) {
	x.x.mu.Lock()
	stop := x.x.stopMain
	x.x.mu.Unlock()
	if stop != nil {
		stop(&operatorStop{Step: x.StepID, Answer: answer})
	}
}

// stopCut says what an operator's stop kept from running.
func (x *execution) stopCut(stop *operatorStop) error {
	msg := stop.Error()
	var left []string
	for _, st := range x.plan.Main {
		if !x.ended(st.ID) {
			left = append(left, st.ID)
		}
	}
	if stopped := x.stoppedByDeadline(); len(stopped) > 0 {
		msg += "; stopped step " + strings.Join(stopped, ", ")
	}
	if len(left) > 0 {
		msg += "; not run: " + strings.Join(left, ", ")
	}
	return errors.New(msg)
}

// deadlinePassed reports whether ctx was stopped by a run's deadline
// (this run's, or its parent's for a child run) or by the operator at a
// gate, rather than by a signal.
func deadlinePassed(ctx context.Context) bool {
	var d *deadlineError
	var o *operatorStop
	return ctx.Err() != nil && (errors.As(context.Cause(ctx), &d) || errors.As(context.Cause(ctx), &o))
}

// deadlineCut is the error of a run whose deadline stopped something: it
// says which deadline passed, the steps that were running, and the main
// steps it kept from starting. It is nil when the deadline did not pass
// or passed only after the main steps had ended.
func (x *execution) deadlineCut(ctx context.Context) error {
	if !deadlinePassed(ctx) {
		return nil
	}
	msg := context.Cause(ctx).Error()
	stopped := x.stoppedByDeadline()
	if len(stopped) > 0 {
		msg += "; stopped step " + strings.Join(stopped, ", ")
	}
	var left []string
	for _, st := range x.plan.Main {
		if !x.ended(st.ID) {
			left = append(left, st.ID)
		}
	}
	if len(stopped) == 0 && len(left) == 0 {
		return nil
	}
	if len(left) > 0 {
		msg += "; not started: " + strings.Join(left, ", ")
	}
	return errors.New(msg)
}

// stoppedByDeadline lists, in plan order, the main steps the deadline stopped.
func (x *execution) stoppedByDeadline() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var ids []string
	for _, st := range x.plan.Main {
		if x.deadlineStopped[st.ID] {
			ids = append(ids, st.ID)
		}
	}
	return ids
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

// finish runs the plan's run-end hooks, records how the run ended and turns
// that into the caller's error.
func (x *execution) finish(ctx context.Context, status RunStatus, step string, cause error) error {
	run := x.run
	// The run's end is recorded even when ctx was cancelled by a signal.
	sctx := context.WithoutCancel(ctx)
	if run.ParentRun == "" {
		// Under the lock and before the run is recorded as ended: a kill in
		// between leaves a run that resume ends again, hooks included.
		for _, h := range x.plan.hooks() {
			if err := h(sctx, x.r.Store, run); err != nil {
				x.r.emit(Event{Kind: "run_warning", RunID: run.ID, Message: x.mask.String(err.Error())})
			}
		}
	}
	hookWarnings := x.notify.end(sctx, status, step)
	run.end(status, step, time.Now())
	if err := x.r.Store.UpdateRun(sctx, run); err != nil {
		if x.fatal != nil {
			return fmt.Errorf("run %s stopped: %w; its end could not be recorded either: rbflow resume %s once the store can write", run.ID, x.fatal, run.ID)
		}
		return fmt.Errorf("record end of run %s: %w", run.ID, err)
	}
	ev := Event{Kind: "run_finished", RunID: run.ID, Status: string(status), Step: step}
	var err error
	switch status {
	case RunSucceeded:
		x.mu.Lock()
		recs := make([]*StepRecord, 0, len(x.recs))
		for _, st := range x.plan.Steps() {
			if rec, ok := x.recs[st.ID]; ok {
				recs = append(recs, rec)
			}
		}
		x.mu.Unlock()
		for _, w := range Warnings(recs) {
			ev.Warnings = append(ev.Warnings, x.mask.String(w))
		}
		ev.Warnings = append(ev.Warnings, hookWarnings...)
	case RunFailed:
		msg := ""
		if cause != nil {
			msg = x.mask.String(cause.Error())
		} else if rec := x.recs[step]; rec != nil && rec.Error != "" {
			msg = rec.Error
			if exitOnly().MatchString(msg) {
				// An exit status says nothing: what the step said last
				// is why it failed.
				if last := lastOutput(rec.Tail, 3); last != "" {
					msg += "; its last output:\n" + last
				}
			}
		}
		err = &RunError{RunID: run.ID, Status: status, Step: step, Msg: msg, Err: ErrRunFailed}
	case RunInterrupted:
		msg := "finish it with: rbflow resume " + run.ID
		if cause != nil {
			msg = x.mask.String(cause.Error()) + "; " + msg
		}
		kind := ErrInterrupted
		if x.fatal != nil {
			kind = ErrStoreFailed // not a signal: exit 1, not 130
		}
		err = &RunError{RunID: run.ID, Status: status, Msg: msg, Err: kind}
	case RunWaiting:
		err = &RunError{RunID: run.ID, Status: status, Step: joinIDs(x.waiting), Msg: strings.Join(x.waitMsgs, "; "), Err: ErrWaiting}
	case RunCancelled:
		msg := ""
		if cause != nil {
			msg = x.mask.String(cause.Error())
		}
		err = &RunError{RunID: run.ID, Status: status, Msg: msg, Err: ErrRunFailed}
	}
	if err != nil {
		ev.Error = err.Error()
	}
	x.r.emit(ev)
	return err
}

// data builds the expression data for a step (nil: procedure level).
func (x *execution) data(ctx context.Context, st *Step, status eval.Status) *eval.Data {
	var steps map[string]eval.StepState
	if st != nil && st.refs != nil && !st.refs.All {
		// Only the steps the expressions name: a step costs the same
		// however many came before it.
		steps = make(map[string]eval.StepState, len(st.refs.IDs))
		x.mu.Lock()
		for id := range st.refs.IDs {
			if rec, ok := x.recs[id]; ok {
				steps[id] = stepState(rec)
			} else {
				steps[id] = eval.StepState{Status: string(StepPending), Outputs: map[string]any{}}
			}
		}
		x.mu.Unlock()
	} else {
		x.mu.Lock()
		steps = make(map[string]eval.StepState, len(x.recs))
		for id, rec := range x.recs {
			if _, _, item := ItemOf(id); !item {
				steps[id] = stepState(rec)
			}
		}
		x.mu.Unlock()
		// Every declared step is visible, even before it ran.
		for _, s := range x.plan.Steps() {
			if _, ok := steps[s.ID]; !ok {
				steps[s.ID] = eval.StepState{Status: string(StepPending), Outputs: map[string]any{}}
			}
		}
	}
	elapsed := time.Since(x.run.StartedAt).Seconds()
	// A notification hook reads them from its own goroutine.
	x.mu.Lock()
	runStatus, failedStep := string(x.run.Status), x.run.FailedStep
	x.mu.Unlock()
	return &eval.Data{
		Params: x.run.Params,
		Env:    x.env,
		Steps:  steps,
		Run: eval.RunState{
			ID: x.run.ID, Procedure: x.run.Procedure, Dir: x.runDir, Elapsed: elapsed,
			Target: x.run.Target.Seconds(), Status: runStatus, FailedStep: failedStep,
		},
		Status: status,
		Funcs:  hostFuncs(ctx, x.repo, x.base, x.env),
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
// runFailed marks on_failure and finally after a failed run (failure() is
// true).
func (x *execution) section(ctx context.Context, steps []*Step, section string, runFailed bool) {
	parallel := x.parallel()
	started := map[string]bool{}
	done := make(chan string, len(steps))
	running := 0
	// Each step waits for as many of its needs as have not ended; a step
	// that ends counts down those that need it. The ready ones start in
	// the order the file gives, so a run's cost per step does not grow with
	// its length (it looked at every step each time one ended).
	index := make(map[string]int, len(steps))
	for i, st := range steps {
		index[st.ID] = i
	}
	waits := make([]int, len(steps))
	dependents := map[string][]int{}
	for i, st := range steps {
		for _, n := range st.Needs {
			if !x.ended(n.ID) {
				waits[i]++
				dependents[n.ID] = append(dependents[n.ID], i)
			}
		}
	}
	var ready []int // indexes of steps whose needs have all ended, in order
	for i := range steps {
		if waits[i] == 0 {
			ready = append(ready, i)
		}
	}
	for {
		if ctx.Err() == nil && !x.halted(section) {
			kept := ready[:0]
			for k, i := range ready {
				st := steps[i]
				if running >= parallel {
					kept = append(kept, ready[k:]...)
					break
				}
				if started[st.ID] || x.ended(st.ID) {
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
			ready = kept
			if running == 0 && x.readyByLook(steps, started, &ready) {
				continue
			}
		}
		if running == 0 {
			return
		}
		id := <-done
		running--
		if !x.ended(id) { // waiting for a person, or cut off: its dependents wait
			continue
		}
		for _, i := range dependents[id] {
			if waits[i]--; waits[i] == 0 {
				ready = insertSorted(ready, i)
			}
		}
	}
}

// readyByLook looks once over every step for one that has not started and
// whose needs have all ended, should one have ended without its end
// counted (a record written outside this section's steps): the section is
// about to end, and this is what it used to ask each time. It reports
// whether it added any to ready.
func (x *execution) readyByLook(steps []*Step, started map[string]bool, ready *[]int) bool {
	added := false
	for i, st := range steps {
		if !started[st.ID] && !x.ended(st.ID) && x.ready(st) && !slices.Contains(*ready, i) {
			*ready = insertSorted(*ready, i)
			added = true
		}
	}
	return added
}

// insertSorted inserts i into the ascending list.
func insertSorted(list []int, i int) []int {
	k, _ := slices.BinarySearch(list, i)
	return slices.Insert(list, k, i)
}

// halted reports whether no new step may start: the store failed, or (in
// the main section) a step waits for a person.
func (x *execution) halted(section string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.fatal != nil || (section == spec.SectionMain && len(x.waiting) > 0)
}

// ended reports whether a step has ended in this execution or before it.
func (x *execution) ended(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	rec, ok := x.recs[id]
	return ok && rec.ended()
}

// ready reports whether every need of st has ended.
func (x *execution) ready(st *Step) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, n := range st.Needs {
		rec, ok := x.recs[n.ID]
		if !ok || !rec.ended() {
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
	failed := x.failedAbove(st, map[*Step]bool{})
	cancelled := ctx.Err() != nil || x.interrupted
	if section == spec.SectionMain {
		return eval.Status{Success: !failed && !cancelled, Failure: failed, Cancelled: cancelled}
	}
	return eval.Status{Success: !failed, Failure: failed || runFailed, Cancelled: cancelled}
}

// failedAbove reports whether a step st needs, directly or through others,
// failed or was cancelled. What it finds for an ended step is remembered
// (the steps above an ended step have ended too), so a long chain costs
// O(needs) per step, not O(ancestors); seen holds what this call found
// for steps not ended. x.mu must be held.
func (x *execution) failedAbove(st *Step, seen map[*Step]bool) bool {
	if v, ok := x.above[st]; ok {
		return v
	}
	if v, ok := seen[st]; ok {
		return v
	}
	failed := false
	for _, n := range st.Needs {
		rec, ok := x.recs[n.ID]
		if ok && (rec.Conclusion == StepFailed || rec.Status == StepCancelled) || x.failedAbove(n, seen) {
			failed = true
			break
		}
	}
	if rec, ok := x.recs[st.ID]; ok && rec.ended() {
		if x.above == nil {
			x.above = map[*Step]bool{}
		}
		x.above[st] = failed
	}
	seen[st] = failed
	return failed
}

// exitOnly matches a step error that ends with an exit status, and says
// no more: what the step printed last is why it failed.
var exitOnly = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(^|: )exit status -?\d+$`) })

// lastOutput returns the last n non-blank lines of a step's output tail
// (rbflow's own markers left out), each indented.
func lastOutput(tail string, n int) string {
	var out []string
	lines := strings.Split(tail, "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimRight(lines[i], " \t\r")
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "::rbflow::") {
			continue
		}
		out = append(out, "  "+l)
	}
	slices.Reverse(out)
	return strings.Join(out, "\n")
}
