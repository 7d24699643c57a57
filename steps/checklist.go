package steps

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// ChecklistItem is one item of the seed's post-rollback checklist.
type ChecklistItem struct {
	ID   string
	Text string
}

// ChecklistItems are the seed's, in its order.
var ChecklistItems = []ChecklistItem{
	{"services", "Services restored and verified"},
	{"users", "Users notified (if affected)"},
	{"analysis", "Failure analysis completed"},
	{"recovery", "Recovery plan created"},
	{"metrics", "Metrics recorded"},
	{"lessons", "Lessons learned documented"},
	{"improvements", "Process improvements identified"},
	{"next", "Next attempt planned"},
}

// ChecklistIDs lists the items' ids in order.
func ChecklistIDs() []string {
	ids := make([]string, len(ChecklistItems))
	for i, it := range ChecklistItems {
		ids[i] = it.ID
	}
	return ids
}

// lessonsPlaceholder is what the seed's analysis report holds until a
// person writes the lessons down.
const lessonsPlaceholder = "[TO BE FILLED"

// CheckState is an item of a run's checklist as rbflow shows it.
type CheckState struct {
	ID       string     `json:"id"`
	Text     string     `json:"text"`
	Done     bool       `json:"done"`
	Auto     string     `json:"auto,omitempty"` // what in the runs shows it done
	ByHand   bool       `json:"by_hand"`
	TickedAt *time.Time `json:"ticked_at,omitempty"`
}

