package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/internal/testkit"
)

// seedRepo builds a repository shaped like the seed's project with the
// demo's script (examples/demo/make-repo.sh): backend with requirements.txt,
// pytest tests and a tiny HTTP server (app/server.py, $PORT), frontend with
// package.json and a tiny node server, a `baseline` branch, and the failed
// `refactor/sprint-3` branch checked out with broken tests, an uncommitted
// edit (backend/app/pricing.py), untracked work (backend/app/notes.py) and an
// ignored .env.
func seedRepo(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "examples", "demo", "make-repo.sh")
	dir := filepath.Join(t.TempDir(), "shop")
	out, err := exec.Command("bash", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make-repo.sh: %v\n%s", err, out)
	}
	return dir
}

// needPytest returns the command that runs pytest, or skips the test.
func needPytest(t *testing.T) string {
	t.Helper()
	return testkit.Python(t) + " -m pytest"
}

func lastRunID(t *testing.T, dir string) string {
	t.Helper()
	out, _, _ := query(t, dir, "runs", "--json")
	id := between(out, `"id":"`, `"`)
	if strings.TrimSpace(id) == "" {
		t.Fatalf("no run in %s", dir)
	}
	return id
}
