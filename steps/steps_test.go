package steps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// runOpts are what a command line would give a run.
type runOpts struct {
	sets     []string
	answers  map[string]string
	yes      bool
	prompter engine.Prompter
	ctx      context.Context // nil: not cancelled
}

// finished is a run as the store holds it after Start returned.
type finished struct {
	run   *engine.Run
	steps map[string]*engine.StepRecord
	err   error
	state string
}

// loadPlan compiles a procedure with the built-in kinds.
func loadPlan(t *testing.T, text string) (*engine.Plan, error) {
	t.Helper()
	reg := engine.NewRegistry()
	Register(reg)
	return engine.Load("p.yaml", []byte(text), reg)
}

// runProcedure runs a procedure in repo through the package's harness
// (a real store in a temp state folder) with what a command line would
// give, and returns what the run recorded.
func runProcedure(t *testing.T, repo, text string, o runOpts) finished {
	t.Helper()
	h := newHarness(t)
	h.repo = repo
	plan, err := engine.Load("p.yaml", []byte(text), h.reg)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Sets: o.sets})
	if err != nil {
		t.Fatalf("params: %v", err)
	}
	r := h.runner()
	r.Answers, r.Yes, r.Prompter = o.answers, o.yes, o.prompter
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	run, runErr := r.Start(ctx, plan, params, "p.yaml")
	if run == nil {
		t.Fatalf("run did not start: %v", runErr)
	}
	stored, err := h.st.Run(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return finished{run: stored, steps: h.steps(run.ID), err: runErr, state: h.state}
}

// step returns a step's record or fails the test.
func (f finished) step(t *testing.T, id string) *engine.StepRecord {
	t.Helper()
	rec, ok := f.steps[id]
	if !ok {
		t.Fatalf("step %s has no record (run %s: %v)", id, f.run.Status, f.err)
	}
	return rec
}

// log returns a step's log text.
func (f finished) log(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(f.step(t, id).LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// git runs git in dir and returns its trimmed output.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitRepo makes a repository on branch main holding files, committed.
func gitRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	runGit(t, dir, "init", "-q", "-b", "main")
	writeFiles(t, dir, files)
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "--allow-empty", "-m", "init")
	return dir
}

// pythonWithPytest returns a python that has pytest, or skips the test.
// The python3 on PATH may be one without it; Debian's /usr/bin/python3 has
// it once python3-pytest is installed.
func pythonWithPytest(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-m", "pytest", "--version").Run() == nil {
			return py
		}
	}
	t.Skip("pytest is not installed: apt-get install python3-pytest (CI installs it)")
	return ""
}

func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
}
