package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/store"
)

// checklistCmd is the seed's post-rollback checklist for one run. Items
// rbflow can verify are ticked from what the run (and the runs it called)
// shows; a person ticks the others, and the ticks are kept in the store.
type checklistCmd struct {
	done []string
	undo []string
	json bool
}

func (*checklistCmd) Name() string  { return "checklist" }
func (*checklistCmd) Usage() string { return "[RUN] [--done ITEM]... [--undo ITEM]... [--json]" }
func (*checklistCmd) Summary() string {
	return "the post-rollback checklist of a run (default: the newest): auto-ticked items and ones you tick with --done"
}
func (c *checklistCmd) Flags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.done, "done", nil, "tick `ITEM` by hand ("+strings.Join(checklistIDs(), ", ")+"; repeatable)")
	fs.StringArrayVar(&c.undo, "undo", nil, "take back a tick given by hand to `ITEM` (repeatable)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

// checklistItem is one item of the seed's post-rollback checklist.
type checklistItem struct {
	ID   string
	Text string
}

// checklistItems are the seed's, in its order.
var checklistItems = []checklistItem{
	{"services", "Services restored and verified"},
	{"users", "Users notified (if affected)"},
	{"analysis", "Failure analysis completed"},
	{"recovery", "Recovery plan created"},
	{"metrics", "Metrics recorded"},
	{"lessons", "Lessons learned documented"},
	{"improvements", "Process improvements identified"},
	{"next", "Next attempt planned"},
}

func checklistIDs() []string {
	ids := make([]string, len(checklistItems))
	for i, it := range checklistItems {
		ids[i] = it.ID
	}
	return ids
}

// lessonsPlaceholder is what the seed's analysis report holds until a
// person writes the lessons down.
const lessonsPlaceholder = "[TO BE FILLED"

// checkState is an item as rbflow shows it.
type checkState struct {
	ID       string     `json:"id"`
	Text     string     `json:"text"`
	Done     bool       `json:"done"`
	Auto     string     `json:"auto,omitempty"` // what in the runs shows it done
	ByHand   bool       `json:"by_hand"`
	TickedAt *time.Time `json:"ticked_at,omitempty"`
}

// checklistStore is what the checklist needs of the store.
type checklistStore interface {
	Run(ctx context.Context, id string) (*engine.Run, error)
	Runs(ctx context.Context, repo string) ([]*engine.Run, error)
	Steps(ctx context.Context, runID string) ([]*engine.StepRecord, error)
	Checklist(ctx context.Context, runID string) (map[string]store.ChecklistItem, error)
}

func (c *checklistCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("checklist takes at most one run id")
	}
	for _, id := range append(append([]string{}, c.done...), c.undo...) {
		if !knownItem(id) {
			h := ""
			if s := spec.Suggest(id, checklistIDs()); s != "" {
				h = fmt.Sprintf(" (did you mean %q?)", s)
			}
			return usagef("no checklist item %q%s; the items are %s", id, h, strings.Join(checklistIDs(), ", "))
		}
	}
	s, run, err := a.openRun(ctx, args, false)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, item := range c.done {
		if err := s.store.SetChecklistItem(ctx, run.ID, item, true); err != nil {
			return err
		}
	}
	for _, item := range c.undo {
		if err := s.store.SetChecklistItem(ctx, run.ID, item, false); err != nil {
			return err
		}
	}
	items, err := checklist(ctx, s.store, run)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			RunID string       `json:"run_id"`
			Items []checkState `json:"items"`
		}{run.ID, items})
	}
	w := a.stdout
	fmt.Fprintf(w, "post-rollback checklist of run %s (%s, %s)\n\n", run.ID, run.Procedure, shownStatus(run))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	done := 0
	for _, it := range items {
		mark, how := "[ ]", ""
		if it.Done {
			mark = "[x]"
			done++
		}
		switch {
		case it.Auto != "":
			how = "auto: " + it.Auto
		case it.ByHand:
			how = "ticked by hand " + it.TickedAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\n", mark, it.ID, it.Text, how)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d of %d done", done, len(items))
	if done < len(items) {
		fmt.Fprintf(w, "; tick an item by hand with: rbflow checklist %s --done ITEM", run.ID)
	}
	fmt.Fprintln(w)
	for _, item := range c.undo {
		for _, it := range items {
			if it.ID == item && it.Auto != "" {
				fmt.Fprintf(w, "note: %s stays ticked: %s\n", item, it.Auto)
			}
		}
	}
	return nil
}

func knownItem(id string) bool {
	for _, it := range checklistItems {
		if it.ID == id {
			return true
		}
	}
	return false
}

