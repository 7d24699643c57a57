package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/procedures"
	"github.com/rbflow/rbflow/steps"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// subcommand is one rbflow command, with its own flag set.
type subcommand interface {
	Name() string
	Usage() string // arguments after the name
	Summary() string
	Flags(fs *pflag.FlagSet)
	Run(ctx context.Context, a *app, args []string) error
}

func commands() []subcommand {
	return []subcommand{
		&runCmd{}, &resumeCmd{}, &answerCmd{}, &retryCmd{}, &cancelCmd{}, &runsCmd{}, &statusCmd{}, &logsCmd{},
		&undoCmd{}, &snapshotsCmd{}, &gcCmd{}, &metricsCmd{}, &checklistCmd{}, &approveCmd{},
		&validateCmd{}, &graphCmd{}, &listCmd{}, &showCmd{}, &initCmd{}, &schemaCmd{}, &doctorCmd{}, &completionCmd{}, &versionCmd{},
	}
}

// app holds what every command shares: streams, global flags, the registry.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	repoFlag       string
	stateFlag      string
	quiet, verbose bool
	registry       *engine.Registry
	// drives is set by commands that run or change runs (run, resume,
	// retry, undo, cancel, gc, doctor): their store is checked for damage
	// when opened, and set aside if damaged (see store.Open).
	drives bool
}

// usageError is a wrong command line; it exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitCode maps errors to rbflow's exit statuses (SPEC §3).
func exitCode(err error) int {
	var (
		usage     *usageError
		list      spec.ErrorList
		param     *engine.ParamError
		locked    *engine.LockError
		untrusted *procedures.UntrustedError
		unread    *procedures.ReadError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage), errors.As(err, &list), errors.As(err, &param), errors.As(err, &untrusted), errors.As(err, &unread),
		errors.Is(err, procedures.ErrUnknown), errors.Is(err, errNotApproved), engine.IsUsage(err):
		return 2
	case errors.As(err, &locked):
		return 3
	case errors.Is(err, engine.ErrWaiting):
		return 4
	case errors.Is(err, engine.ErrInterrupted):
		return 130
	}
	return 1
}

// Main runs rbflow with args and returns its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	reg := engine.NewRegistry()
	steps.Register(reg)
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, registry: reg}
	err := a.dispatch(context.Background(), args)
	if err != nil && !errors.Is(err, errReported) {
		fmt.Fprintln(stderr, "rbflow: "+err.Error())
	}
	return exitCode(err)
}

// errReported marks errors a command has already shown to the user.
var errReported = errors.New("reported")

// reported wraps an error that was already printed, keeping its exit code.
type reported struct{ err error }

func (e *reported) Error() string   { return e.err.Error() }
func (e *reported) Unwrap() []error { return []error{e.err, errReported} }

func (a *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		a.help(a.stderr)
		return &usageError{"no command given"}
	}
	if toFleet(args, os.Getenv) {
		return handOver(args)
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 && name == "help" {
			return a.dispatch(ctx, []string{args[1], "--help"})
		}
		a.help(a.stdout)
		return nil
	case "--version":
		name = "version"
	case completeCmd:
		a.complete(ctx, args[1:])
		return nil
	}
	var cmd subcommand
	var names []string
	for _, c := range commands() {
		names = append(names, c.Name())
		if c.Name() == name {
			cmd = c
		}
	}
	if cmd == nil {
		h := spec.Hint(name, names)
		return usagef("unknown command %q%s; run 'rbflow --help' for the list", name, h)
	}
	fs, help := a.flagSet(cmd)
	if err := fs.Parse(args[1:]); err != nil {
		return usagef("%s: %v\nusage: rbflow %s %s", cmd.Name(), err, cmd.Name(), cmd.Usage())
	}
	if *help {
		fmt.Fprintf(a.stdout, "usage: rbflow %s %s\n\n%s\n\nflags:\n%s", cmd.Name(), cmd.Usage(), cmd.Summary(), fs.FlagUsages())
		return nil
	}
	return cmd.Run(ctx, a, fs.Args())
}

// flagSet is cmd's flag set with the global flags, bound to a; help is
// set by --help.
func (a *app) flagSet(cmd subcommand) (fs *pflag.FlagSet, help *bool) {
	fs = pflag.NewFlagSet("rbflow "+cmd.Name(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	cmd.Flags(fs)
	fs.StringVar(&a.repoFlag, "repo", "", "repository `DIR` (default: the enclosing git work tree)")
	fs.StringVar(&a.stateFlag, "state", "", "state `DIR` (default: <git common dir>/rbflow, or $RBFLOW_STATE)")
	fs.BoolVarP(&a.quiet, "quiet", "q", false, "print less")
	fs.BoolVarP(&a.verbose, "verbose", "v", false, "print more")
	return fs, fs.BoolP("help", "h", false, "show help for this command")
}

func (a *app) help(w io.Writer) {
	fmt.Fprintf(w, "rbflow runs rollback and recovery procedures and can resume any run that was cut off.\n\nusage: rbflow COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name(), c.Summary())
	}
	fmt.Fprintf(w, "  %-10s %s\n", "worker", "fleet worker on Temporal, and any run/status/resume/cancel/undo with --temporal ADDR (rbflow-fleet)")
	fmt.Fprintf(w, "\nglobal flags: --repo DIR, --state DIR, -q/--quiet, -v/--verbose\nrun 'rbflow COMMAND --help' for a command's flags.\n")
}

// repo returns the repository the command works on: --repo, or the
// enclosing git work tree of the current directory ("" outside git).
func (a *app) repo(ctx context.Context) (string, error) {
	dir := a.repoFlag
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	return engine.RepoRoot(ctx, dir, a.repoFlag != "")
}

// loader is how this command compiles procedures: against the registry,
// finding what call steps name (and a resumed run's file) in repo. With
// approvals, a procedure from the repository must be approved to be taken
// (commands that run something); without, any is (validate, graph).
func (a *app) loader(repo string, approvals procedures.Approvals) *engine.Loader {
	return &engine.Loader{Registry: a.registry, Resolve: procedures.Resolver(repo, approvals)}
}

// load resolves, decodes and compiles a procedure; with approvals, one from
// the repository must be approved (an *procedures.UntrustedError names it).
// It says when a local copy takes the place of a built-in.
func (a *app) load(ctx context.Context, arg string, approvals procedures.Approvals) (*engine.Plan, *procedures.Source, error) {
	repo, err := a.repo(ctx)
	if err != nil {
		return nil, nil, err
	}
	src, err := procedures.Resolve(arg, repo)
	if err != nil {
		return nil, nil, err
	}
	if src.Shadows != "" && !a.quiet {
		fmt.Fprintf(a.stderr, "rbflow: using %s, the repository's copy of the built-in %s (rbflow run %s%s runs the built-in)\n", src.Path, src.Shadows, procedures.BuiltinPrefix, src.Shadows)
	}
	if approvals != nil {
		if err := src.Trusted(ctx, approvals); err != nil {
			return nil, src, err
		}
	}
	plan, err := a.loader(repo, approvals).Load(engine.Source{Path: src.Path, Text: src.Text})
	return plan, src, err
}
