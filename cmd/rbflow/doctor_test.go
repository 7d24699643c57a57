package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestDamagedStoreNeverBlocksARollback (SPEC §4.1, issue 15): a state.db
// that is not a database blocked every command, an emergency rollback
// included, with "file is not a database"; a truncated one silently began
// an empty history while the snapshots still existed. Now the damaged
// store is set aside and a fresh one used, loudly; the lost history is
// said; rbflow doctor lists both and the snapshot refs no record knows,
// with how to repair each, and exits 1.
func TestDamagedStoreNeverBlocksARollback(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	proc := filepath.Join(t.TempDir(), "snap.yaml")
	testkit.WriteFile(t, proc, "version: 1\nname: snap\nsteps:\n  - id: save\n    git: snapshot\n  - id: note\n    run: echo done\n")
	if o, e, code := rbflow(t, repo, "run", proc); code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, o, e)
	}
	runs, _, _ := query(t, repo, "runs", "--json")
	first := between(runs, `"id":"`, `"`)
	if o, _, code := query(t, repo, "doctor"); code != 0 || !strings.Contains(o, "nothing to repair") {
		t.Errorf("doctor on a healthy store: exit %d\n%s", code, o)
	}

	state := filepath.Join(repo, ".git", "rbflow")
	db := filepath.Join(state, "state.db")
	for _, p := range []string{db + "-wal", db + "-shm"} {
		os.Remove(p)
	}
	if err := os.WriteFile(db, []byte("this is not a database, it is what a bad disk left\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, e, code := rbflow(t, repo, "run", proc)
	if code != 0 {
		t.Fatalf("run with a damaged store: exit %d, want 0 (a damaged store never blocks a rollback)\n%s%s", code, o, e)
	}
	if !strings.Contains(e, "was damaged (file is not a database)") || !strings.Contains(e, "moved to") {
		t.Errorf("the run should say the store was damaged and set aside:\n%s", e)
	}
	aside, _ := filepath.Glob(db + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("want the damaged store kept aside once, found %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !strings.Contains(string(b), "what a bad disk left") {
		t.Errorf("the set-aside file is not the damaged store")
	}

	o, _, code = query(t, repo, "doctor")
	if code != 1 {
		t.Errorf("doctor with findings: exit %d, want 1\n%s", code, o)
	}
	for _, want := range []string{"a damaged store was set aside: " + aside[0], "snapshot refs of run " + first + ", which the store does not know", "update-ref --stdin"} {
		if !strings.Contains(o, want) {
			t.Errorf("doctor should say %q:\n%s", want, o)
		}
	}

	if err := os.Truncate(db, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db + "-wal", db + "-shm"} {
		os.Remove(p)
	}
	if _, e, code := query(t, repo, "runs"); code != 0 || !strings.Contains(e, "its history was lost") {
		t.Errorf("runs on a truncated store: exit %d, want 0 and a warning that the history was lost:\n%s", code, e)
	}
}
