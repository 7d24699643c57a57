package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestCherryPickConflictResumes: a cherry-pick that stops on a conflict
// stops the run resumably (exit 4) with what to do; once the conflict is
// resolved, resume continues it and picks the rest, and no commit is
// applied twice.
func TestCherryPickConflictResumes(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, nil)
	testkit.Commit(t, dir, "base", map[string]string{"app.py": "version = 1\n"})
	testkit.Git(t, dir, "branch", "baseline")
	testkit.Git(t, dir, "switch", "-q", "-c", "failed")
	testkit.Commit(t, dir, "A: bump version", map[string]string{"app.py": "version = 2\n"})
	testkit.Commit(t, dir, "B: feature", map[string]string{"feature.py": "feature = True\n"})
	a := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD~1"))
	b := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	testkit.Git(t, dir, "switch", "-q", "baseline")
	testkit.Commit(t, dir, "baseline moves on", map[string]string{"app.py": "version = 10\n"})

	procFile := filepath.Join(t.TempDir(), "recover.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: recover
params:
  commits: {type: list}
steps:
  - id: branch
    git: switch
    with: {ref: recovery/test, create: true}
  - id: pick
    git: cherry_pick
    with: {commits: "${{ params.commits }}"}
`)
	o, e, code := rbflow(t, dir, "run", procFile, "--set", "commits="+a, "--set", "commits="+b)
	if code != 4 || !strings.Contains(e, "conflicts in app.py") || !strings.Contains(e, "rbflow resume") {
		t.Fatalf("cherry-pick conflict: exit %d, want 4 naming app.py and rbflow resume\n%s%s", code, o, e)
	}
	// Resuming before the conflict is resolved stops again, changing nothing.
	if _, e, code := rbflow(t, dir, "resume"); code != 4 || !strings.Contains(e, "conflicts in app.py") {
		t.Fatalf("resume with the conflict unresolved: exit %d\n%s", code, e)
	}
	testkit.WriteFile(t, filepath.Join(dir, "app.py"), "version = 11\n")
	testkit.Git(t, dir, "add", "app.py")
	if o, e, code := rbflow(t, dir, "resume"); code != 0 {
		t.Fatalf("resume after resolving: exit %d\n%s%s", code, o, e)
	}
	log := testkit.Git(t, dir, "log", "--format=%s", "baseline..HEAD")
	if log != "B: feature\nA: bump version\n" {
		t.Errorf("recovery branch log = %q, want A then B, each once", log)
	}
	// Picking the same commits again applies nothing twice.
	pickAgain := filepath.Join(t.TempDir(), "pick.yaml")
	testkit.WriteFile(t, pickAgain, `version: 1
name: pick
params:
  commits: {type: list}
steps:
  - id: pick
    git: cherry_pick
    with: {commits: "${{ params.commits }}"}
`)
	if o, e, code := rbflow(t, dir, "run", pickAgain, "--set", "commits="+a, "--set", "commits="+b); code != 0 || strings.Count(o, "already applied") != 2 {
		t.Fatalf("picking an applied commit again: exit %d, want 0 and 'already applied'\n%s%s", code, o, e)
	}
	if got := testkit.Git(t, dir, "log", "--format=%s", "baseline..HEAD"); got != log {
		t.Errorf("a commit was applied twice: %q", got)
	}
}

// TestStaleIndexLockOnResume: a git step resumed after a crash finds the
// index.lock a dead git left and removes it; a fresh one is waited for.
func TestStaleIndexLockOnResume(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, nil)
	testkit.Commit(t, dir, "f", map[string]string{"f.txt": "1\n"})
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: lock
steps:
  - id: tag
    git: tag
    with: {name: checkpoint}
`)
	if _, e, code := rbflow(t, dir, "run", procFile); code != 0 {
		t.Fatalf("run: %s", e)
	}
	// Make it look as if rbflow died inside the step while git held the lock.
	lock := filepath.Join(dir, ".git", "index.lock")
	testkit.WriteFile(t, lock, "")
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	markInterrupted(t, dir, "tag")
	o, e, code := rbflow(t, dir, "resume", "--yes")
	if code != 0 || !strings.Contains(o, "index.lock, left by a git process that died with rbflow") {
		t.Fatalf("resume: exit %d, want 0 and the stale lock removed\n%s%s", code, o, e)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("index.lock is still there")
	}
}

// TestStaleRefLockOnResume: rbflow was killed while its git reset moved
// main, and git left refs/heads/main.lock and ORIG_HEAD.lock (a SIGKILL
// gives it no chance to remove them). The resumed step removes both, says
// so, and moves main; before, git refused ("cannot lock ref") and the run
// stopped there.
func TestStaleRefLockOnResume(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, map[string]string{"f.txt": "1\n"})
	first := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	testkit.Commit(t, dir, "second", map[string]string{"f.txt": "2\n"})
	second := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: lock
steps:
  - id: back
    git: reset
    with: {to: `+first+`, mode: hard}
`)
	if _, e, code := rbflow(t, dir, "run", procFile); code != 0 {
		t.Fatalf("run: %s", e)
	}
	// As if rbflow died inside the step, git holding main's locks.
	testkit.Git(t, dir, "reset", "-q", "--hard", second)
	old := time.Now().Add(-time.Minute)
	var locks []string
	for _, name := range []string{"refs/heads/main.lock", "ORIG_HEAD.lock"} {
		lock := filepath.Join(dir, ".git", filepath.FromSlash(name))
		testkit.WriteFile(t, lock, second+"\n")
		if err := os.Chtimes(lock, old, old); err != nil {
			t.Fatal(err)
		}
		locks = append(locks, lock)
	}
	markInterrupted(t, dir, "back")
	o, e, code := rbflow(t, dir, "resume", "--yes")
	if code != 0 {
		t.Fatalf("resume: exit %d, want 0\n%s%s", code, o, e)
	}
	for _, lock := range locks {
		if !strings.Contains(o, "removed "+lock+", left by a git process that died with rbflow") {
			t.Errorf("the resume does not say it removed %s:\n%s", lock, o)
		}
		if _, err := os.Lstat(lock); !os.IsNotExist(err) {
			t.Errorf("%s is still there", lock)
		}
	}
	if head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "main")); head != first {
		t.Errorf("main = %s after the resume, want %s", head, first)
	}
}
