package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rbflow/rbflow/engine/eval"
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
}

// DryRun evaluates what it can of a plan without side effects: conditions
// that depend only on params, env and the repository, and every step's
// interpolated command. Steps run in dependency order.
func (r *Runner) DryRun(plan *Plan, params map[string]any) ([]PlannedStep, error) {
	run := &Run{ID: "dry-run", Procedure: plan.Name(), Params: params, Status: RunRunning, Target: plan.Procedure.Target}
	x := &execution{r: r, plan: plan, run: run, recs: map[string]*StepRecord{}, runDir: filepath.Join(os.TempDir(), "rbflow-dry-run"), dry: true}
	x.base = r.Repo
	if x.base == "" {
		x.base = r.WorkDir
	}
	x.mask = NewMask(plan.Procedure, params)
	x.env = map[string]string{}
	for _, e := range plan.Env {
		v, err := e.Value.Render(plan.eval.Env(x.data(nil, eval.Status{Success: true})))
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		x.env[e.Name] = v
	}
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
		env := plan.eval.Env(x.data(st, status))
		if st.If != nil {
			ps.If = strings.TrimSpace(st.If.Source)
			if st.If.Runtime() {
				ps.Decision = "depends on runtime"
			} else if ok, err := st.If.Eval(env); err != nil {
				ps.Decision = "condition fails: " + x.mask.mask(err.Error())
			} else if !ok {
				ps.Decision = "skipped (if is false)"
			}
		}
		switch st.Section {
		case "on_failure":
			ps.Note = "only if a main step fails"
		case "finally":
			ps.Note = "always, last"
		}
		ex, err := x.exec(st, env)
		if err != nil {
			ps.Command = "(" + x.mask.mask(err.Error()) + ")"
		} else if d, ok := st.Action.(Describer); ok {
			cmd, err := d.Describe(ex)
			if err != nil {
				cmd = "(" + err.Error() + ")"
			}
			ps.Command = x.mask.mask(cmd)
		}
		if err == nil && st.Dir != nil {
			if fi, serr := os.Stat(ex.Dir); serr != nil || !fi.IsDir() {
				ps.Note = strings.TrimSpace(ps.Note + "; in " + ex.Dir + ", which does not exist now (an earlier step may make it)")
			}
		}
		if st.Dir != nil && st.Dir.Runtime() || hasRuntimeTemplates(st) {
			ps.Note = strings.TrimSpace(ps.Note + "; values from earlier steps are known only at run time")
		}
		// Mark the step done so later conditions see a plausible state.
		x.recs[st.ID] = &StepRecord{StepID: st.ID, Status: StepSucceeded, Conclusion: StepSucceeded, Outcome: StepSucceeded}
		out = append(out, ps)
	}
	return out, nil
}

func hasRuntimeTemplates(st *Step) bool {
	for _, e := range st.Env {
		if e.Value.Runtime() {
			return true
		}
	}
	return false
}
