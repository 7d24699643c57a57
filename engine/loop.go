package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
)

// ItemID is the id one item of a step with for_each is recorded under:
// the step's id, a dot and the item's index from 0 (start_services.1).
// No step id holds a dot, so it names no step; its log is ItemID.log.
func ItemID(step string, index int) string { return step + "." + strconv.Itoa(index) }

// ItemOf splits the id of an item's record into its step's id and the
// item's index; ok is false for the id of a step.
func ItemOf(id string) (step string, index int, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id[:i], n, true
}

// Looped reports whether the step runs once per item (for_each).
func (s *Step) Looped() bool { return s.ForEach != nil || s.Items != nil }

// itemRun is one item of a step with for_each in one execution.
type itemRun struct {
	index  int
	item   any
	data   *eval.Data
	env    *eval.Env
	skip   bool        // its if: is false
	reused bool        // it succeeded in an earlier execution of the run
	rec    *StepRecord // how it ended (nil: skipped, or never started)
}

// loop runs a step with for_each: its if: for each item, then each item
// that runs as its own attempt with its own record and log, at most
// max_parallel (and --parallel) at once. The step's own record holds the
// items' results in its outputs; it fails when an item failed. An item
// that succeeded in an earlier execution of the run (before a kill, say)
// is not run again.
func (x *execution) loop(ctx context.Context, st *Step, status eval.Status) {
	data := x.data(ctx, st, status)
	env := x.plan.eval.Env(data)
	now := time.Now()
	rec := &StepRecord{RunID: x.run.ID, StepID: st.ID, Section: st.Section, DefHash: st.DefHash, StartedAt: now}
	// An if: without status function is success() && (...): a failure
	// above skips the step before its list is even evaluated.
	if st.If == nil || st.If.Implicit() {
		if reason, skip := statusSkip(status); skip {
			if st.If != nil {
				reason = ""
			}
			rec.skip(reason, now)
			if x.record(ctx, st, rec) {
				x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(StepSkipped)})
			}
			return
		}
	}
	items := st.Items
	if st.ForEach != nil {
		var err error
		if items, err = st.ForEach.Eval(env); err != nil {
			x.fail(ctx, st, nil, rec, err)
			return
		}
	}
	runs := make([]*itemRun, len(items))
	some := false
	for i, item := range items {
		d := *data
		d.Item, d.Index = item, i
		r := &itemRun{index: i, item: item, data: &d, env: x.plan.eval.Env(&d)}
		if st.If != nil {
			ok, err := st.If.Eval(r.env)
			if err != nil {
				x.fail(ctx, st, nil, rec, fmt.Errorf("if: item %d: %w", i, err))
				return
			}
			r.skip = !ok
		}
		some = some || !r.skip
		runs[i] = r
	}
	if !some {
		reason := "skipped: for_each gave no items"
		if len(items) > 0 {
			reason = "skipped: if is false for every item"
		}
		rec.Outputs = itemOutputs(runs)
		rec.skip(reason, now)
		if x.record(ctx, st, rec) {
			x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(StepSkipped), Outputs: x.maskOutputs(rec.Outputs)})
		}
		return
	}
	// The step's running record is committed before any item starts.
	rec.start(proc.Self(), now)
	rec.LogPath = filepath.Join(x.runDir, st.ID+".log")
	if !x.record(ctx, st, rec) {
		return
	}
	x.r.emit(Event{Kind: "step_started", RunID: x.run.ID, Step: st.ID, Status: string(StepRunning), Message: fmt.Sprintf("%d items", len(items))})
	lf, err := os.OpenFile(rec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		x.storeFailed(st, storeWriteError(rec.LogPath, err))
		return
	}
	var logMu sync.Mutex
	note := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(lf, "%s %s\n", time.Now().UTC().Format(time.RFC3339), x.mask.String(fmt.Sprintf(format, args...)))
	}
	x.items(ctx, st, runs, note)
	lf.Close()

	x.mu.Lock()
	fatal := x.fatal
	x.mu.Unlock()
	if fatal != nil {
		return // the run stops: resume finds the step running
	}
	rec.Outputs = itemOutputs(runs)
	rec.Attempts = 1
	end := time.Now()
	var failed, waiting, unfinished []string
	for _, r := range runs {
		switch {
		case r.skip || r.reused && r.rec != nil:
		case r.rec == nil || r.rec.Status == StepInterrupted || r.rec.Status == StepRunning:
			unfinished = append(unfinished, strconv.Itoa(r.index))
		case r.rec.Status == StepWaiting:
			waiting = append(waiting, r.rec.Error)
		case r.rec.Status == StepFailed:
			if len(failed) == 0 {
				rec.ExitCode = r.rec.ExitCode
			}
			failed = append(failed, fmt.Sprintf("item %d (%s): %s", r.index, itemLabel(r.item), firstLine(r.rec.Error)))
		}
	}
	switch {
	case len(waiting) > 0:
		rec.wait(strings.Join(waiting, "; "), end)
	case len(unfinished) > 0:
		rec.interrupt("interrupted", end)
		x.mu.Lock()
		x.interrupted = true
		x.mu.Unlock()
	case len(failed) > 0:
		msg := fmt.Sprintf("%d of %d items failed: %s", len(failed), len(runs), strings.Join(failed, "; "))
		rec.fail(x.mask.String(msg), st.Spec.ContinueOnError, end)
	default:
		rec.succeed(end)
	}
	note("step %s: %s", st.ID, rec.Status)
	if !x.record(ctx, st, rec) {
		return
	}
	code := rec.ExitCode
	x.r.emit(Event{Kind: "step_finished", RunID: x.run.ID, Step: st.ID, Status: string(rec.Status), ExitCode: &code,
		Outputs: x.maskOutputs(rec.Outputs), Error: rec.Error, Attempt: rec.Attempts})
}

