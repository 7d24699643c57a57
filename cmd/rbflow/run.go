package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/procedures"
)

// execFlags are the flags shared by run, resume and retry.
type execFlags struct {
	yes      bool
	answers  []string
	parallel int
	json     bool
	noColor  bool
	grace    time.Duration
}

func (f *execFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.yes, "yes", false, "answer yes to confirmations (prompts and on_resume: ask)")
	fs.StringArrayVar(&f.answers, "answer", nil, "answer a prompt step: `STEP=VALUE` (repeatable)")
	fs.IntVar(&f.parallel, "parallel", 4, "run at most `N` independent steps at once")
	fs.BoolVar(&f.json, "json", false, "print one JSON event per line")
	fs.BoolVar(&f.noColor, "no-color", false, "no colour (also: NO_COLOR)")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "after Ctrl-C, how long steps get between SIGTERM and SIGKILL")
}

// givenAnswers parses --answer STEP=VALUE flags.
func (f *execFlags) givenAnswers() (map[string]string, error) {
	ans := map[string]string{}
	for _, kv := range f.answers {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--answer takes STEP=VALUE, got %q", kv)
		}
		ans[k] = v
	}
	return ans, nil
}

// runner builds the engine runner for a session, with its observer. On a
// terminal, prompts without an answer are asked there.
func (f *execFlags) runner(a *app, s *session) (*engine.Runner, *view, error) {
	if f.parallel < 1 {
		return nil, nil, usagef("--parallel must be at least 1")
	}
	answers, err := f.givenAnswers()
	if err != nil {
		return nil, nil, err
	}
	wd, _ := os.Getwd()
	v := newView(a, f.json, f.noColor)
	r := &engine.Runner{
		Store: s.store, Loader: a.loader(s.repo, s.store), StateDir: s.stateDir, Repo: s.repo, WorkDir: wd,
		Parallel: f.parallel, Grace: f.grace, Observer: v, Answers: answers, Yes: f.yes,
	}
	if isTerminal(a.stdin) && isTerminal(a.stdout) {
		out := a.stdout
		if f.json {
			out = a.stderr // stdout is for the events
		}
		r.Prompter = &termPrompter{in: a.stdin, out: out, view: v}
	}
	return r, v, nil
}

// drive runs fn with signal handling and the live view.
func drive(ctx context.Context, r *engine.Runner, v *view, fn func(context.Context) error) error {
	ctx, hurry, stop := signals(ctx, v.notice)
	defer stop()
	r.Hurry = hurry
	v.start()
	defer v.stop()
	return fn(ctx)
}

type runCmd struct {
	execFlags
	sets       []string
	paramsFile string
	dryRun     bool
	approve    bool
}

func (*runCmd) Name() string { return "run" }
func (*runCmd) Usage() string {
	return "PROCEDURE [--set k=v]... [--params-file f.yaml] [--dry-run] [--yes] [--answer step=value]... [--parallel N] [--json]"
}
func (*runCmd) Summary() string {
	return "run a procedure (a file, or a built-in name); a run cut off by Ctrl-C or kill -9 is finished with rbflow resume"
}
func (c *runCmd) Flags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.sets, "set", nil, "set a param: `NAME=VALUE` (repeat for list items, or NAME='[a, b]')")
	fs.StringVar(&c.paramsFile, "params-file", "", "read params from a YAML map in `FILE`")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print the plan with every interpolated command; run nothing")
	fs.BoolVar(&c.approve, "approve", false, "a procedure from the repository: show what changed since it was last approved, approve it, and run")
	c.execFlags.add(fs)
}

