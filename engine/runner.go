package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/spec"
)

// Event is one thing that happened in a run, for live views and --json.
type Event struct {
	Kind  string    `json:"event"` // run_started, run_notice, step_started, step_output, step_progress, step_retry, step_finished, run_warning, run_finished
	RunID string    `json:"run_id"`
	Time  time.Time `json:"time"`
	Step  string    `json:"step,omitempty"`
	// Item is the index of the item a step_* event is about, in a step
	// with for_each (nil: the step itself).
	Item     *int           `json:"item,omitempty"`
	Status   string         `json:"status,omitempty"`
	ExitCode *int           `json:"exit_code,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Line     string         `json:"line,omitempty"`
	Error    string         `json:"error,omitempty"`
	Attempt  int            `json:"attempt,omitempty"`
	Message  string         `json:"message,omitempty"`
	Progress *Progress      `json:"progress,omitempty"` // step_progress
	Warnings []string       `json:"warnings,omitempty"` // run_finished of a run that succeeded with warnings
	// Procedure, Target and Deadline are set on run_started; the deadline
	// counts from this event's time (each start, resume or retry).
	Procedure string     `json:"procedure,omitempty"`
	Target    float64    `json:"target_seconds,omitempty"`
	Deadline  float64    `json:"deadline_seconds,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
}

// Observer receives a run's events. Calls may come from several goroutines.
type Observer interface {
	Event(e Event)
}

// LineSampler is an Observer that shows only the last lines of a step's
// output (a live view, a quiet one): it gets the last lines of each block
// the step prints, not every line, which spares a step that prints a
// gigabyte an event per line.
type LineSampler interface {
	SamplesLines() bool
}

// allLines reports whether the observer wants every output line.
func (r *Runner) allLines() bool {
	s, ok := r.Observer.(LineSampler)
	return !ok || !s.SamplesLines()
}

// Runner executes plans against a store: it starts, resumes, retries and
// cancels runs. One Runner drives one run at a time.
type Runner struct {
	Store    Store
	Loader   *Loader // compiles a stored run's text on resume, and what call steps name
	StateDir string
	Repo     string // repository root; "" outside git
	WorkDir  string // base for relative dirs outside git
	Parallel int
	Grace    time.Duration   // SIGTERM to SIGKILL, and the time finally gets after a signal
	Hurry    <-chan struct{} // closed on a second Ctrl-C: kill at once
	Observer Observer
	// Answers are the prompt answers given for this command (--answer
	// STEP=VALUE). They are stored with the run as it starts or is
	// resumed, and stand over answers stored earlier.
	Answers  map[string]string
	Yes      bool     // --yes: confirm prompts, and rerun steps whose on_resume is ask
	Prompter Prompter // nil when there is no terminal to ask on
	// AnswerWith is the command, up to STEP=VALUE, that answers a prompt
	// of this runner's runs when they wait for a person; empty: rbflow
	// resume RUN --answer, or rbflow answer from another shell. A fleet
	// host's runs are answered through Temporal.
	AnswerWith string
	// Actor is who drives the runner, recorded with the runs it starts,
	// their step attempts and the answers given with --answer; zero means
	// CurrentActor.
	Actor Actor

	// SecretSets are --set NAME=VALUE given to resume or retry for secret
	// params: the store does not keep their values (SPEC §4.1).
	SecretSets []string

	// Supervisor, when set, is the supervisor the run's commands start
	// through (Start, Resume, Retry), given by the caller: for a new run,
	// one started ahead (Prestart), so that rbflow starting again overlaps
	// with loading the procedure. The run hands it the lock to hold, and
	// begins to end it when the run ends; the caller's Close waits until
	// it is gone (and ends it when no run took it), after closing the
	// store, say. nil: the run makes its own and waits for it.
	Supervisor *proc.Supervisor

	nested     bool              // a child run: the parent holds the lock
	inherited  map[string]Answer // a child run's parent's answers
	parentMask *Mask             // a child run's parent's secrets
	given      map[string]any    // a resumed child's params, as its parent gives them now
}

