package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
)

type retryCmd struct {
	execFlags
	from   string
	reload bool
}

func (*retryCmd) Name() string  { return "retry" }
func (*retryCmd) Usage() string { return "RUN [--from STEP] [--reload]" }
func (*retryCmd) Summary() string {
	return "start a new attempt of a finished run (default: the newest), same run id: failed steps (or --from STEP and after) run again"
}
func (c *retryCmd) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.from, "from", "", "run `STEP` and everything after it again")
	fs.BoolVar(&c.reload, "reload", false, "use the edited procedure file")
	c.execFlags.add(fs)
}

func (c *retryCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("retry takes one run id (default: the newest run)")
	}
	s, run, err := a.openRun(ctx, args, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if !run.Status.Finished() {
		return usagef("run %s is %s, not finished: rbflow resume %s finishes it", run.ID, run.Status, run.ID)
	}
	plan, _, err := a.runPlan(ctx, run, c.reload)
	if err != nil {
		return err
	}
	return c.continueRun(ctx, a, s, run, plan, fmt.Sprintf("retrying run %s of %s (attempt %d)", run.ID, run.Procedure, run.Generation+1), func(ctx context.Context, r *engine.Runner) error {
		return r.Retry(ctx, plan, run, c.from)
	})
}
