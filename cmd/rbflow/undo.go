package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
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
	first, err := steps.FirstSnapshot(ctx, s.store, s.store, target.ID)
	if err != nil {
		return err
	}
	if c.dryRun {
		return c.describe(ctx, a, s, target, first)
	}
	src := engine.Source{Path: procedures.BuiltinPrefix + "undo", Text: []byte(procedures.Undo)}
	plan, err := a.loader(s.repo).Load(src)
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
func (c *undoCmd) describe(ctx context.Context, a *app, s *session, target *engine.Run, first *engine.Snapshot) error {
	repo, err := git.Open(ctx, s.repo)
	if err != nil {
		return err
	}
	snap, err := repo.ReadSnapshot(ctx, first.Ref)
	if err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "undo of run %s (%s) would restore %s, saved before step %s:\n", target.ID, target.Procedure, first.Ref, first.StepID)
	where := "detached HEAD at " + short(snap.Head)
	if snap.Branch != "" {
		where = fmt.Sprintf("branch %s at %s", snap.Branch, short(snap.Head))
	}
	fmt.Fprintf(w, "  HEAD: %s\n", where)
	changed, err := repo.Git(ctx, "diff", "--name-status", "--no-renames", snap.WorkTree, "--")
	if err == nil && strings.TrimSpace(changed) != "" {
		fmt.Fprintf(w, "  files that would change (D: comes back, M: content restored, A: removed):\n")
		for _, l := range strings.Split(strings.TrimSpace(changed), "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	if len(snap.Skipped) > 0 {
		fmt.Fprintf(w, "  not saved, left as they are:\n")
		for _, sk := range snap.Skipped {
			fmt.Fprintf(w, "    %s (%s)\n", sk.Path, sk.Reason)
		}
	}
	after, err := repo.ReadSnapshot(ctx, steps.AfterRef(target.ID))
	if err != nil {
		fmt.Fprintf(w, "  the state the run left was not saved (it was cut off): undo needs --force\n")
		return nil
	}
	conflicts, err := repo.Conflicts(ctx, snap, after)
	if err != nil {
		return err
	}
	if len(conflicts) == 0 {
		fmt.Fprintf(w, "  nothing changed since the run is in the way\n")
		return nil
	}
	fmt.Fprintf(w, "  changed after the run, in the way (undo refuses without --force, which saves them first):\n")
	for _, cf := range conflicts {
		fmt.Fprintf(w, "    %s: %s\n", cf.Path, cf.Reason)
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