// NewRunID returns a sortable, time-ordered run id.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// newRun is the record of a new run of plan.
func (r *Runner) newRun(plan *Plan, params map[string]any, sourcePath string, now time.Time) *Run {
	return &Run{
		ID:         NewRunID(now),
		Procedure:  plan.Name(),
		Source:     string(plan.Procedure.Text),
		SourcePath: sourcePath,
		Hash:       plan.Hash,
		Params:     params,
		Repo:       r.Repo,
		StateDir:   r.StateDir,
		StartedAt:  now,
		Target:     plan.Procedure.Target,
		Actor:      r.actor(),
	}
}

// actor is who drives the runner.
func (r *Runner) actor() Actor {
	if r.Actor == (Actor{}) {
		return CurrentActor()
	}
	return r.Actor
}

// givenAnswers are the answers given to this command (--answer) as records, at
// now, with secret values masked.
func (r *Runner) givenAnswers(runID string, m *Mask, now time.Time) []Answer {
	out := make([]Answer, 0, len(r.Answers))
	for step, v := range r.Answers {
		out = append(out, Answer{RunID: runID, StepID: step, Value: m.String(v), Source: AnswerFlag, Actor: r.actor(), At: now})
	}
	return out
}

// Start creates and executes a new run of plan. The run is returned even
// when it did not succeed; the error says how it ended (a *RunError).
func (r *Runner) Start(ctx context.Context, plan *Plan, params map[string]any, sourcePath string) (*Run, error) {
	if err := plan.CheckAnswers(r.Answers); err != nil {
		return nil, err
	}
	// SPEC §4.1: outside a git repository a procedure that uses git refuses
	// before anything runs, instead of failing at its first git step.
	if st, how := plan.GitStep(); r.Repo == "" && st != nil {
		wd := r.WorkDir
		if wd == "" {
			wd = "."
		}
		return nil, usageErr("%s is not a git repository, and procedure %s uses git (step %s, %s): nothing was run; run it inside a git work tree or pass --repo DIR", wd, plan.Name(), st.ID, how)
	}
	run := r.newRun(plan, params, sourcePath, time.Now())
	return run, r.start(ctx, plan, run)
}

// start records a prepared new run, with the answers given for it, and
// executes it.
func (r *Runner) start(ctx context.Context, plan *Plan, run *Run) error {
	lock, err := r.lock(run.Repo, run.ID, r.Supervisor)
	if err != nil {
		return err
	}
	defer lock.Release()
	ctx = lock.Context(ctx)
	lock.Prestart()
	run.begin(proc.Self())
	var stored []Answer
	mask := NewMask(plan.Procedure, run.Params).With(r.parentMask)
	answers := r.inherited // a child run uses its parent's
	if !r.nested {
		stored = r.givenAnswers(run.ID, mask, time.Now())
		answers = make(map[string]Answer, len(stored))
		for _, a := range stored {
			a.Value = r.Answers[a.StepID]
			answers[a.StepID] = a
		}
	}
	kept := *run
	kept.Params = keptParams(plan.Procedure, run.Params, mask)
	if err := r.Store.CreateRun(ctx, &kept, stored); err != nil {
		return fmt.Errorf("record run: %w", err)
	}
	return r.execute(ctx, plan, run, map[string]*StepRecord{}, nil, "started", answers)
}

func (r *Runner) lock(repo, runID string, sup *proc.Supervisor) (*Lock, error) {
	if r.nested {
		return nil, nil
	}
	if r.StateDir == "" {
		return nil, errors.New("engine: runner without a state folder")
	}
	return acquireLock(r.StateDir, repo, runID, sup)
}

// ResumeOptions steer a resume or a retry.
type ResumeOptions struct {
	From string   // run this step and everything after it again
	Skip []string // mark these steps skipped
	// Reload takes the procedure file as it is now instead of the text the
	// run started with: steps whose definition changed run again, and the
	// run keeps the new text.
	Reload bool
}

// Resume finishes an unfinished run: steps that succeeded stand, failed
// and interrupted ones run again (by their on_resume), later ones run.
func (r *Runner) Resume(ctx context.Context, runID string, opt ResumeOptions) (*Run, error) {
	return r.continueRun(ctx, runID, opt, false)
}

