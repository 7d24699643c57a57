package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// runPlan compiles the text a run started with or, with reload, the file
// it came from as it is now. Without reload it says when the file changed.
func (r *Runner) runPlan(run *Run, reload bool) (*Plan, error) {
	if r.Loader == nil {
		return nil, fmt.Errorf("run %s: this runner cannot compile procedures", run.ID)
	}
	stored := Source{Path: run.SourcePath, Text: []byte(run.Source)}
	onDisk, diskErr := r.Loader.Reread(stored)
	if reload {
		if diskErr != nil {
			return nil, fmt.Errorf("--reload: %w", diskErr)
		}
		return r.Loader.Load(onDisk)
	}
	if diskErr == nil && hashText(onDisk.Text) != run.Hash {
		r.emit(Event{Kind: "run_notice", RunID: run.ID, Message: fmt.Sprintf(
			"%s changed since run %s started; going on with the text it started with (--reload takes the edited file: changed steps and what follows them run again)",
			run.SourcePath, run.ID)})
	}
	return r.Loader.LoadStored(stored)
}

// resumeDecision is what a resume or retry does with the steps a run has
// recorded, decided in full before anything runs.
type resumeDecision struct {
	rerun       map[string]bool // steps whose records are dropped: they run again
	interrupted map[string]bool // of those, steps cut off while they ran
	moved       []*StepRecord   // records whose state the decision changed
	added       []*StepRecord   // records of steps skipped with --skip
	asks        []string        // interrupted steps whose on_resume is ask
	// keepItems are steps with for_each that run again where they were
	// cut off or failed: their items that succeeded stand. The items of
	// other steps that run again are dropped with them.
	keepItems map[string]bool
}

// decideResume applies the resume rules (SPEC §4.3) to a run's records:
// what the options ask for, each interrupted step's on_resume, and that
// failed steps, on_failure and finally run again. yes turns on_resume: ask
// into rerun. recs is not changed.
func decideResume(plan *Plan, recs map[string]*StepRecord, opt ResumeOptions, yes bool, now time.Time) (*resumeDecision, error) {
	d := &resumeDecision{rerun: map[string]bool{}, interrupted: map[string]bool{}, keepItems: map[string]bool{}}
	if err := d.fromOptions(plan, recs, opt); err != nil {
		return nil, err
	}
	for _, st := range plan.Steps() {
		rec, ok := recs[st.ID]
		if !ok || d.rerun[st.ID] {
			continue
		}
		d.settle(st, rec, yes, now)
	}
	if len(d.asks) > 0 {
		return d, nil
	}
	// on_failure and finally run again at the end of every execution.
	for _, st := range append(append([]*Step{}, plan.OnFailure...), plan.Finally...) {
		d.rerun[st.ID] = true
		delete(d.keepItems, st.ID)
	}
	// Steps that run again take their skipped dependents with them: a skip
	// caused by an upstream failure is not a decision to keep.
	for _, st := range plan.Main {
		if rec := d.current(st.ID, recs); rec != nil && rec.Done() && !d.rerun[st.ID] {
			continue
		}
		for _, dep := range plan.descendants(st) {
			if rec, ok := recs[dep.ID]; ok && rec.Status == StepSkipped {
				d.rerun[dep.ID] = true
			}
		}
	}
	for _, id := range opt.Skip {
		st, _ := plan.Step(id)
		rec := &StepRecord{RunID: "", StepID: id, Section: st.Section, DefHash: st.DefHash}
		rec.skip("skipped with --skip", now)
		d.added = append(d.added, rec)
	}
	return d, nil
}

// fromOptions marks what --from, --reload and a reloaded plan's dropped
// steps run again, and checks --skip.
func (d *resumeDecision) fromOptions(plan *Plan, recs map[string]*StepRecord, opt ResumeOptions) error {
	for id := range recs {
		if step, _, item := ItemOf(id); item {
			if _, ok := plan.Step(step); ok {
				continue // stands or goes with its step (apply)
			}
		}
		if _, ok := plan.Step(id); !ok {
			d.rerun[id] = true // no longer in the plan (reload)
		}
	}
	again := func(st *Step) {
		d.rerun[st.ID] = true
		for _, dep := range plan.descendants(st) {
			d.rerun[dep.ID] = true
		}
	}
	if opt.From != "" {
		st, ok := plan.Step(opt.From)
		if !ok {
			return usageErr("--from: no step %q in %s%s", opt.From, plan.Name(), plan.hint(opt.From))
		}
		again(st)
	}
	if opt.Reload {
		for _, st := range plan.Steps() {
			if rec, ok := recs[st.ID]; ok && rec.DefHash != st.DefHash {
				again(st)
			}
		}
	}
	for _, id := range opt.Skip {
		if _, ok := plan.Step(id); !ok {
			return usageErr("--skip: no step %q in %s%s", id, plan.Name(), plan.hint(id))
		}
	}
	return nil
}

