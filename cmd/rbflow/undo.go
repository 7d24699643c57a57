package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/procedures"
	"github.com/rbflow/rbflow/steps"
)

type undoCmd struct {
	execFlags
	dryRun bool
	force  bool
}

func (*undoCmd) Name() string  { return "undo" }
func (*undoCmd) Usage() string { return "RUN [--dry-run] [--force]" }
func (*undoCmd) Summary() string {
	return "restore the state saved before a run's first destructive step: branch, HEAD, index, tracked, untracked and saved ignored files"
}
func (c *undoCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.dryRun, "dry-run", false, "say what would be restored and what is in the way; change nothing")
	fs.BoolVar(&c.force, "force", false, "restore over changes made after the run (they are saved in a snapshot first)")
	c.execFlags.add(fs)
}

func (c *undoCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) != 1 {
		return usagef("undo takes one run id (rbflow runs lists them; rbflow snapshots RUN shows what was saved)")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.repo == "" {
		return errors.New("undo works on a git repository: run it inside one, or pass --repo")
	}
	target, err := s.findRun(ctx, args[0])
	if err != nil {
		return err
	}
	if target.UndoneBy != "" {
		fmt.Fprintf(a.stdout, "run %s is undone already (by run %s): nothing to do; rbflow undo %s brings its changes back\n", target.ID, target.UndoneBy, target.UndoneBy)
		return nil
	}
	if c.dryRun {
		p, err := steps.PreviewUndo(ctx, s.store, s.store, s.repo, target.ID)
		if err != nil {
			return err
		}
		return c.describe(a, target, p)
	}
	if _, err := steps.FirstSnapshot(ctx, s.store, s.store, target.ID); err != nil {
		return err
	}
	src := engine.Source{Path: procedures.BuiltinPrefix + "undo", Text: []byte(procedures.Undo)}
	plan, err := a.loader(s.repo, nil).Load(src)
	if err != nil {
		return err
	}
	params := map[string]any{"run": target.ID, "force": c.force}
	r, v, err := c.runner(a, s)
	if err != nil {
		return err
	}
	return drive(ctx, r, v, func(ctx context.Context) error {
		_, err := r.Start(ctx, plan, params, src.Path)
		return err
	})
}

// describe prints what an undo would do, changing nothing.
func (c *undoCmd) describe(a *app, target *engine.Run, p *steps.UndoPreview) error {
	w := a.stdout
	fmt.Fprintf(w, "undo of run %s (%s) would restore %s, saved before step %s:\n", target.ID, target.Procedure, p.First.Ref, p.First.StepID)
	where := "detached HEAD at " + short(p.Head)
	if p.Branch != "" {
		where = fmt.Sprintf("branch %s at %s", p.Branch, short(p.Head))
	}
	fmt.Fprintf(w, "  HEAD: %s\n", where)
	list := func(title string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(w, "  %s:\n", title)
			for _, it := range items {
				fmt.Fprintf(w, "    %s\n", it)
			}
		}
	}
	list("files that would change (D: comes back, M: content restored, A: removed)", p.Changes)
	list("not saved, left as they are", p.NotSaved)
	switch {
	case !p.AfterSaved:
		fmt.Fprintf(w, "  the state the run left was not saved (it was cut off): undo needs --force\n")
	case len(p.InTheWay) == 0:
		fmt.Fprintf(w, "  nothing changed since the run is in the way\n")
	default:
		var way []string
		for _, cf := range p.InTheWay {
			way = append(way, fmt.Sprintf("%s: %s", cf.Path, cf.Reason))
		}
		list("changed after the run, in the way (undo refuses without --force, which saves them first)", way)
	}
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "(no commit)"
	}
	return sha
}
