package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors of a run's end; cmd/rbflow maps them to exit statuses.
var (
	// ErrWaiting: the run stopped to wait for a person (exit 4, resumable).
	ErrWaiting = errors.New("engine: waiting for a person")
	// ErrInterrupted: the run was stopped by a signal (exit 130, resumable).
	ErrInterrupted = errors.New("engine: interrupted")
	// ErrRunFailed: a step failed and the run ended failed (exit 1).
	ErrRunFailed = errors.New("engine: run failed")
	// ErrStoreFailed: the store could not keep a record (a full disk), so
	// the run stopped; it is resumable once the store can write (exit 1).
	ErrStoreFailed = errors.New("engine: the store could not keep a record")
)

// LockError reports that another run holds the repository lock.
type LockError struct {
	RunID string
	PID   int
	Path  string
}

func (e *LockError) Error() string {
	who := "another rbflow process"
	if e.PID > 0 {
		who = fmt.Sprintf("rbflow pid %d", e.PID)
	}
	if e.RunID != "" {
		who += fmt.Sprintf(" (run %s)", e.RunID)
	}
	return fmt.Sprintf("%s holds the lock of this repository (%s): one run at a time; wait for it, or stop it with Ctrl-C and finish later with rbflow resume", who, e.Path)
}

// StepError is a step's failure at run time.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }

func (e *StepError) Unwrap() error { return e.Err }

// RunError is the end of a run that did not succeed.
type RunError struct {
	RunID  string
	Status RunStatus
	Step   string // the failed or waiting step
	Msg    string // what to do next
	Err    error  // ErrRunFailed, ErrWaiting or ErrInterrupted
}

func (e *RunError) Error() string {
	s := fmt.Sprintf("run %s %s", e.RunID, e.Status)
	if e.Step != "" {
		s += " at step " + e.Step
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func (e *RunError) Unwrap() error { return e.Err }

// ErrNotRetried marks the failure of an attempt that another attempt would
// not mend (a webhook that answered 404): a step's retry: does not try it
// again, unless its retry.if says to. Kinds wrap it with NotRetried.
var ErrNotRetried = errors.New("engine: another attempt would fail the same way")

// NotRetried marks err as a failure retry: does not try again; its text is
// err's.
func NotRetried(err error) error {
	if err == nil {
		return nil
	}
	return &notRetried{err}
}

type notRetried struct{ err error }

func (e *notRetried) Error() string   { return e.err.Error() }
func (e *notRetried) Unwrap() []error { return []error{e.err, ErrNotRetried} }
