package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/spec"
)

// RunStatus is the state of a whole run.
type RunStatus string

// Run states. A run is unfinished while running, waiting or interrupted.
const (
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"
	RunFailed      RunStatus = "failed"
	RunInterrupted RunStatus = "interrupted" // stopped by a signal or found with a dead owner; resumable
	RunWaiting     RunStatus = "waiting"     // stopped for a person (prompt, on_resume: ask); resumable
	RunCancelled   RunStatus = "cancelled"
	// RunUndone is how a run that rbflow undo undid is shown (Run.Shown);
	// its recorded status stays what it was.
	RunUndone RunStatus = "undone"
)

// Finished reports whether the run has ended for good: rbflow retry may
// start a new attempt of it, rbflow resume may not go on with it.
func (s RunStatus) Finished() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled
}

// Resumable reports whether rbflow resume may go on with the run: it was
// interrupted, waits for a person, or failed (failed steps run again).
func (s RunStatus) Resumable() bool { return s != RunSucceeded && s != RunCancelled }

// StepStatus is the state of one step attempt.
type StepStatus string

// Step states, as seen by expressions in steps.<id>.status.
const (
	StepPending     StepStatus = "pending"
	StepRunning     StepStatus = "running"
	StepSucceeded   StepStatus = "succeeded"
	StepFailed      StepStatus = "failed"
	StepSkipped     StepStatus = "skipped"
	StepCancelled   StepStatus = "cancelled"
	StepInterrupted StepStatus = "interrupted"
	StepWaiting     StepStatus = "waiting"
)

// Terminal reports whether a step in this state has ended for this
// execution (its dependents may start).
func (s StepStatus) Terminal() bool {
	return s == StepSucceeded || s == StepFailed || s == StepSkipped || s == StepCancelled
}

// Run is the stored record of one execution of a procedure. Its Status
// changes only through its transition methods (begin, reopen, end, cancel),
// which refuse a move the state machine does not have.
type Run struct {
	ID         string         // time-ordered, sortable
	Procedure  string         // procedure name
	Source     string         // full YAML text the run executes
	SourcePath string         // where the text came from (file path or builtin:NAME)
	Hash       string         // sha256 of Source
	Params     map[string]any // typed params (in the store, secret ones are a not-kept marker)
	Repo       string         // repository work tree root ("" outside git)
	StateDir   string         // state folder the run lives in
	Status     RunStatus
	StartedAt  time.Time
	EndedAt    time.Time // set when the run finished; zero while it can go on
	ParentRun  string    // for call steps
	ParentStep string
	Target     time.Duration // recovery-time target, 0 if none
	Generation int           // 1 for the first attempt, +1 for each rbflow retry
	FailedStep string
	OwnerPID   int    // pid of the rbflow process driving the run now
	OwnerStart uint64 // that process's start time (clock ticks since boot)
	UndoneBy   string // the undo run that undid this one ("" if none, or that undo was undone)
	Actor             // who started the run, and on which host
}

// Owner is the rbflow process that drives the run, or drove it last.
func (r *Run) Owner() proc.Identity { return proc.Identity{PID: r.OwnerPID, Start: r.OwnerStart} }

// Shown is the run's status as a person should read it: a run recorded as
// running whose owner is gone was interrupted.
func (r *Run) Shown() RunStatus {
	if r.UndoneBy != "" {
		return RunUndone
	}
	if r.Status == RunRunning && !r.Owner().Alive() {
		return RunInterrupted
	}
	return r.Status
}

// Warnings are what a run that succeeded must still tell (SPEC §3): each
// step that failed but had continue_on_error (a verification, say), as
// "step ID failed: first line of its error".
func Warnings(steps []*StepRecord) []string {
	var w []string
	for _, st := range steps {
		if st.Outcome == StepFailed && st.Conclusion == StepSucceeded {
			msg := "step " + st.StepID + " failed (continue_on_error)"
			if e, _, _ := strings.Cut(strings.TrimSpace(st.Error), "\n"); e != "" {
				msg += ": " + e
				if exitOnly().MatchString(e) {
					if last := lastOutput(st.Tail, 1); last != "" {
						msg += ": " + strings.TrimSpace(last)
					}
				}
			}
			w = append(w, msg)
		}
	}
	return w
}

