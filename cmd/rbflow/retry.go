package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
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
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	id := ""
	if len(args) == 1 {
		id = args[0]
	}
	run, err := s.findRun(ctx, id, false)
	if err != nil {
		return err
	}
	if !run.Status.Finished() {
		return usagef("run %s is %s, not finished: rbflow resume %s finishes it", run.ID, run.Status, run.ID)
	}
	plan, _, err := a.runPlan(ctx, run, c.reload)
	if err != nil {
		return err
	}
	if err := c.checkAnswers(plan); err != nil {
		return err
	}
	stored, err := s.store.Answers(ctx, run.ID)
	if err != nil {
		return err
	}
	r, v, err := c.runner(a, s, stored)
	if err != nil {
		return err
	}
	if err := c.saveAnswers(ctx, s, run.ID); err != nil {
		return err
	}
	if !a.quiet && !c.json {
		fmt.Fprintf(a.stderr, "rbflow: retrying run %s of %s (attempt %d)\n", run.ID, run.Procedure, run.Generation+1)
	}
	return drive(ctx, a, s, r, v, func(ctx context.Context) (string, error) {
		return run.ID, r.Retry(ctx, plan, run, c.from)
	})
}
