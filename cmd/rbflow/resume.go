package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/procedures"
)

type resumeCmd struct {
	execFlags
	reload bool
	from   string
	skip   []string
}

func (*resumeCmd) Name() string { return "resume" }
func (*resumeCmd) Usage() string {
	return "[RUN] [--reload] [--from STEP] [--skip STEP]... [--yes] [--answer step=value]... [--json]"
}
func (*resumeCmd) Summary() string {
	return "finish an interrupted, waiting or failed run (default: the newest run of this repository)"
}
func (c *resumeCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.reload, "reload", false, "use the edited procedure file instead of the text the run started with")
	fs.StringVar(&c.from, "from", "", "run `STEP` and everything after it again")
	fs.StringArrayVar(&c.skip, "skip", nil, "mark `STEP` skipped instead of running it (repeatable)")
	c.execFlags.add(fs)
}

func (c *resumeCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("resume takes at most one run id")
	}
	s, run, err := a.openRun(ctx, args, true)
	if err != nil {
		return err
	}
	defer s.Close()
	if !run.Status.Resumable() {
		return usagef("run %s is %s: nothing to resume (rbflow retry %s runs it again)", run.ID, run.Status, run.ID)
	}
	plan, reloaded, err := a.runPlan(ctx, run, c.reload)
	if err != nil {
		return err
	}
	return c.continueRun(ctx, a, s, run, plan, fmt.Sprintf("resuming run %s of %s", run.ID, run.Procedure), func(ctx context.Context, r *engine.Runner) error {
		return r.Resume(ctx, plan, run, engine.ResumeOptions{From: c.from, Skip: c.skip, Reloaded: reloaded})
	})
}

// runPlan compiles the text a run started with, or with reload the file it
// came from. It says when the file changed since.
func (a *app) runPlan(ctx context.Context, run *engine.Run, reload bool) (*engine.Plan, bool, error) {
	onDisk, diskErr := a.sourceOnDisk(ctx, run)
	if reload {
		if diskErr != nil {
			return nil, false, fmt.Errorf("--reload: %w", diskErr)
		}
		plan, err := a.compile(run.SourcePath, onDisk)
		return plan, true, err
	}
	if diskErr == nil && hash(onDisk) != run.Hash && !a.quiet {
		fmt.Fprintf(a.stderr, "rbflow: %s changed since run %s started; resuming with the text it started with (use --reload to take the edited file: changed steps and what follows them run again)\n", run.SourcePath, run.ID)
	}
	plan, err := a.compile(run.SourcePath, []byte(run.Source))
	return plan, false, err
}

func (a *app) sourceOnDisk(ctx context.Context, run *engine.Run) ([]byte, error) {
	if name, ok := strings.CutPrefix(run.SourcePath, "builtin:"); ok {
		repo, _ := a.repo(ctx)
		src, err := procedures.Resolve(name, repo)
		if err != nil {
			return nil, err
		}
		return src.Text, nil
	}
	return os.ReadFile(run.SourcePath)
}

func hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
