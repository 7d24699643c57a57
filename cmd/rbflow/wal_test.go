package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestDeletedWALLosesNothing (issue 15): the store's write-ahead log
// deleted while a run goes on, then rbflow killed: the records written
// since the last checkpoint went down with the deleted file, and the run
// was lost. Now the records of every step boundary after the deletion are
// checkpointed into state.db, and resume finds the run.
func TestDeletedWALLosesNothing(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	wal := filepath.Join(repo, ".git", "rbflow", "state.db-wal")
	proc := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, proc, `version: 1
name: wal
steps:
  - id: a
    run: echo a
  - id: b
    run: rm -f `+wal+`
  - id: c
    run: sleep 30
`)
	cmd := rbflowCmd(t, repo, "run", proc)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "step c to start", func() bool {
		out, _, _ := query(t, repo, "status")
		return regexp.MustCompile(`(?m)^c +running`).MatchString(out)
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	out, _, code := query(t, repo, "status")
	if code != 0 || !regexp.MustCompile(`(?m)^b +succeeded`).MatchString(out) || !regexp.MustCompile(`(?m)^c +interrupted`).MatchString(out) {
		t.Fatalf("after the WAL was deleted and rbflow killed, status: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "wal") {
		t.Errorf("status lost the run:\n%s", out)
	}
}
