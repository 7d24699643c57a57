package testkit

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
)

// Main is the first call of a TestMain whose tests start rbflow's
// processes. When rbflow started this test binary as a step's reaper or
// as a service's launcher or log relay (engine/proc re-executes its own
// binary for those), Main runs it and exits. Otherwise it returns, after
// setting GORACE for the processes the tests start, unless it is set
// already (a binary built with -race sleeps a second before it exits by
// default, atexit_sleep_ms, and every supervisor and reaper a test starts
// is this binary, or in cmd/rbflow an rbflow built with the same -race),
// and after putting the interpreter behind a python3 shim first on PATH
// (unshimPython).
//
// It also sets GOFLAGS, unless set, for the go commands that the
// procedures under test run in the tests' sample Go modules: -trimpath
// lets the build cache serve a module that another test made in another
// temporary directory (without it every copy compiles and vets again),
// and -count=1 keeps go test from answering with a cached result: the
// tests that stop rbflow while a test suite runs need it to run. And it
// turns off git's automatic maintenance for the git commands the tests
// and rbflow start.
func Main() {
	proc.RunHelper()
	if _, ok := os.LookupEnv("GORACE"); !ok {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	if _, ok := os.LookupEnv("GOFLAGS"); !ok {
		os.Setenv("GOFLAGS", "-trimpath -count=1")
	}
	if _, ok := os.LookupEnv("GIT_CONFIG_COUNT"); !ok {
		// No background maintenance after each of the tests' thousands of
		// commits (a git process each): what rbflow does never depends on
		// it, and rbflow adds its own settings after these.
		os.Setenv("GIT_CONFIG_COUNT", "1")
		os.Setenv("GIT_CONFIG_KEY_0", "maintenance.auto")
		os.Setenv("GIT_CONFIG_VALUE_0", "false")
	}
	unshimPython()
}

// LongEnv is the variable that makes Long true; make test-long sets it.
const LongEnv = "RBFLOW_TEST_LONG"

// Long reports whether the long sweeps run: make test runs a sample of
// each random sweep, make test-long the whole of it.
func Long() bool { return os.Getenv(LongEnv) != "" }

// gitEnv is the identity git commits with in tests, unless the test
// binary's environment sets one (engine/git's TestMain does).
var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid",
	"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid",
}

// Git runs git with args in dir and returns its standard output; when git
// fails, the test ends with git's error output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return GitInput(t, dir, nil, args...)
}

// GitInput is Git with stdin as git's standard input.
func GitInput(t testing.TB, dir string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := gitCommand(dir, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %q in %s: %v\n%s", args, dir, err, stderr.String())
	}
	return string(out)
}

// gitCommand is git with args in dir, with an identity unless the
// environment has one.
func gitCommand(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for _, kv := range gitEnv {
		if name, _, _ := strings.Cut(kv, "="); os.Getenv(name) == "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// GitRepo makes a repository on branch main in a temp folder, with files
// (see WriteFiles) in its first commit, and returns its folder.
func GitRepo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	Git(t, dir, "init", "-q", "-b", "main")
	WriteFiles(t, dir, files)
	Git(t, dir, "add", "-A")
	Git(t, dir, "commit", "-q", "--allow-empty", "-m", "init")
	return dir
}

// Commit writes files (see WriteFiles) in the repository dir, stages them
// and commits them with message.
func Commit(t testing.TB, dir, message string, files map[string]string) {
	t.Helper()
	WriteFiles(t, dir, files)
	args := []string{"add", "--"}
	for name := range files {
		args = append(args, filepath.FromSlash(name))
	}
	Git(t, dir, args...)
	Git(t, dir, "commit", "-q", "--allow-empty", "-m", message)
}

// ReadFile returns a file's text, failing the test if it cannot be read.
func ReadFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// WriteFile writes text to path, making its folder first.
func WriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteFiles writes files, named by slash-separated paths under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		WriteFile(t, filepath.Join(dir, filepath.FromSlash(name)), text)
	}
}

// Files calls f with the path, permissions and content of every file
// under dir (a grep for a secret, a check of modes); the test ends when
// there is none: a walk that finds nothing proves nothing.
func Files(t testing.TB, dir string, f func(path string, perm fs.FileMode, content []byte)) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		f(path, fi.Mode().Perm(), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no files under %s", dir)
	}
}

// FreeAddr returns a 127.0.0.1 address that nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreePort returns a port of 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	addr, err := net.ResolveTCPAddr("tcp", FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return addr.Port
}

// WaitFor polls cond until it holds; when timeout passes first, the test
// ends saying what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// Alive reports whether pid is a live process (a zombie is not).
func Alive(pid int) bool {
	s := proc.State(pid)
	return s != "" && s != "Z"
}

// Python returns a python that has pytest, or skips the test. The python3
// on PATH may be one without it; Debian's /usr/bin/python3 has it once
// python3-pytest is installed.
func Python(t testing.TB) string {
	t.Helper()
	py := pythonWithPytest()
	if py == "" {
		t.Skip("pytest is not installed: apt-get install python3-pytest (.ci/run does)")
	}
	return py
}

// pythonWithPytest looks once per test binary: asking a python takes a
// good part of a second.
var pythonWithPytest = sync.OnceValue(func() string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-m", "pytest", "--version").Run() == nil {
			return py
		}
	}
	return ""
})

// KeptGit runs git in rbflow's store of kept refs (snapshots) of the
// repository at dir: <common dir>/rbflow/snapshots.git.
func KeptGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	common := strings.TrimSpace(Git(t, dir, "rev-parse", "--path-format=absolute", "--git-common-dir"))
	return Git(t, dir, append([]string{"--git-dir=" + filepath.Join(common, "rbflow", "snapshots.git")}, args...)...)
}
