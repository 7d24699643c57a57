package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
)

type cancelCmd struct{}

func (*cancelCmd) Name() string  { return "cancel" }
func (*cancelCmd) Usage() string { return "RUN" }
func (*cancelCmd) Summary() string {
	return "mark an interrupted, waiting or stale run cancelled, so that resume no longer picks it"
}
func (*cancelCmd) Flags(*pflag.FlagSet) {}

func (*cancelCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) != 1 {
		return usagef("cancel takes one run id")
	}
	s, run, err := a.openRun(ctx, args)
	if err != nil {
		return err
	}
	defer s.Close()
	r := &engine.Runner{Store: s.store, StateDir: s.stateDir, Repo: s.repo}
	if _, err := r.Cancel(ctx, run.ID); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "run %s cancelled\n", run.ID)
	return nil
}
