package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// seedRepo returns a copy of a repository shaped like the seed's project,
// made with the demo's script (examples/demo/make-repo.sh): backend with
// requirements.txt, pytest tests and a tiny HTTP server (app/server.py,
// $PORT), frontend with package.json and a tiny node server, a `baseline`
// branch, and the failed `refactor/sprint-3` branch checked out with broken
// tests, an uncommitted edit (backend/app/pricing.py), untracked work
// (backend/app/notes.py) and an ignored .env. The script runs once per test
// binary; each test gets its own copy (cp -a).
func seedRepo(t *testing.T) string {
	t.Helper()
	seedTemplate.once.Do(func() {
		script := filepath.Join(sourceRoot(t), "examples", "demo", "make-repo.sh")
		tmp, err := os.MkdirTemp("", "rbflow-seed-")
		if err != nil {
			seedTemplate.err = err
			return
		}
		seedTemplate.dir = filepath.Join(tmp, "shop")
		if out, err := exec.Command("bash", script, seedTemplate.dir).CombinedOutput(); err != nil {
			seedTemplate.err = fmt.Errorf("make-repo.sh: %v\n%s", err, out)
		}
	})
	if seedTemplate.err != nil {
		t.Fatal(seedTemplate.err)
	}
	return cloneRepo(t, seedTemplate.dir)
}

// seedTemplate is the repository seedRepo copies, made on first use.
var seedTemplate struct {
	once sync.Once
	dir  string
	err  error
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
