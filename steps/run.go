package steps

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
)

// runKind is the shell step: `run: script`.
type runKind struct{}

var _ engine.Kind = runKind{}

// Signature: a script, and no with: arguments.
func (runKind) Signature() engine.Signature {
	return engine.Signature{Arg: "a bash script (sh with shell: sh); a ${{ }} value reaches it as a quoted variable, never as script text"}
}

func (runKind) Compile(c *engine.KindContext) engine.Action {
	if c.Step.Arg == nil || strings.TrimSpace(c.Step.Arg.Str) == "" {
		c.Errorf(c.Step.KindPos, "run needs a script")
		return nil
	}
	t := c.ShellTemplate(c.Step.Arg, c.Step.Shell)
	if t == nil {
		return nil
	}
	shell := c.Step.Shell
	if shell == "" {
		shell = "bash"
	}
	return &runAction{script: t, shell: shell}
}

type runAction struct {
	script *eval.Template
	shell  string
}

// DefaultOnResume: rerun; a script runs again unless the step declares idempotent: false.
func (*runAction) DefaultOnResume() string { return "rerun" }

// shellArgv returns the interpreter command for a script (a file, or -c
// TEXT NAME): bash without profiles, stopping at the first failing command
// (as GitHub Actions does), or sh -e.
func shellArgv(shell string, script ...string) (string, []string) {
	if shell == "sh" {
		return "sh", append([]string{"-e"}, script...)
	}
	return "bash", append([]string{"--noprofile", "--norc", "-eo", "pipefail"}, script...)
}

// Describe shows the script as it would run: a line assigning each
// interpolated value to the variable that carries it, then the script.
func (a *runAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	s, err := x.Shell(a.script)
	if err != nil {
		return "", err
	}
	return s.Display(x.Mask), nil
}

func (a *runAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	script, err := x.Shell(a.script)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	code, err := runScript(ctx, x, a.shell, script, x.Log)
	if err != nil {
		return engine.Result{ExitCode: code}, err
	}
	if code != 0 {
		return engine.Result{ExitCode: code}, fmt.Errorf("exit status %d", code)
	}
	return engine.Result{ExitCode: 0}, nil
}

// runScript runs script with shell under the reaper in the step's folder
// and environment, with the variables that carry its values; stdout goes
// to stdout, stderr to the step's log. It returns the exit code; the error
// is for a command that could not run or was stopped.
func runScript(ctx context.Context, x *engine.Exec, shell string, script eval.Script, stdout io.Writer) (int, error) {
	env := withScript(x.Env, script)
	// One simple command of literal words runs without the shell, as make
	// does: the same exit status, environment, folder and output, without
	// the cost of a shell. A command that is not found goes to the shell,
	// for its message and its 127.
	if argv, ok := eval.Argv(script.Text, eval.DialectOf(shell)); ok {
		if path, err := proc.LookPath(argv[0], env, x.Dir); err == nil {
			return proc.Run(ctx, proc.Command{Path: argv[0], Args: argv[1:], Dir: x.Dir, Env: shellLikeEnv(env, x.Dir, path),
				Stdout: stdout, Stderr: x.Log, Grace: x.Grace}, x.Hurry())
		}
	}
	// The script goes in -c, with the step's id as $0 (bash's messages name
	// it): no file to write and remove, and bash runs a last simple command
	// without forking. A script too long for one argument goes in a file.
	path, args := shellArgv(shell, "-c", script.Text, x.StepID)
	if len(script.Text) >= 64<<10 {
		file := filepath.Join(x.RunDir, fmt.Sprintf("%s.%d.sh", x.StepID, x.Attempt))
		if err := os.WriteFile(file, []byte(script.Text), 0o600); err != nil {
			return -1, fmt.Errorf("write script: %w", err)
		}
		defer os.Remove(file)
		path, args = shellArgv(shell, file)
	}
	return proc.Run(ctx, proc.Command{Path: path, Args: args, Dir: x.Dir, Env: env, Stdout: stdout, Stderr: x.Log, Grace: x.Grace}, x.Hurry())
}

// shellLikeEnv is env as bash would hand it to the command at path, run
// in dir: PWD is the folder, SHLVL one more, _ the command's path.
func shellLikeEnv(env []string, dir, path string) []string {
	out := make([]string, 0, len(env)+3)
	shlvl := 0
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		switch name {
		case "PWD", "_":
			continue
		case "SHLVL":
			shlvl, _ = strconv.Atoi(v)
			continue
		}
		out = append(out, kv)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return append(out, "PWD="+dir, "SHLVL="+strconv.Itoa(shlvl+1), "_="+path)
}

// withScript returns env with the variables that carry script's values.
func withScript(env []string, script eval.Script) []string {
	return append(append([]string{}, env...), script.Env()...)
}