// Retry starts a new attempt (generation) of a finished run, same run id:
// failed and later steps run again, or everything from opt.From.
func (r *Runner) Retry(ctx context.Context, runID string, opt ResumeOptions) (*Run, error) {
	return r.continueRun(ctx, runID, opt, true)
}

func (r *Runner) continueRun(ctx context.Context, runID string, opt ResumeOptions, retry bool) (*Run, error) {
	run, err := r.Store.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	lock, err := r.lock(run.Repo, run.ID, r.Supervisor)
	if err != nil {
		return run, err
	}
	defer lock.Release()
	ctx = lock.Context(ctx)
	// Read again under the lock: the owner may have finished meanwhile.
	if run, err = r.Store.Run(ctx, run.ID); err != nil {
		return nil, err
	}
	if err := r.canContinue(run, retry); err != nil {
		return run, err
	}
	plan, err := r.runPlan(run, opt.Reload)
	if err != nil {
		return run, err
	}
	if !r.nested {
		if err := plan.CheckAnswers(r.Answers); err != nil {
			return run, err
		}
	}
	if run.Params, err = r.resumedParams(plan, run); err != nil {
		return run, err
	}
	recs, err := r.records(ctx, run.ID)
	if err != nil {
		return run, err
	}
	d, err := decideResume(plan, recs, opt, r.Yes, time.Now())
	if err != nil {
		return run, err
	}
	if err := d.apply(ctx, r.Store, run.ID, recs); err != nil {
		return run, err
	}
	if len(d.asks) > 0 {
		run.end(RunWaiting, "", time.Now())
		if err := r.Store.UpdateRun(ctx, run); err != nil {
			return run, err
		}
		return run, &RunError{RunID: run.ID, Status: RunWaiting, Step: joinIDs(d.asks), Msg: d.askMessage(run.ID), Err: ErrWaiting}
	}
	lock.Prestart()
	answers, err := r.answers(ctx, run.ID, NewMask(plan.Procedure, run.Params).With(r.parentMask))
	if err != nil {
		return run, err
	}
	if !retry && run.Status == RunFailed && len(plan.Notifications) > 0 {
		// The run's failure and end were told; resumed, it will fail or
		// finish anew, and that is told too.
		if err := r.Store.ForgetNotifications(ctx, run.ID, run.Generation, []string{spec.NotifyFailure, spec.NotifyFinish}); err != nil {
			return run, err
		}
	}
	run.reopen(proc.Self(), retry)
	if opt.Reload {
		run.Source, run.Hash = string(plan.Procedure.Text), plan.Hash
	}
	if err := r.Store.UpdateRun(ctx, run); err != nil {
		return run, err
	}
	how := "resumed"
	if retry {
		how = fmt.Sprintf("retried (attempt %d)", run.Generation)
	}
	return run, r.execute(ctx, plan, run, recs, d.interrupted, how, answers)
}

// canContinue refuses a resume of a finished run, a retry of an unfinished
// one, and either while the run's owner is alive.
func (r *Runner) canContinue(run *Run, retry bool) error {
	switch {
	case run.Scheduled():
		return scheduledErr(run, "resumed or retried")
	case run.UndoneBy != "":
		return usageErr("run %s was undone by run %s: it is not resumed or retried over its own undo (rbflow undo %s brings its changes back first)", run.ID, run.UndoneBy, run.UndoneBy)
	case retry && !run.Status.Finished():
		return usageErr("run %s is %s, not finished: rbflow resume %s finishes it", run.ID, run.Shown(), run.ID)
	case !retry && !run.Status.Resumable():
		return usageErr("run %s of %s %s: nothing to resume (rbflow retry %s runs it again)", run.ID, run.Procedure, run.Status, run.ID)
	case run.Status == RunRunning && run.Owner().Alive() && run.Owner() != proc.Self():
		return &LockError{RunID: run.ID, PID: run.OwnerPID, Path: lockPath(r.StateDir, run.Repo)}
	}
	return nil
}

