package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/rbflow/rbflow/engine/testkit"
)

func TestMain(m *testing.M) {
	testkit.Main()
	os.Exit(removingSeed{m}.Run())
}

// removingSeed runs the tests, then removes the seed repository they
// copied (seedRepo) and the rbflow they ran (rbflowBinary).
type removingSeed struct{ m *testing.M }

func (r removingSeed) Run() int {
	code := r.m.Run()
	if seedTemplate.dir != "" {
		os.RemoveAll(filepath.Dir(seedTemplate.dir))
	}
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	return code
}

// rbflowBinary returns rbflow built from this package, as users run it:
// the tests start it as a real process (and kill it). It is built once per
// test binary, on first use. Each rbflow process (and the supervisor that
// each run starts, rbflow again) costs about half the CPU time this test
// binary would as rbflow (25 ms against 48 ms here): the test binary
// carries the test framework and the JSON Schema validator, whose package
// initialization runs at every start. They are started about 650 times in
// make test.
func rbflowBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "rbflow-bin-")
		if built.err != nil {
			return
		}
		exe := filepath.Join(built.dir, "rbflow")
		gocmd, err := exec.LookPath("go")
		if err != nil {
			gocmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		// -ldflags=-w: no DWARF (stack traces do not need it), a third of
		// the link's CPU time. -trimpath: as make test builds, so that the
		// packages compiled for the test binary are reused wherever the
		// repository is checked out. GOFLAGS is cleared: testkit.Main sets
		// it for the procedures' go commands.
		args := []string{"build", "-trimpath", "-ldflags=-w", "-o", exe}
		if testkit.Race {
			args = append(args, "-race")
		}
		cmd := exec.Command(gocmd, append(args, ".")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build rbflow: %v\n%s", err, out)
			return
		}
		built.exe = exe
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.exe
}

// built is the rbflow rbflowBinary built.
var built struct {
	once     sync.Once
	dir, exe string
	err      error
}

func TestScripts(t *testing.T) {
	t.Parallel()
	bin := filepath.Dir(rbflowBinary(t))
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", bin+string(os.PathListSeparator)+e.Getenv("PATH"))
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

// sourceRoot returns the repository's top folder, two above this
// package's, where go test runs the test binary. (Not runtime.Caller: make
// test builds with -trimpath, which leaves no folder in the file names.)
func sourceRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// rbflowCmd returns rbflow (rbflowBinary) started in dir.
func rbflowCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(rbflowBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1",
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
// in this process, on the repository dir: the same Main, without the cost
// of a process (a good part of a CPU second under make test-long's -race).
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
