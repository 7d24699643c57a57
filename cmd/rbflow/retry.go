package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
)

type retryCmd struct {
	execFlags
	resumeFlags
}

func (*retryCmd) Name() string { return "retry" }
func (*retryCmd) Usage() string {
	return "[RUN] [--from STEP] [--skip STEP]... [--reload] [--set SECRET=VALUE]..."
}
func (*retryCmd) Summary() string {
	return "start a new attempt of a finished run (default: the newest), same run id: failed steps (or --from STEP and after) run again"
}
func (c *retryCmd) Flags(fs *pflag.FlagSet) {
	c.resumeFlags.add(fs)
	c.execFlags.add(fs)
}

func (c *retryCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) > 1 {
		return usagef("retry takes one run id (default: the newest run)")
	}
	return c.continueRun(ctx, a, args, func(ctx context.Context, r *engine.Runner, id string) error {
		r.SecretSets = c.sets
		_, err := r.Retry(ctx, id, c.options())
		return err
	})
}
