package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps"
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
	return "the post-rollback checklist of a run (default: the latest rollback, else the newest run): auto-ticked items and ones you tick with --done"
}
func (c *checklistCmd) Flags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.done, "done", nil, "tick `ITEM` by hand ("+strings.Join(steps.ChecklistIDs(), ", ")+"; repeatable)")
	fs.StringArrayVar(&c.undo, "undo", nil, "take back a tick given by hand to `ITEM` (repeatable)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

func (c *checklistCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("checklist takes at most one run id")
	}
	for _, id := range append(append([]string{}, c.done...), c.undo...) {
		if !slices.Contains(steps.ChecklistIDs(), id) {
			return usagef("no checklist item %q%s; the items are %s", id, spec.Hint(id, steps.ChecklistIDs()), strings.Join(steps.ChecklistIDs(), ", "))
		}
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	run, err := c.find(ctx, a, s, args)
	if err != nil {
		return err
	}
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
	items, err := steps.Checklist(ctx, s.store, a.loader(s.repo, nil), run)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			RunID    string             `json:"run_id"`
			UndoneBy string             `json:"undone_by,omitempty"`
			Items    []steps.CheckState `json:"items"`
		}{run.ID, run.UndoneBy, items})
	}
	w := a.stdout
	fmt.Fprintf(w, "post-rollback checklist of run %s (%s, %s)\n\n", run.ID, run.Procedure, run.Shown())
	if run.UndoneBy != "" {
		fmt.Fprintf(w, "this rollback was undone by run %s: the tree is back as it was before it, and the items below tell what the rollback did then\n\n", run.UndoneBy)
	}
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

// find returns the run named, or else the latest rollback (the run that
// called it, when it was called: its checklist covers both), or else the
// newest run (SPEC §12: the checklist knows what came before).
func (c *checklistCmd) find(ctx context.Context, a *app, s *session, args []string) (*engine.Run, error) {
	if len(args) == 1 {
		return s.findRun(ctx, args[0])
	}
	rb, err := steps.LatestRollback(ctx, s.store, s.store, a.loader(s.repo, nil).PlanOf, s.repo)
	if err != nil || rb == nil {
		return s.findRun(ctx, "")
	}
	run := rb.Run
	for run.ParentRun != "" {
		parent, err := s.store.Run(ctx, run.ParentRun)
		if err != nil {
			break
		}
		run = parent
	}
	return run, nil
}
