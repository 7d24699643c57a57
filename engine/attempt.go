package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
)

// NeedPerson returns the error an action returns to stop the run resumably
// until a person answers; msg says what to run.
func NeedPerson(msg string) error { return fmt.Errorf("%w: %s", ErrWaiting, msg) }

// setRec stores a copy of a record in memory and in the store: the step's
// goroutine keeps changing its own, others read the copy.
func (x *execution) setRec(ctx context.Context, rec *StepRecord) error {
	cp := *rec
	x.mu.Lock()
	x.recs[rec.StepID] = &cp
	x.mu.Unlock()
	saved := cp // as the store keeps it: no secret value in clear
	saved.Outputs, _ = x.mask.Any(cp.Outputs).(map[string]any)
	saved.Error = x.mask.String(cp.Error)
	return x.r.Store.SaveStep(context.WithoutCancel(ctx), &saved)
}

// record stores a step's record; a store that cannot stops the run.
func (x *execution) record(ctx context.Context, st *Step, rec *StepRecord) bool {
	if err := x.setRec(ctx, rec); err != nil {
		x.storeFailed(st, err)
		return false
	}
	return true
}

// step evaluates the condition and runs one step with its retries, or,
// with for_each, runs it for each item.
func (x *execution) step(ctx context.Context, st *Step, status eval.Status) {
	if st.Looped() {
		x.loop(ctx, st, status)
		return
	}
	data := x.data(ctx, st, status)
	env := x.plan.eval.Env(data)
	now := time.Now()
	rec := &StepRecord{RunID: x.run.ID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash, StartedAt: now, Actor: x.r.actor()}

	var reason string
	var skip bool
	var err error
	if !x.decided { // a host step's scheduler evaluated the condition
		reason, skip, err = x.skipReason(st, env, status)
	}
	if err != nil {
		x.fail(ctx, st, nil, rec, fmt.Errorf("if: %w", err))
		return
	} else if skip {
		rec.skip(reason, now)
		if x.record(ctx, st, rec) {
			x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(StepSkipped)})
		}
		return
	}
	x.runAction(ctx, st, nil, rec, data, env)
}

// runAction runs the action of st with its retries and records how it
// ends in rec: the step's own record, or (item set) that of one item of a
// step with for_each.
func (x *execution) runAction(ctx context.Context, st *Step, item *int, rec *StepRecord, data *eval.Data, env *eval.Env) {
	now := time.Now()
	ex, err := x.exec(ctx, st, rec.StepID, env)
	if err != nil {
		x.fail(ctx, st, item, rec, err)
		return
	}
	ex.item = item
	// The running record is committed before any side effect.
	rec.start(proc.Self(), now)
	rec.LogPath = filepath.Join(x.runDir, rec.StepID+".log")
	if !x.record(ctx, st, rec) {
		return
	}
	x.r.emit(Event{Kind: "step_started", RunID: x.run.ID, Step: st.ID, Item: item, Status: string(StepRunning)})

	lf := &lazyFile{path: rec.LogPath}
	log := &stepLog{file: lf, w: bufio.NewWriterSize(lf, 64<<10), mask: x.mask, someLines: !x.r.allLines(), onLine: func(line string) {
		x.r.emit(Event{Kind: "step_output", RunID: x.run.ID, Step: st.ID, Item: item, Line: line})
	}}
	defer log.Close()
	ex.Log = log

	res, runErr := x.attempts(ctx, st, ex, rec, data, log)
	rec.ExitCode = res.ExitCode
	rec.Outputs = res.Outputs
	rec.Tail = log.Tail()
	end := time.Now()
	switch {
	case errors.Is(runErr, ErrWaiting):
		rec.wait(x.mask.String(runErr.Error()), end)
		x.mu.Lock()
		x.waiting = append(x.waiting, st.ID)
		x.waitMsgs = append(x.waitMsgs, rec.Error)
		x.mu.Unlock()
	case runErr != nil && deadlinePassed(ctx):
		// Not interrupted: the run is over, failed, and not resumed.
		rec.fail(x.mask.String(fmt.Sprintf("stopped: %v", context.Cause(ctx))), false, end)
		x.mu.Lock()
		if x.deadlineStopped == nil {
			x.deadlineStopped = map[string]bool{}
		}
		x.deadlineStopped[st.ID] = true
		x.mu.Unlock()
	case runErr != nil && ctx.Err() != nil:
		rec.interrupt("interrupted", end)
		x.mu.Lock()
		x.interrupted = true
		x.mu.Unlock()
	case runErr != nil:
		// An item's own record keeps its failure: continue_on_error
		// applies to the step.
		rec.fail(x.mask.String(runErr.Error()), st.Spec.ContinueOnError && item == nil, end)
	default:
		rec.succeed(end)
	}
	if err := log.Err(); err != nil {
		// The log could not be kept (a full disk): the step's record may
		// still be written, but the run stops here.
		x.storeFailed(st, storeWriteError(rec.LogPath, err))
	}
	// Only what the store recorded is reported: a step whose end could
	// not be written is still running as far as resume knows.
	if !x.record(ctx, st, rec) {
		return
	}
	code := rec.ExitCode
	outputs, _ := x.mask.Any(rec.Outputs).(map[string]any)
	x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Item: item, Status: string(rec.Status), ExitCode: &code,
		Outputs: outputs, Error: rec.Error, Attempt: rec.Attempts})
}

