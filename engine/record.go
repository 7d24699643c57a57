package engine

import (
	"context"
	"errors"
	"time"
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
)

// Finished reports whether the run can no longer be resumed.
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

// Run is the stored record of one execution of a procedure.
type Run struct {
	ID         string         // time-ordered, sortable
	Procedure  string         // procedure name
	Source     string         // full YAML text the run executes
	SourcePath string         // where the text came from (file path or builtin:NAME)
	Hash       string         // sha256 of Source
	Params     map[string]any // typed params as given (secrets included; the store is 0600)
	Repo       string         // repository work tree root ("" outside git)
	StateDir   string         // state folder the run lives in
	Status     RunStatus
	StartedAt  time.Time
	EndedAt    time.Time // zero while unfinished
	ParentRun  string    // for call steps
	ParentStep string
	Target     time.Duration // recovery-time target, 0 if none
	Generation int           // 1 for the first attempt, +1 for each rbflow retry
	FailedStep string
	OwnerPID   int    // pid of the rbflow process driving the run now
	OwnerStart uint64 // that process's start time (clock ticks since boot)
}

// StepRecord is the stored state of one step of a run: the latest attempt.
type StepRecord struct {
	RunID      string
	StepID     string
	Section    string // main, on_failure, finally
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
}

// Done reports whether the step is not run again on resume: it succeeded,
// was skipped, or failed under continue_on_error.
func (s *StepRecord) Done() bool {
	return s.Status == StepSucceeded || s.Status == StepSkipped || (s.Status == StepFailed && s.Conclusion == StepSucceeded)
}

// Store keeps runs and steps durably. Every method commits before it returns;
// an error means nothing was written.
type Store interface {
	// CreateRun inserts a new run.
	CreateRun(ctx context.Context, r *Run) error
	// UpdateRun writes the run's mutable fields (status, ended, owner, source, failed step, generation).
	UpdateRun(ctx context.Context, r *Run) error
	// Run returns a run by id or unique id prefix; ErrNotFound if there is none.
	Run(ctx context.Context, id string) (*Run, error)
	// Runs lists runs of a repository (all repositories when repo is ""), newest first.
	Runs(ctx context.Context, repo string) ([]*Run, error)
	// SaveStep inserts or replaces the record of one step.
	SaveStep(ctx context.Context, s *StepRecord) error
	// Steps returns the records of a run's steps in start order.
	Steps(ctx context.Context, runID string) ([]*StepRecord, error)
	// DeleteStep forgets a step's record so that it runs again.
	DeleteStep(ctx context.Context, runID, stepID string) error
}

// ErrNotFound is returned by stores for unknown runs.
var ErrNotFound = errors.New("engine: not found")
