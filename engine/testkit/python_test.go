package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnshimPython puts a shim (a script that starts python3) first on
// PATH and checks that unshimPython then puts the interpreter the shim
// starts ahead of it, and leaves an interpreter on PATH alone.
func TestUnshimPython(t *testing.T) {
	real := ""
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if isBinary(p) {
			real = p
		}
	}
	if real == "" {
		t.Skip("no python3 interpreter in /usr/bin or /usr/local/bin")
	}
	shims := t.TempDir()
	WriteFile(t, filepath.Join(shims, "python3"), "#!/bin/sh\nexec "+real+" \"$@\"\n")
	if err := os.Chmod(filepath.Join(shims, "python3"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shims+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(pythonDirEnv, "")
	os.Unsetenv(pythonDirEnv)
	t.Setenv(pythonEnv, "") // make test sets it: this part asks the shim
	os.Unsetenv(pythonEnv)
	unshimPython()
	got, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal(err)
	}
	if !isBinary(got) || strings.HasPrefix(got, shims) {
		t.Fatalf("python3 on PATH is %s, want a link to the interpreter the shim runs", got)
	}
	a, _ := filepath.EvalSymlinks(got)
	b, _ := filepath.EvalSymlinks(real)
	if a == "" || a != b {
		t.Errorf("the python3 now first on PATH is %s (%s), want the shim's %s (%s)", got, a, real, b)
	}

	// Told the interpreter (RBFLOW_TEST_PYTHON), it does not ask the
	// shim: one that fails is never run.
	broken := t.TempDir()
	WriteFile(t, filepath.Join(broken, "python3"), "#!/bin/sh\nexit 1\n")
	if err := os.Chmod(filepath.Join(broken, "python3"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", broken+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Unsetenv(pythonDirEnv)
	t.Setenv(pythonEnv, real)
	unshimPython()
	if got, _ := exec.LookPath("python3"); !isBinary(got) || strings.HasPrefix(got, broken) {
		t.Fatalf("told the interpreter, python3 on PATH is %s, want a link to %s", got, real)
	}

	// An interpreter first on PATH is left alone.
	path := os.Getenv("PATH")
	os.Unsetenv(pythonDirEnv)
	unshimPython()
	if os.Getenv("PATH") != path {
		t.Errorf("PATH changed although python3 on it is the interpreter: %s", os.Getenv("PATH"))
	}
}