func (c *runCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) != 1 {
		return usagef("run takes one procedure (a file or a built-in name); see rbflow list")
	}
	approvals, err := a.approvals(ctx)
	if err != nil {
		return err
	}
	plan, src, err := a.load(ctx, args[0], approvals)
	var untrusted *procedures.UntrustedError
	if errors.As(err, &untrusted) && c.approve {
		if err := a.approveIn(ctx, untrusted.Source, c.yes); err != nil {
			return err
		}
		plan, src, err = a.load(ctx, args[0], approvals)
	}
	if err != nil {
		return err
	}
	var ahead *proc.Supervisor
	if !c.dryRun {
		// The run's supervisor, rbflow starting again, takes tens of
		// milliseconds to come up: it starts now that the procedure has
		// loaded, alongside opening the store and recording the run, and
		// is handed the lock with the run. Ended at once if no run takes
		// it. (Started before the load, it competed with the load for
		// the processors and the run ended later.) The run only begins to
		// end it: this Close, deferred before the store's, waits for it,
		// and for what the run left running, after the store has closed.
		ahead = proc.NewSupervisor()
		ahead.Prestart()
		defer ahead.Close()
	}
	in := engine.ParamInput{Sets: c.sets}
	in.Dir, _ = a.repo(ctx) // where a relative from_file starts
	if c.paramsFile != "" {
		text, err := os.ReadFile(c.paramsFile)
		if err != nil {
			return usagef("--params-file: %v", err)
		}
		if in.File, err = spec.ParamsFile(c.paramsFile, text); err != nil {
			return err
		}
	}
	params, err := engine.ResolveParams(plan.Procedure, in)
	if err != nil {
		return err
	}
	if c.dryRun {
		given, err := c.givenAnswers()
		if err != nil {
			return err
		}
		if err := plan.CheckAnswers(given); err != nil {
			return err
		}
		return a.printDryRun(ctx, plan, params, given, approvals)
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	r, v, err := c.runner(a, s)
	if err != nil {
		return err
	}
	r.Supervisor = ahead
	return drive(ctx, r, v, func(ctx context.Context) error {
		_, err := r.Start(ctx, plan, params, src.Path)
		return err
	})
}

func (a *app) printDryRun(ctx context.Context, plan *engine.Plan, params map[string]any, given map[string]string, approvals procedures.Approvals) error {
	repo, err := a.repo(ctx)
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	r := &engine.Runner{Loader: a.loader(repo, approvals), Repo: repo, WorkDir: wd, Answers: given}
	steps, err := r.DryRun(ctx, plan, params)
	if err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "dry run of %s: nothing will be changed\n", plan.Name())
	if plan.Procedure.Target > 0 {
		fmt.Fprintf(w, "recovery-time target: %s\n", plan.Procedure.Target)
	}
	if plan.Procedure.Deadline > 0 {
		fmt.Fprintf(w, "deadline: %s (the run is stopped and fails when it passes)\n", plan.Procedure.Deadline)
	}
	section := ""
	for i, s := range steps {
		if s.Section != section {
			section = s.Section
			fmt.Fprintf(w, "\n%s:\n", section)
		}
		fmt.Fprintf(w, "%2d. %s (%s) — %s", i+1, s.ID, s.Kind, s.Decision)
		if len(s.Needs) > 0 {
			fmt.Fprintf(w, ", after %s", strings.Join(s.Needs, ", "))
		}
		fmt.Fprintln(w)
		if s.If != "" {
			fmt.Fprintf(w, "      if: %s\n", s.If)
		}
		if s.Note != "" {
			fmt.Fprintf(w, "      note: %s\n", strings.TrimPrefix(s.Note, "; "))
		}
		if s.Command != "" {
			for _, line := range strings.Split(strings.TrimRight(s.Command, "\n"), "\n") {
				fmt.Fprintf(w, "      | %s\n", line)
			}
		}
		for _, line := range s.Output {
			fmt.Fprintf(w, "      > %s\n", line)
		}
		for _, it := range s.Items {
			fmt.Fprintf(w, "      item %d (%s) — %s\n", it.Index, it.Item, it.Decision)
			if it.Command != "" {
				for _, line := range strings.Split(strings.TrimRight(it.Command, "\n"), "\n") {
					fmt.Fprintf(w, "        | %s\n", line)
				}
			}
		}
	}
	if len(plan.Notifications) > 0 {
		// The URLs are secrets, and nothing is sent.
		fmt.Fprintf(w, "\nnotifications (none sent in a dry run):\n")
		for i, n := range plan.Notifications {
			fmt.Fprintf(w, "%2d. on %s — POST *** as %s\n", i+1, strings.Join(n.Spec.On, ", "), n.Spec.Format)
		}
	}
	return nil
}
