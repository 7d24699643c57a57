package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/git"
)

type snapshotsCmd struct{}

func (*snapshotsCmd) Name() string  { return "snapshots" }
func (*snapshotsCmd) Usage() string { return "[RUN]" }
func (*snapshotsCmd) Summary() string {
	return "list the snapshots rbflow saved before destructive steps, and what each did not save"
}
func (*snapshotsCmd) Flags(*pflag.FlagSet) {}

func (*snapshotsCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("snapshots takes at most one run id")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	runID := ""
	if len(args) == 1 {
		run, err := s.findRun(ctx, args[0])
		if err != nil {
			return err
		}
		runID = run.ID
	}
	snaps, err := s.store.Snapshots(ctx, runID)
	if err != nil {
		return err
	}
	if len(snaps) == 0 {
		fmt.Fprintln(a.stdout, "no snapshots")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTEP\tTAKEN\tREF\tCOMMIT\tNOT SAVED")
	for _, sn := range snaps {
		skipped := "-"
		if len(sn.Skipped) > 0 {
			skipped = strings.Join(sn.Skipped, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sn.RunID, sn.StepID, sn.CreatedAt.Local().Format("2006-01-02 15:04:05"), sn.Ref, short(sn.Commit), skipped)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	show := "git --git-dir=.git/rbflow/snapshots.git show REF"
	if repo, err := git.Open(ctx, s.repo); err == nil {
		show = "git --git-dir=" + eval.Quote(repo.KeepDir()) + " show REF"
	}
	fmt.Fprintf(a.stdout, "\nrestore one with: rbflow undo RUN   (%s shows its content)\n", show)
	return nil
}