// items runs the items that run, at most max_parallel (default 1, and
// never more than --parallel) at once, in order. Once the run is
// interrupted, or the store failed, no further item starts.
func (x *execution) items(ctx context.Context, st *Step, runs []*itemRun, note func(string, ...any)) {
	limit := st.Spec.MaxParallel
	if limit < 1 {
		limit = 1
	}
	limit = min(limit, x.parallel())
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, r := range runs {
		if r.skip {
			note("item %d (%s): skipped (if is false)", r.index, itemLabel(r.item))
			continue
		}
		id := ItemID(st.ID, r.index)
		hash := itemHash(st, r.item)
		x.mu.Lock()
		prev := x.recs[id]
		x.mu.Unlock()
		if prev != nil && prev.Done() && prev.DefHash == hash {
			r.rec, r.reused = prev, true
			note("item %d (%s): %s before this execution; not run again", r.index, itemLabel(r.item), prev.Status)
			continue
		}
		sem <- struct{}{}
		x.mu.Lock()
		fatal := x.fatal
		x.mu.Unlock()
		if ctx.Err() != nil || fatal != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func(r *itemRun) {
			defer wg.Done()
			defer func() { <-sem }()
			idx := r.index
			irec := &StepRecord{RunID: x.run.ID, StepID: id, Section: st.Section, DefHash: hash, StartedAt: time.Now()}
			x.runAction(ctx, st, &idx, irec, r.data, r.env)
			r.rec = irec
			note("item %d (%s): %s (log: %s.log)", r.index, itemLabel(r.item), irec.Status, id)
		}(r)
	}
	wg.Wait()
}

// parallel is how many steps of a section run at once (--parallel).
func (x *execution) parallel() int {
	if x.r.Parallel > 0 {
		return x.r.Parallel
	}
	return 4
}

// statusSkip says whether a step without if: is skipped because of how
// the steps above it ended, and why.
func statusSkip(status eval.Status) (string, bool) {
	switch {
	case status.Success:
		return "", false
	case status.Cancelled:
		return "skipped: the run was interrupted", true
	}
	return "skipped: an earlier step failed", true
}

// itemHash is the definition hash an item's record carries: the step's
// and the item's own, so that a resumed run takes an item's earlier result
// only for the same item of the same step.
func itemHash(st *Step, item any) string {
	b, _ := json.Marshal(item)
	sum := sha256.Sum256(append([]byte(st.DefHash+"\x00"), b...))
	return hex.EncodeToString(sum[:8])
}

// itemOutputs are the outputs of a step with for_each: items, one entry
// per item ({index, item, status, exit_code, outputs, error}), and count,
// succeeded, failed and skipped.
func itemOutputs(runs []*itemRun) map[string]any {
	list := make([]any, len(runs))
	counts := map[StepStatus]int{}
	for i, r := range runs {
		e := map[string]any{"index": r.index, "item": r.item, "status": string(StepSkipped), "exit_code": 0, "outputs": map[string]any{}, "error": ""}
		switch {
		case r.skip:
			counts[StepSkipped]++
		case r.rec == nil:
			e["status"] = string(StepPending)
		default:
			out := r.rec.Outputs
			if out == nil {
				out = map[string]any{}
			}
			e["status"], e["exit_code"], e["outputs"], e["error"] = string(r.rec.Status), r.rec.ExitCode, out, r.rec.Error
			counts[r.rec.Status]++
		}
		list[i] = e
	}
	return map[string]any{
		"items": list, "count": len(runs),
		"succeeded": counts[StepSucceeded], "failed": counts[StepFailed], "skipped": counts[StepSkipped],
	}
}

// itemLabel shows an item in a log line and an error: its name field when
// it is a record with one, else its text, cut short.
func itemLabel(item any) string {
	s := ""
	if m, ok := item.(map[string]any); ok && m["name"] != nil {
		s = eval.Text(m["name"])
	} else {
		s = eval.Text(item)
	}
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// maskOutputs are outputs as events show them: secrets masked.
func (x *execution) maskOutputs(out map[string]any) map[string]any {
	m, _ := x.mask.Any(out).(map[string]any)
	return m
}