// resumedParams are a stored run's params with its secrets again: given
// by the parent of a child run, read from their source, or given with
// --set now (SecretSets, which name only secret params).
func (r *Runner) resumedParams(plan *Plan, run *Run) (map[string]any, error) {
	secret := map[string]bool{} // secret now, or when the run started (a reloaded text)
	for _, pm := range plan.Procedure.Params {
		secret[pm.Name] = pm.Secret || isNotKept(run.Params[pm.Name])
	}
	for _, kv := range r.SecretSets {
		name, _, _ := strings.Cut(kv, "=")
		if !secret[name] {
			return nil, usageErr("--set %s: a resumed run keeps the params it started with; --set gives again only its secret params, which rbflow does not keep", name)
		}
	}
	given := maps.Clone(run.Params)
	for k, v := range r.given {
		if isNotKept(given[k]) {
			given[k] = v
		}
	}
	params, err := ResolveParams(plan.Procedure, ParamInput{Given: given, Sets: r.SecretSets, Dir: run.Repo})
	if err != nil {
		return nil, fmt.Errorf("params of run %s: %w", run.ID, err)
	}
	return params, nil
}

// answers are the answers given for a run's prompts: those stored with it
// (given to an earlier command, or with rbflow answer), under those given
// now, which are stored too. A child run takes its parent's and keeps none.
func (r *Runner) answers(ctx context.Context, runID string, m *Mask) (map[string]Answer, error) {
	stored, err := r.Store.Answers(ctx, runID)
	if err != nil {
		return nil, err
	}
	out := map[string]Answer{}
	for _, a := range stored {
		if a.Given() {
			out[a.StepID] = a
		}
	}
	if r.nested {
		maps.Copy(out, r.inherited)
		return out, nil
	}
	for _, a := range r.givenAnswers(runID, m, time.Now()) {
		if err := r.Store.SaveAnswer(ctx, a); err != nil {
			return nil, err
		}
		a.Value = r.Answers[a.StepID]
		out[a.StepID] = a
	}
	return out, nil
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

// Cancel gives up an unfinished run whose owner is gone, so that resume no
// longer picks it: steps left running or waiting are cancelled with it.
func (r *Runner) Cancel(ctx context.Context, runID string) (*Run, error) {
	run, err := r.Store.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	if run.Status.Finished() {
		return run, fmt.Errorf("run %s is already %s", run.ID, run.Status)
	}
	if run.Scheduled() {
		return run, scheduledErr(run, "cancelled")
	}
	lock, err := r.lock(run.Repo, run.ID, nil)
	if err != nil {
		if run.Owner().Alive() {
			return run, fmt.Errorf("run %s is running in rbflow pid %d: stop it with Ctrl-C (or kill -TERM %d) first", run.ID, run.OwnerPID, run.OwnerPID)
		}
		return run, err
	}
	defer lock.Release()
	ctx = lock.Context(ctx)
	if run, err = r.Store.Run(ctx, run.ID); err != nil {
		return nil, err
	}
	if run.Status.Finished() {
		return run, fmt.Errorf("run %s is already %s", run.ID, run.Status)
	}
	recs, err := r.Store.Steps(ctx, run.ID)
	if err != nil {
		return run, err
	}
	now := time.Now()
	for _, rec := range recs {
		switch rec.Status {
		case StepRunning, StepWaiting, StepInterrupted:
			rec.cancel(now)
			if err := r.Store.SaveStep(ctx, rec); err != nil {
				return run, err
			}
		}
	}
	run.cancel(now)
	return run, r.Store.UpdateRun(ctx, run)
}

// scheduledErr refuses to drive a run another engine drives (fleet mode).
func scheduledErr(run *Run, what string) error {
	return usageErr("run %s is driven by fleet mode (Temporal): this host only records its steps, and it is not %s here; use rbflow status, resume --answer or cancel with --temporal ADDR", run.ID, what)
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

func (r *Runner) emit(e Event) {
	if r.Observer != nil {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		r.Observer.Event(e)
	}
}

func (r *Runner) grace() time.Duration {
	if r.Grace > 0 {
		return r.Grace
	}
	return 10 * time.Second
}
