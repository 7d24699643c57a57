package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
)

// PlannedStep is one line of a dry run: what a step would do.
type PlannedStep struct {
	ID       string
	Section  string
	Kind     string
	Needs    []string
	If       string
	Decision string // "runs", "skipped (if is false)", "depends on runtime", ...
	Command  string // the interpolated command or argv
	Note     string
	Output   []string // what a dry_run: run step printed (its last lines)
	// Items are what a step with for_each would do for each item, when
	// its list is known before the run (nil otherwise: see Note).
	Items []PlannedItem
}

// PlannedItem is what one item of a step with for_each would do.
type PlannedItem struct {
	Index    int
	Item     string // the item, shown as text
	Decision string // "runs", "skipped (if is false)", "depends on runtime"
	Command  string
}

// DryRun evaluates what it can of a plan without side effects: conditions
// that depend only on params, env, the repository and steps that ran, and
// every step's interpolated command. Steps that declare `dry_run: run`
// (they are read-only) really run, in a throwaway folder, and their outputs
// feed the conditions and commands after them. Nothing is recorded.
func (r *Runner) DryRun(ctx context.Context, plan *Plan, params map[string]any) ([]PlannedStep, error) {
	tmp, err := os.MkdirTemp("", "rbflow-dry-run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	run := r.newRun(plan, params, "", time.Now())
	run.ID = "dry-run"
	run.begin(proc.Self())
	x, err := r.newExecution(ctx, plan, run, map[string]*StepRecord{}, tmp)
	if err != nil {
		return nil, err
	}
	x.dry, x.answers = true, map[string]Answer{}
	for step, v := range r.Answers {
		x.answers[step] = Answer{StepID: step, Value: v, Source: AnswerFlag}
	}
	ran := map[string]bool{}
	var out []PlannedStep
	for _, st := range plan.Steps() {
		ps := PlannedStep{ID: st.ID, Section: st.Section, Kind: st.Kind, Decision: "runs"}
		for _, n := range st.Needs {
			ps.Needs = append(ps.Needs, n.ID)
		}
		status := eval.Status{Success: true}
		if st.Section != "steps" {
			status.Failure = st.Section == "on_failure"
		}
		env := plan.eval.Env(x.data(ctx, st, status))
		if st.Looped() {
			out = append(out, x.dryLoop(ctx, st, ps, env))
			rec := &StepRecord{StepID: st.ID}
			rec.start(proc.Self(), time.Now())
			rec.succeed(time.Now())
			x.recs[st.ID] = rec
			continue
		}
		skipped := false
		if st.If != nil {
			ps.If = strings.TrimSpace(st.If.Source)
			if !knowable(st.If, ran) {
				ps.Decision = "depends on runtime"
			} else if ok, err := st.If.Eval(env); err != nil {
				ps.Decision = "condition fails: " + x.mask.String(err.Error())
			} else if !ok {
				ps.Decision = "skipped (if is false)"
				skipped = true
			}
		}
		switch st.Section {
		case "on_failure":
			ps.Note = "only if a main step fails"
		case "finally":
			ps.Note = "always, last"
		}
		ex, err := x.exec(ctx, st, st.ID, env)
		if err != nil {
			ps.Command = "(" + x.mask.String(err.Error()) + ")"
		} else {
			cmd, err := st.Action.Describe(ctx, ex)
			if err != nil {
				cmd = "(" + err.Error() + ")"
			}
			ps.Command = x.mask.String(cmd)
		}
		if err == nil && st.Dir != nil {
			if fi, serr := os.Stat(ex.Dir); serr != nil || !fi.IsDir() {
				ps.Note = strings.TrimSpace(ps.Note + "; in " + ex.Dir + ", which does not exist now (an earlier step may make it)")
			}
		}
		if st.Dir != nil && st.Dir.Runtime() || hasRuntimeTemplates(st) {
			ps.Note = strings.TrimSpace(ps.Note + "; values from earlier steps are known only at run time")
		}
		// A step that does not really run is taken as succeeded by what follows it.
		rec := &StepRecord{StepID: st.ID}
		rec.start(proc.Self(), time.Now())
		rec.succeed(time.Now())
		if st.Spec.DryRun == "run" && !skipped && ps.Decision != "depends on runtime" && ex != nil {
			// Declared read-only: it runs now, and what it finds is known.
			ps.Output, rec = x.dryExecute(ctx, st, ex)
			ran[st.ID] = true
			ps.Decision = "ran (read-only): " + string(rec.Status)
			if rec.Error != "" {
				ps.Decision += ": " + rec.Error
			}
		}
		x.recs[st.ID] = rec
		out = append(out, ps)
	}
	return out, nil
}

// dryLoop plans a step with for_each: each item's decision and command
// when the list is known before the run.
func (x *execution) dryLoop(ctx context.Context, st *Step, ps PlannedStep, env *eval.Env) PlannedStep {
	switch st.Section {
	case "on_failure":
		ps.Note = "only if a main step fails"
	case "finally":
		ps.Note = "always, last"
	}
	if st.If != nil {
		ps.If = strings.TrimSpace(st.If.Source)
	}
	items := st.Items
	if st.ForEach != nil {
		if st.ForEach.Runtime() {
			ps.Decision = "depends on runtime"
			ps.Note = strings.TrimSpace(ps.Note + "; for each item of " + strings.TrimSpace(st.ForEach.Source) + ", known only at run time")
			return ps
		}
		var err error
		if items, err = st.ForEach.Eval(env); err != nil {
			ps.Decision = "for_each fails: " + x.mask.String(err.Error())
			return ps
		}
	}
	ps.Decision = fmt.Sprintf("runs for each of %d items", len(items))
	if len(items) == 1 {
		ps.Decision = "runs for its one item"
	}
	if len(items) == 0 {
		ps.Decision = "skipped (for_each gives no items)"
	}
	limit := max(st.Spec.MaxParallel, 1)
	ps.Note = strings.TrimSpace(ps.Note + fmt.Sprintf("; at most %d at once", min(limit, x.parallel())))
	for i, item := range items {
		d := *env.Data()
		d.Item, d.Index = item, i
		ienv := x.plan.eval.Env(&d)
		pi := PlannedItem{Index: i, Item: x.mask.String(itemLabel(item)), Decision: "runs"}
		if st.If != nil {
			if !knowable(st.If, nil) {
				pi.Decision = "depends on runtime"
			} else if ok, err := st.If.Eval(ienv); err != nil {
				pi.Decision = "condition fails: " + x.mask.String(err.Error())
			} else if !ok {
				pi.Decision = "skipped (if is false)"
			}
		}
		if ex, err := x.exec(ctx, st, ItemID(st.ID, i), ienv); err != nil {
			pi.Command = "(" + x.mask.String(err.Error()) + ")"
		} else if cmd, err := st.Action.Describe(ctx, ex); err != nil {
			pi.Command = "(" + x.mask.String(err.Error()) + ")"
		} else {
			pi.Command = x.mask.String(cmd)
		}
		ps.Items = append(ps.Items, pi)
	}
	return ps
}

// knowable reports whether a condition can be evaluated in a dry run: it
// reads no run state and only steps that really ran.
func knowable(c *eval.Condition, ran map[string]bool) bool {
	ids, runState := c.StepRefs()
	if runState {
		return false
	}
	for _, id := range ids {
		if !ran[id] {
			return false
		}
	}
	return true
}

// dryExecute runs a read-only step for a dry run and returns its last
// output lines and its record (not stored).
func (x *execution) dryExecute(ctx context.Context, st *Step, ex *Exec) ([]string, *StepRecord) {
	var lines []string
	log := &stepLog{mask: x.mask, onLine: func(l string) {
		lines = append(lines, l)
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
	}}
	ex.Log = log
	ex.Attempt = 1
	rec := &StepRecord{StepID: st.ID}
	rec.start(proc.Self(), time.Now())
	res, err := x.attempt(ctx, st, ex)
	log.Close()
	rec.ExitCode, rec.Outputs = res.ExitCode, res.Outputs
	if err != nil {
		rec.fail(x.mask.String(err.Error()), false, time.Now())
	} else {
		rec.succeed(time.Now())
	}
	return lines, rec
}

func hasRuntimeTemplates(st *Step) bool {
	for _, e := range st.Env {
		if e.Value.Runtime() {
			return true
		}
	}
	return false
}