// ShownStep is a step's status as a person should read it: a step recorded
// as running in a run that is not running any more (its owner was killed)
// was interrupted.
func (r *Run) ShownStep(st *StepRecord) StepStatus {
	if st.Status == StepRunning {
		if shown := r.Shown(); shown != RunRunning {
			return StepInterrupted
		}
	}
	return st.Status
}

// Deadline is the deadline of the procedure text the run keeps (0 if it
// has none). Each start, resume or retry of the run has the whole of it.
func (r *Run) Deadline() time.Duration {
	root, errs := spec.Parse("", []byte(r.Source))
	if len(errs) > 0 || root == nil {
		return 0
	}
	v := root.Get("deadline")
	if v == nil {
		return 0
	}
	d, err := time.ParseDuration(v.Str)
	if err != nil {
		return 0
	}
	return d
}

// Active is how long the run's steps were running, overlaps counted once:
// the time from start to end less the time it lay interrupted or waited for
// a person between a stop and a resume. A step still running counts up to
// now, one that was cut off not at all.
func (r *Run) Active(steps []*StepRecord, now time.Time) time.Duration {
	type span struct{ from, to time.Time }
	var spans []span
	for _, st := range steps {
		if st.StartedAt.IsZero() {
			continue
		}
		end := st.EndedAt
		if end.IsZero() {
			if r.ShownStep(st) != StepRunning {
				continue
			}
			end = now
		}
		if end.After(st.StartedAt) {
			spans = append(spans, span{st.StartedAt, end})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	var total time.Duration
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case !s.from.After(cur.to):
			if s.to.After(cur.to) {
				cur.to = s.to
			}
		default:
			total += cur.to.Sub(cur.from)
			cur = s
		}
	}
	if len(spans) > 0 {
		total += cur.to.Sub(cur.from)
	}
	return total
}

// runMoves are the moves of a run's status. A running run whose owner died
// is reopened by resume (running → running).
var runMoves = map[RunStatus][]RunStatus{
	"":             {RunRunning},
	RunRunning:     {RunRunning, RunSucceeded, RunFailed, RunInterrupted, RunWaiting, RunCancelled},
	RunInterrupted: {RunRunning, RunWaiting, RunCancelled},
	RunWaiting:     {RunRunning, RunWaiting, RunCancelled},
	RunFailed:      {RunRunning, RunWaiting},
	RunSucceeded:   {RunRunning},
	RunCancelled:   {RunRunning},
}

func (r *Run) move(to RunStatus) {
	for _, ok := range runMoves[r.Status] {
		if ok == to {
			r.Status = to
			return
		}
	}
	panic(fmt.Sprintf("engine: run %s cannot go from %q to %q", r.ID, r.Status, to))
}

// begin starts a new run, driven by owner.
func (r *Run) begin(owner proc.Identity) {
	r.move(RunRunning)
	r.OwnerPID, r.OwnerStart = owner.PID, owner.Start
	if r.Generation == 0 {
		r.Generation = 1
	}
}

// reopen drives an unfinished run again (resume), or a finished one anew
// (retry: a new generation).
func (r *Run) reopen(owner proc.Identity, retry bool) {
	r.move(RunRunning)
	r.OwnerPID, r.OwnerStart = owner.PID, owner.Start
	r.FailedStep = ""
	r.EndedAt = time.Time{}
	if retry {
		r.Generation++
	}
}

// end records how an execution of the run ended. A run that waits or was
// interrupted has not finished: it keeps no end time.
func (r *Run) end(status RunStatus, failedStep string, now time.Time) {
	r.move(status)
	r.FailedStep = failedStep
	if status.Finished() {
		r.EndedAt = now
	}
}

// cancel gives up an unfinished run.
func (r *Run) cancel(now time.Time) {
	r.move(RunCancelled)
	r.EndedAt = now
}

