package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rbflow/rbflow/engine/testkit"
)

// asMainEnv makes the test binary act as rbflow, so that tests can start
// it as a real process (and kill it).
const asMainEnv = "RBFLOW_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	testkit.Main()
	if os.Getenv(asMainEnv) != "" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testscript.Main(removingSeed{m}, map[string]func(){
		"rbflow": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// removingSeed runs the tests, then removes the seed repository they
// copied (seedRepo).
type removingSeed struct{ m *testing.M }

func (r removingSeed) Run() int {
	code := r.m.Run()
	if seedTemplate.dir != "" {
		os.RemoveAll(filepath.Dir(seedTemplate.dir))
	}
	return code
}

func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			e.Setenv("GIT_AUTHOR_NAME", "rbflow test")
			e.Setenv("GIT_AUTHOR_EMAIL", "test@rbflow.invalid")
			e.Setenv("GIT_COMMITTER_NAME", "rbflow test")
			e.Setenv("GIT_COMMITTER_EMAIL", "test@rbflow.invalid")
			e.Setenv("NO_COLOR", "1")
			return nil
		},
	})
}

// rbflowCmd returns the test binary started as rbflow in dir.
func rbflowCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), asMainEnv+"=1", "NO_COLOR=1",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid")
	return cmd
}

// rbflow runs the binary to its end and returns its output and exit code.
func rbflow(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := rbflowCmd(t, dir, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rbflow %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// query runs a command that only reads the store (status, runs, metrics)
// in this process, on the repository dir: a process of the race-built test
// binary costs a good part of a CPU second.
func query(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(append(args, "--repo", dir), strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

// writeApproved writes a procedure into the work tree of repo and approves
// it there, as its author would (SPEC §14: a file that comes with the
// repository runs only once approved).
func writeApproved(t *testing.T, repo, path, text string) {
	t.Helper()
	testkit.WriteFile(t, path, text)
	if _, stderr, code := query(t, repo, "approve", path, "--yes"); code != 0 {
		t.Fatalf("approve %s: exit %d\n%s", path, code, stderr)
	}
}

// keptRefs lists the refs rbflow keeps for the repository at dir (its
// snapshot store; none when it has made none) under the given patterns.
func keptRefs(t *testing.T, dir string, patterns ...string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, ".git", "rbflow", "snapshots.git")); err != nil {
		return ""
	}
	return testkit.KeptGit(t, dir, append([]string{"for-each-ref"}, patterns...)...)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// syncBuffer is a bytes.Buffer that a running process writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