// checklist works out the items of run: ticked by hand, or ticked from
// what run, the runs it called, and later runs of the analyze procedure
// show.
func checklist(ctx context.Context, st checklistStore, run *engine.Run) ([]checkState, error) {
	manual, err := st.Checklist(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	ev, err := gatherEvidence(ctx, st, run)
	if err != nil {
		return nil, err
	}
	out := make([]checkState, len(checklistItems))
	for i, it := range checklistItems {
		cs := checkState{ID: it.ID, Text: it.Text, Auto: ev[it.ID]}
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

// ranStep is a step record with the definition it ran.
type ranStep struct {
	run *engine.Run
	rec *engine.StepRecord
	def *spec.Step
}

func (s ranStep) name() string {
	if s.run.ParentRun != "" {
		return fmt.Sprintf("step %s of %s (run %s)", s.rec.StepID, s.run.Procedure, s.run.ID)
	}
	return "step " + s.rec.StepID
}

// gatherEvidence returns, by item id, what shows an item done.
func gatherEvidence(ctx context.Context, st checklistStore, run *engine.Run) (map[string]string, error) {
	all, err := st.Runs(ctx, "")
	if err != nil {
		return nil, err
	}
	// The run and every run it called, at any depth.
	family := []*engine.Run{run}
	for i := 0; i < len(family); i++ {
		for j := len(all) - 1; j >= 0; j-- {
			if all[j].ParentRun == family[i].ID {
				family = append(family, all[j])
			}
		}
	}
	ev := map[string]string{}
	var reports []ranStep
	visit := func(runs []*engine.Run) error {
		for _, r := range runs {
			views, err := succeededSteps(ctx, st, r)
			if err != nil {
				return err
			}
			for _, v := range views {
				switch v.def.Kind {
				case "service":
					if ev["services"] == "" && (v.def.Arg.Str == "start" || v.def.Arg.Str == "restart") && v.rec.Outputs["ready"] == true {
						ev["services"] = fmt.Sprintf("%s: service %v started and ready", v.name(), v.rec.Outputs["name"])
					}
				case "wait":
					if ev["services"] == "" {
						ev["services"] = fmt.Sprintf("%s: %s wait succeeded", v.name(), v.def.Arg.Str)
					}
				case "record":
					if ev["metrics"] == "" {
						ev["metrics"] = fmt.Sprintf("%s: recorded %s", v.name(), v.def.Arg.Str)
					}
				case "report":
					reports = append(reports, v)
					if ev["analysis"] == "" && literalWith(v.def, "kind") == "analysis" {
						ev["analysis"] = v.name() + ": analysis report"
					}
				}
			}
		}
		return nil
	}
	if err := visit(family); err != nil {
		return nil, err
	}
	// An analysis run of the same repository after this one counts too, and
	// the lessons may be written into its report.
	var analyses []*engine.Run
	for _, r := range all {
		if r.Procedure == "analyze" && r.Repo == run.Repo && r.Status == engine.RunSucceeded && !r.StartedAt.Before(run.StartedAt) && r.ID != run.ID {
			analyses = append(analyses, r)
		}
	}
	if len(analyses) > 0 && ev["analysis"] == "" {
		ev["analysis"] = fmt.Sprintf("run %s of analyze", analyses[len(analyses)-1].ID)
	}
	if err := visit(analyses); err != nil {
		return nil, err
	}
	for _, v := range reports {
		for _, path := range reportFiles(v) {
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			text := string(b)
			if strings.Contains(strings.ToLower(text), "lessons learned") && !strings.Contains(text, lessonsPlaceholder) {
				ev["lessons"] = fmt.Sprintf("%s: %s has its lessons learned", v.name(), path)
				break
			}
		}
		if ev["lessons"] != "" {
			break
		}
	}
	return ev, nil
}

// succeededSteps returns a run's succeeded steps with their definitions,
// read from the text the run executed.
func succeededSteps(ctx context.Context, st checklistStore, r *engine.Run) ([]ranStep, error) {
	recs, err := st.Steps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	p, _ := spec.Decode(r.SourcePath, []byte(r.Source))
	if p == nil {
		return nil, nil
	}
	defs := map[string]*spec.Step{}
	for _, sec := range [][]*spec.Step{p.Steps, p.OnFailure, p.Finally} {
		for _, s := range sec {
			defs[s.ID] = s
		}
	}
	var out []ranStep
	for _, rec := range recs {
		def := defs[rec.StepID]
		if def == nil || def.Arg == nil || rec.Status != engine.StepSucceeded {
			continue
		}
		out = append(out, ranStep{run: r, rec: rec, def: def})
	}
	return out, nil
}

// literalWith returns a with: argument written as plain text.
func literalWith(s *spec.Step, key string) string {
	v := s.With.Get(key)
	if v == nil || v.Kind != spec.Scalar || strings.Contains(v.Str, "${{") {
		return ""
	}
	return v.Str
}

// reportFiles lists the files a report step wrote, as far as its record
// shows: its path argument and the file paths among its outputs.
func reportFiles(v ranStep) []string {
	base := v.run.Repo
	var out []string
	add := func(p string) {
		if p == "" || p == "-" || strings.Contains(p, "${{") || strings.ContainsRune(p, '\n') {
			return
		}
		if !filepath.IsAbs(p) {
			if base == "" {
				return
			}
			p = filepath.Join(base, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	for _, o := range v.rec.Outputs {
		if p, ok := o.(string); ok {
			add(p)
		}
	}
	if v.def.Arg.Kind == spec.Scalar {
		add(v.def.Arg.Str)
	}
	return out
}