// StepRecord is the stored state of one step of a run: its latest attempt.
// Status, Outcome and Conclusion change only through its transition methods.
type StepRecord struct {
	RunID      string
	StepID     string
	Section    string // the section the step is written in: steps, on_failure or finally
	Status     StepStatus
	Outcome    StepStatus // before continue_on_error
	Conclusion StepStatus // after continue_on_error
	StartedAt  time.Time
	EndedAt    time.Time
	ExitCode   int
	Attempts   int // attempts made by retry in the latest execution
	Outputs    map[string]any
	Error      string
	DefHash    string // hash of the step's definition, for resume --reload
	PID        int    // rbflow process that ran it
	PIDStart   uint64 // that process's start time
	Tail       string // bounded tail of the step's output
	LogPath    string
	Actor      // who ran this attempt (the person who resumed the run, say), and on which host
}

// Done reports whether the step is not run again on resume: it succeeded,
// was skipped, or failed under continue_on_error.
func (s *StepRecord) Done() bool {
	return s.Status == StepSucceeded || s.Status == StepSkipped || (s.Status == StepFailed && s.Conclusion == StepSucceeded)
}

// ended reports whether the step has ended for this execution: its
// dependents may start.
func (s *StepRecord) ended() bool { return s.Done() || s.Status.Terminal() }

// stepMoves are the moves of a step's status; "" is a step with no record
// yet.
var stepMoves = map[StepStatus][]StepStatus{
	"":              {StepRunning, StepSkipped, StepFailed},
	StepRunning:     {StepSucceeded, StepFailed, StepInterrupted, StepWaiting, StepCancelled},
	StepInterrupted: {StepSkipped, StepFailed, StepCancelled},
	StepWaiting:     {StepCancelled},
}

// set moves the step to status; outcome and conclusion follow it, apart
// from a failure under continue_on_error, whose conclusion is success.
func (s *StepRecord) set(to StepStatus, continued bool) {
	legal := false
	for _, ok := range stepMoves[s.Status] {
		legal = legal || ok == to
	}
	if !legal {
		panic(fmt.Sprintf("engine: step %s of run %s cannot go from %q to %q", s.StepID, s.RunID, s.Status, to))
	}
	s.Status, s.Outcome, s.Conclusion = to, to, to
	if to == StepFailed && continued {
		s.Conclusion = StepSucceeded
	}
}

// start records that the step begins, driven by owner. The record is
// committed before any side effect.
func (s *StepRecord) start(owner proc.Identity, now time.Time) {
	s.set(StepRunning, false)
	s.PID, s.PIDStart = owner.PID, owner.Start
	s.StartedAt = now
}

// finish ends the step's time (once: a step interrupted earlier keeps the
// time it was cut off) and keeps the reason, when there is one.
func (s *StepRecord) finish(reason string, now time.Time) {
	if reason != "" {
		s.Error = reason
	}
	if s.EndedAt.IsZero() {
		s.EndedAt = now
	}
}

// succeed records a step that did its work.
func (s *StepRecord) succeed(now time.Time) {
	s.set(StepSucceeded, false)
	s.finish("", now)
}

// fail records a step that failed; under continue_on_error the run goes on
// as if it had succeeded (outcome failed, conclusion succeeded).
func (s *StepRecord) fail(reason string, continueOnError bool, now time.Time) {
	s.set(StepFailed, continueOnError)
	s.finish(reason, now)
}

// skip records a step that did not run, and why.
func (s *StepRecord) skip(reason string, now time.Time) {
	s.set(StepSkipped, false)
	if s.StartedAt.IsZero() {
		s.StartedAt = now
	}
	s.finish(reason, now)
}

// interrupt records a step cut off while it ran (a signal, or an owner
// found dead by resume).
func (s *StepRecord) interrupt(reason string, now time.Time) {
	s.set(StepInterrupted, false)
	s.finish(reason, now)
}

// wait records a step that stopped for a person.
func (s *StepRecord) wait(reason string, now time.Time) {
	s.set(StepWaiting, false)
	s.finish(reason, now)
}

// cancel records a step whose run was given up.
func (s *StepRecord) cancel(now time.Time) {
	s.set(StepCancelled, false)
	s.finish("cancelled with rbflow cancel", now)
}