// skipReason decides whether a step runs: its if: (implicitly success()),
// or without one, whether every step before it ended well.
func (x *execution) skipReason(st *Step, env *eval.Env, status eval.Status) (string, bool, error) {
	if st.If != nil {
		ok, err := st.If.Eval(env)
		return "", !ok && err == nil, err
	}
	switch {
	case status.Success:
		return "", false, nil
	case status.Cancelled:
		return "skipped: the run was interrupted", true, nil
	}
	return "skipped: an earlier step failed", true, nil
}

// attempts runs the step's attempts: one, or as many as retry allows while
// they fail and retry.if holds, with the delay and backoff between them.
func (x *execution) attempts(ctx context.Context, st *Step, ex *Exec, rec *StepRecord, data *eval.Data, log *stepLog) (Result, error) {
	attempts, delay, backoff := 1, time.Duration(0), 1.0
	if r := st.Spec.Retry; r != nil {
		attempts, delay, backoff = r.Attempts, r.Delay, r.Backoff
	}
	first := 1
	if x.single > 0 && ex.item == nil {
		// A host step: the scheduler makes the retries, one call each.
		first = x.single
	}
	for attempt := first; ; attempt++ {
		ex.Attempt = attempt
		// The first attempt's start is the step's; a later one, or one
		// after an attempt cut off, is marked in the log between their
		// outputs.
		if attempt > 1 || ex.Resumed {
			log.Note("attempt %d started %s", attempt, time.Now().UTC().Format(time.RFC3339))
		}
		res, err := x.attempt(ctx, st, ex)
		rec.Attempts = attempt
		if err == nil || ctx.Err() != nil || attempt >= attempts || errors.Is(err, ErrWaiting) && x.single > 0 {
			return res, err
		}
		if errors.Is(err, ErrNotRetried) && st.RetryIf == nil {
			log.Note("attempt %d failed: %v; not retried: another attempt would fail the same way", attempt, x.mask.String(err.Error()))
			return res, err
		}
		if st.RetryIf != nil {
			rd := *data
			rd.Attempt = attempt
			rd.Result = eval.AttemptState{ExitCode: res.ExitCode, Error: err.Error(), Outputs: res.Outputs, Status: string(StepFailed)}
			again, ierr := st.RetryIf.Eval(x.plan.eval.Env(&rd))
			if ierr != nil {
				return res, fmt.Errorf("%w (and retry.if: %v)", err, ierr)
			}
			if !again {
				return res, err
			}
		}
		wait := time.Duration(float64(delay) * math.Pow(backoff, float64(attempt-1)))
		msg := x.mask.String(err.Error())
		if x.single > 0 && ex.item == nil {
			log.Note("attempt %d failed: %v; the scheduler retries in %s", attempt, msg, wait)
			x.mu.Lock()
			x.retry = true
			x.mu.Unlock()
			return res, err
		}
		log.Note("attempt %d failed: %v; retrying in %s", attempt, msg, wait)
		x.r.emit(Event{Kind: "step_retry", RunID: x.run.ID, Step: st.ID, Item: ex.item, Attempt: attempt + 1, Error: msg, Message: fmt.Sprintf("retrying in %s", wait)})
		_ = x.setRec(ctx, rec)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			return res, err
		}
	}
}

// attempt runs the action once with the step's timeout and collects its
// outputs: the action's own and what it wrote to $RBFLOW_OUTPUT.
func (x *execution) attempt(ctx context.Context, st *Step, ex *Exec) (Result, error) {
	// No file is made: the step's first write makes it (>> does), as for
	// most steps there is none. One left by an attempt cut off is gone.
	_ = os.Remove(ex.OutputFile)
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
	if perr != nil && err == nil {
		err = perr
	}
	for k, v := range fileOut {
		res.Outputs[k] = v
	}
	if err != nil && ctx.Err() == nil && actx.Err() != nil {
		err = context.Cause(actx)
	}
	return res, err
}

// fail records a step (or one item of it) that failed before it could
// start.
func (x *execution) fail(ctx context.Context, st *Step, item *int, rec *StepRecord, err error) {
	rec.fail(x.mask.String(err.Error()), st.Spec.ContinueOnError && item == nil, time.Now())
	if x.record(ctx, st, rec) {
		x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Item: item, Status: string(StepFailed), Error: rec.Error})
	}
}

// storeFailed stops the run: without its records it could not be resumed.
func (x *execution) storeFailed(st *Step, err error) {
	x.mu.Lock()
	if x.fatal == nil {
		x.fatal = &StepError{Step: st.ID, Err: fmt.Errorf("cannot keep the step's record: %w", err)}
	}
	x.mu.Unlock()
}