// Checklist works out the items of run: ticked by hand (kept in the store),
// or ticked from what run, the runs it called, and later runs of the
// analyze procedure show. l compiles the text each run executed, so that
// every step is read as the kind that ran it.
func Checklist(ctx context.Context, st engine.Store, l *engine.Loader, run *engine.Run) ([]CheckState, error) {
	manual, err := st.Checklist(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	ev, err := gatherEvidence(ctx, st, l, run)
	if err != nil {
		return nil, err
	}
	out := make([]CheckState, len(ChecklistItems))
	for i, it := range ChecklistItems {
		cs := CheckState{ID: it.ID, Text: it.Text, Auto: ev[it.ID]}
		if m, ok := manual[it.ID]; ok && m.Done {
			cs.ByHand = true
			t := m.DoneAt
			cs.TickedAt = &t
		}
		cs.Done = cs.Auto != "" || cs.ByHand
		out[i] = cs
	}
	return out, nil
}

// ranStep is a step of a run with the action that ran it.
type ranStep struct {
	run    *engine.Run
	rec    *engine.StepRecord
	action engine.Action
}

func (s ranStep) name() string {
	if s.run.ParentRun != "" {
		return fmt.Sprintf("step %s of %s (run %s)", s.rec.StepID, s.run.Procedure, s.run.ID)
	}
	return "step " + s.rec.StepID
}

// evidence is what a succeeded step shows of the checklist: the item it
// ticks and how, by the kind that ran it. An analysis report counts only
// when the run's tests ran (see testsRead).
func (s ranStep) evidence() (item, how string) {
	if code, ok := webhookStatus(s.rec.Outputs["webhook_status"]); ok && code >= 200 && code < 300 {
		return "users", fmt.Sprintf("%s: the webhook answered %d", s.name(), code)
	}
	switch a := s.action.(type) {
	case *serviceAction:
		if (a.op == svcStart || a.op == svcRestart) && s.rec.Outputs["ready"] == true {
			return "services", fmt.Sprintf("%s: service %v started and ready", s.name(), s.rec.Outputs["name"])
		}
	case *waitAction:
		return "services", fmt.Sprintf("%s: %s wait succeeded", s.name(), a.kind)
	case *recordAction:
		return "metrics", fmt.Sprintf("%s: recorded %s", s.name(), a.kind)
	case *reportAction:
		if a.kind == "analysis" {
			return "analysis", s.name() + ": analysis report"
		}
	}
	return "", ""
}

// webhookStatus reads the HTTP status a step recorded as webhook_status
// (the notify procedure's post step does).
func webhookStatus(v any) (int, bool) {
	switch v := v.(type) {
	case float64:
		return int(v), true
	case int:
		return v, true
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return n, err == nil
	}
	return 0, false
}

// testsRead says whether every test step of a run read its results (a
// test that fails still ran); the first that did not is named in why.
// An analysis whose tests could not run is not a completed analysis.
func testsRead(steps []ranStep) (ok bool, why string) {
	for _, s := range steps {
		if _, isTest := s.action.(*testAction); !isTest {
			continue
		}
		if s.rec.Status == engine.StepSkipped || s.rec.Outputs["total"] == nil {
			return false, s.name()
		}
	}
	return true, ""
}

// gatherEvidence returns, by item id, what shows an item done.
func gatherEvidence(ctx context.Context, st engine.Store, l *engine.Loader, run *engine.Run) (map[string]string, error) {
	family, err := engine.RunFamily(ctx, st, run.ID)
	if err != nil {
		return nil, err
	}
	// Analysis and notify runs of the same repository after this one count
	// too, and the lessons may be written into an analysis report.
	all, err := st.Runs(ctx, "")
	if err != nil {
		return nil, err
	}
	var later []*engine.Run
	for _, r := range all {
		if (r.Procedure == "analyze" || r.Procedure == "notify") && r.Repo == run.Repo && r.Status == engine.RunSucceeded && !r.StartedAt.Before(run.StartedAt) && r.ID != run.ID {
			later = append(later, r)
		}
	}
	ev := map[string]string{}
	var reports []ranStep
	for i, r := range append(family, later...) {
		ran, err := runSteps(ctx, st, l, r)
		if err != nil {
			return nil, err
		}
		testsOK, _ := testsRead(ran)
		if i >= len(family) && r.Procedure == "analyze" && testsOK && ev["analysis"] == "" {
			ev["analysis"] = fmt.Sprintf("run %s of analyze", r.ID)
		}
		for _, s := range ran {
			if s.rec.Status != engine.StepSucceeded {
				continue
			}
			item, how := s.evidence()
			if item == "analysis" && !testsOK {
				item = ""
			}
			if item != "" && ev[item] == "" {
				ev[item] = how
			}
			if _, ok := s.action.(*reportAction); ok {
				reports = append(reports, s)
			}
		}
	}
	for _, s := range reports {
		if path := lessonsIn(s); path != "" {
			ev["lessons"] = fmt.Sprintf("%s: %s has its lessons learned", s.name(), path)
			break
		}
	}
	return ev, nil
}

// runSteps returns a run's steps with the actions of the text the run
// executed.
func runSteps(ctx context.Context, st engine.RunStore, l *engine.Loader, r *engine.Run) ([]ranStep, error) {
	recs, err := st.Steps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	plan, err := l.PlanOf(r)
	if err != nil {
		return nil, nil // written for another rbflow: nothing to read from it
	}
	var out []ranStep
	for _, rec := range recs {
		id := rec.StepID
		if parent, _, item := engine.ItemOf(id); item {
			id = parent // an item of a step with for_each did the step's work
		}
		step, ok := plan.Step(id)
		if !ok || step.Action == nil || step.Looped() && id == rec.StepID {
			continue // a looped step's own record only gathers its items'
		}
		out = append(out, ranStep{run: r, rec: rec, action: step.Action})
	}
	return out, nil
}

// lessonsIn returns the report file a report step wrote whose lessons
// learned are written down, or "".
func lessonsIn(s ranStep) string {
	for _, path := range reportFiles(s) {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		text := string(b)
		if strings.Contains(strings.ToLower(text), "lessons learned") && !strings.Contains(text, lessonsPlaceholder) {
			return path
		}
	}
	return ""
}

// reportFiles lists the files a report step wrote, as its outputs show.
func reportFiles(s ranStep) []string {
	var out []string
	for _, o := range s.rec.Outputs {
		p, ok := o.(string)
		if !ok || p == "" || p == "-" || strings.ContainsRune(p, '\n') {
			continue
		}
		if !filepath.IsAbs(p) {
			if s.run.Repo == "" {
				continue
			}
			p = filepath.Join(s.run.Repo, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}
