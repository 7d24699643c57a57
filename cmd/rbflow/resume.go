package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/proc"
)

type resumeCmd struct {
	execFlags
	resumeFlags
}

// resumeFlags are the flags resume and retry share.
type resumeFlags struct {
	reload bool
	from   string
	skip   []string
	sets   []string
}

func (f *resumeFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.reload, "reload", false, "use the edited procedure file instead of the text the run started with (changed steps and what follows them run again)")
	fs.StringVar(&f.from, "from", "", "run `STEP` and everything after it again")
	fs.StringArrayVar(&f.skip, "skip", nil, "mark `STEP` skipped instead of running it (repeatable)")
	fs.StringArrayVar(&f.sets, "set", nil, "give a secret param again, `NAME=VALUE`: rbflow does not keep secrets (repeatable)")
}

func (f *resumeFlags) options() engine.ResumeOptions {
	return engine.ResumeOptions{From: f.from, Skip: f.skip, Reload: f.reload}
}

func (*resumeCmd) Name() string { return "resume" }
func (*resumeCmd) Usage() string {
	return "[RUN] [--reload] [--from STEP] [--skip STEP]... [--set SECRET=VALUE]... [--yes] [--answer step=value]... [--json]"
}
func (*resumeCmd) Summary() string {
	return "finish an interrupted, waiting or failed run (default: the newest run of this repository)"
}
func (c *resumeCmd) Flags(fs *pflag.FlagSet) {
	c.resumeFlags.add(fs)
	c.execFlags.add(fs)
}

func (c *resumeCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) > 1 {
		return usagef("resume takes at most one run id")
	}
	return c.continueRun(ctx, a, args, func(ctx context.Context, r *engine.Runner, id string) error {
		r.SecretSets = c.sets
		_, err := r.Resume(ctx, id, c.options())
		return err
	})
}

// continueRun drives the run named by args (the newest one by default)
// again: resume and retry.
func (f *execFlags) continueRun(ctx context.Context, a *app, args []string, fn func(context.Context, *engine.Runner, string) error) error {
	// The run's supervisor starts under the lock, once the run is sure to
	// run commands, and the run only begins to end it: this Close,
	// deferred before the store's, waits for it, and for what the run left
	// running, after the store has closed.
	sup := proc.NewSupervisor()
	defer sup.Close()
	s, run, err := a.openRun(ctx, args)
	if err != nil {
		return err
	}
	defer s.Close()
	r, v, err := f.runner(a, s)
	if err != nil {
		return err
	}
	r.Supervisor = sup
	return drive(ctx, r, v, func(ctx context.Context) error { return fn(ctx, r, run.ID) })
}