// settle decides about one recorded step that no option sent back: a step
// found running belongs to a dead owner and was interrupted; what happens
// to an interrupted step is its on_resume policy; failed, cancelled and
// waiting steps run again; done ones stand.
func (d *resumeDecision) settle(st *Step, rec *StepRecord, yes bool, now time.Time) {
	if rec.Status == StepRunning {
		cp := *rec
		cp.interrupt("rbflow stopped while the step ran", now)
		rec = &cp
		d.moved = append(d.moved, rec)
	}
	if rec.Done() {
		return
	}
	if rec.Status != StepInterrupted {
		d.rerun[st.ID] = true
		d.keepItems[st.ID] = true
		return
	}
	policy := st.OnResume
	if policy == "ask" && yes {
		policy = "rerun"
	}
	switch policy {
	case "rerun":
		d.rerun[st.ID] = true
		d.interrupted[st.ID] = true
		d.keepItems[st.ID] = true
	case "skip":
		d.move(rec, func(r *StepRecord) { r.skip("interrupted, then skipped (on_resume: skip)", now) })
	case "fail":
		d.move(rec, func(r *StepRecord) { r.fail("interrupted while it ran (on_resume: fail)", false, now) })
	case "ask":
		d.asks = append(d.asks, st.ID)
	}
}

// move applies a transition to a copy of rec, replacing an earlier move of
// the same step.
func (d *resumeDecision) move(rec *StepRecord, f func(*StepRecord)) {
	for i, m := range d.moved {
		if m.StepID == rec.StepID {
			f(m)
			d.moved[i] = m
			return
		}
	}
	cp := *rec
	f(&cp)
	d.moved = append(d.moved, &cp)
}

// current is a step's record as the decision leaves it (nil: none).
func (d *resumeDecision) current(id string, recs map[string]*StepRecord) *StepRecord {
	for _, m := range d.moved {
		if m.StepID == id {
			return m
		}
	}
	return recs[id]
}

// apply writes the decision to the store and to recs: moved records are
// saved, records of steps that run again are dropped, --skip records added.
func (d *resumeDecision) apply(ctx context.Context, st RunStore, runID string, recs map[string]*StepRecord) error {
	for _, m := range d.moved {
		if d.rerun[m.StepID] {
			continue
		}
		if err := st.SaveStep(ctx, m); err != nil {
			return err
		}
		recs[m.StepID] = m
	}
	if len(d.asks) > 0 {
		return nil
	}
	ids := make([]string, 0, len(d.rerun))
	for id := range d.rerun {
		ids = append(ids, id)
	}
	// The items of a step that runs again from its start go with it.
	for id := range recs {
		if step, _, item := ItemOf(id); item && d.rerun[step] && !d.keepItems[step] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, ok := recs[id]; !ok {
			continue
		}
		if err := st.DeleteStep(ctx, runID, id); err != nil {
			return err
		}
		delete(recs, id)
	}
	for _, rec := range d.added {
		rec.RunID = runID
		if err := st.SaveStep(ctx, rec); err != nil {
			return err
		}
		recs[rec.StepID] = rec
	}
	return nil
}

// askMessage tells the person what to do about steps whose on_resume is ask.
func (d *resumeDecision) askMessage(runID string) string {
	return fmt.Sprintf("step %s was interrupted while it ran and may have done part of its work; check the repository, then run it again with: rbflow resume %s --yes (or skip it: rbflow resume %s --skip %s)",
		joinIDs(d.asks), runID, runID, d.asks[0])
}

func joinIDs(ids []string) string { return strings.Join(ids, ", ") }

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
