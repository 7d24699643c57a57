package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/steps"
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

// checkAnswers refuses, before anything runs, an --answer for a step that
// is not a prompt of plan or a value the prompt cannot take.
func (f *execFlags) checkAnswers(plan *engine.Plan) error {
	given, err := f.givenAnswers()
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(given))
	for id := range given {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st, ok := plan.Step(id)
		if !ok {
			var prompts []string
			for _, s := range plan.Steps() {
				if s.Kind == "prompt" {
					prompts = append(prompts, s.ID)
				}
			}
			hint := "it has no prompt steps"
			if len(prompts) > 0 {
				hint = "its prompt steps: " + strings.Join(prompts, ", ")
			}
			return usagef("--answer %s=%s: %s has no step %q (%s)", id, given[id], plan.Name(), id, hint)
		}
		if err := steps.CheckGivenAnswer(st, given[id]); err != nil {
			return usagef("--answer %s=%s: %v", id, given[id], err)
		}
	}
	return nil
}

// runner builds the engine runner for a session, with its observer. given
// are answers stored with the run; --answer values override them. On a
// terminal, prompts without an answer are asked there.
func (f *execFlags) runner(a *app, s *session, given map[string]string) (*engine.Runner, *view, error) {
	if f.parallel < 1 {
		return nil, nil, usagef("--parallel must be at least 1")
	}
	flags, err := f.givenAnswers()
	if err != nil {
		return nil, nil, err
	}
	ans := answers{}
	for k, v := range given {
		ans[k] = v
	}
	for k, v := range flags {
		ans[k] = v
	}
	wd, _ := os.Getwd()
	v := newView(a, f.json, f.noColor)
	r := &engine.Runner{
		Store: s.store, StateDir: s.stateDir, Repo: s.repo, WorkDir: wd,
		Parallel: f.parallel, Grace: f.grace, Observer: v, Answers: ans, Yes: f.yes, Host: ans,
		Compile: a.compile,
		Load: func(ctx context.Context, ref string) (*engine.Plan, string, error) {
			plan, src, err := a.load(ctx, ref)
			if err != nil {
				return nil, "", err
			}
			return plan, src.Path, nil
		},
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

// saveAnswers stores the --answer values with an existing run (resume,
// retry), replacing earlier ones.
func (f *execFlags) saveAnswers(ctx context.Context, s *session, runID string) error {
	given, err := f.givenAnswers()
	if err != nil {
		return err
	}
	for k, v := range given {
		if err := s.store.SaveAnswer(ctx, runID, k, v); err != nil {
			return err
		}
	}
	return nil
}

// answerStore saves a new run's --answer values with it as soon as the run
// is recorded, before any step runs, so that rbflow resume still has them.
type answerStore struct {
	*store.Store
	answers map[string]string
}

// CreateRun records the run, then its answers; child runs of call steps
// have none of their own.
func (s answerStore) CreateRun(ctx context.Context, r *engine.Run) error {
	if err := s.Store.CreateRun(ctx, r); err != nil {
		return err
	}
	if r.ParentRun != "" {
		return nil
	}
	for k, v := range s.answers {
		if err := s.SaveAnswer(ctx, r.ID, k, v); err != nil {
			return err
		}
	}
	return nil
}

// drive runs fn with signal handling and the live view.
// When the run changed the repository (it took snapshots), the state it
// left is saved too, so that undo can tell later changes from the run's.
func drive(ctx context.Context, a *app, s *session, r *engine.Runner, v *view, fn func(context.Context) (string, error)) error {
	ctx, hurry, stop := signals(ctx, v.notice)
	defer stop()
	r.Hurry = hurry
	v.start()
	runID, err := fn(ctx)
	v.stop()
	if runID != "" {
		if serr := saveAfter(context.WithoutCancel(ctx), s, runID); serr != nil {
			fmt.Fprintf(a.stderr, "rbflow: warning: could not save the state run %s left (undo will need --force): %v\n", runID, serr)
		}
	}
	return err
}

type runCmd struct {
	execFlags
	sets       []string
	paramsFile string
	dryRun     bool
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
	c.execFlags.add(fs)
}

func (c *runCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) != 1 {
		return usagef("run takes one procedure (a file or a built-in name); see rbflow list")
	}
	plan, src, err := a.load(ctx, args[0])
	if err != nil {
		return err
	}
	in := engine.ParamInput{Sets: c.sets}
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
	if err := c.checkAnswers(plan); err != nil {
		return err
	}
	given, _ := c.givenAnswers()
	if c.dryRun {
		return a.printDryRun(ctx, plan, params, given)
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	r, v, err := c.runner(a, s, nil)
	if err != nil {
		return err
	}
	r.Store = answerStore{Store: s.store, answers: given}
	return drive(ctx, a, s, r, v, func(ctx context.Context) (string, error) {
		run, err := r.Start(ctx, plan, params, src.Path)
		return run.ID, err
	})
}

func (a *app) printDryRun(ctx context.Context, plan *engine.Plan, params map[string]any, given answers) error {
	repo, err := a.repo(ctx)
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	r := &engine.Runner{Repo: repo, WorkDir: wd, Host: given}
	steps, err := r.DryRun(ctx, plan, params)
	if err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "dry run of %s: nothing will be changed\n", plan.Name())
	if plan.Procedure.Target > 0 {
		fmt.Fprintf(w, "recovery-time target: %s\n", plan.Procedure.Target)
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
	}
	return nil
}
