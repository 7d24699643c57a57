package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestSuccessWithWarnings (SPEC §3, issue 14): a run whose main steps
// succeeded but whose verification (continue_on_error) failed printed a
// plain success. Now it is a success with warnings in the last line,
// run_finished's "warnings", status and status --json; still exit 0.
func TestSuccessWithWarnings(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	proc := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, proc, `version: 1
name: warned
steps:
  - id: rollback
    run: echo rolled back
  - id: verify
    continue_on_error: true
    run: echo "3 tests failed" >&2; exit 1
`)
	out, e, code := rbflow(t, repo, "run", proc)
	if code != 0 {
		t.Fatalf("run: exit %d, want 0\n%s%s", code, out, e)
	}
	if !strings.Contains(out, "succeeded with 1 warning") || !strings.Contains(out, "  ⚠ step verify failed (continue_on_error)") {
		t.Errorf("the last lines should say succeeded with a warning, naming verify:\n%s", out)
	}
	js, _, _ := rbflow(t, repo, "run", proc, "--json")
	if !strings.Contains(js, `"event":"run_finished"`) || !strings.Contains(js, `"warnings":["step verify failed (continue_on_error)`) {
		t.Errorf("run_finished should carry the warnings:\n%s", js)
	}
	st, _, _ := query(t, repo, "status")
	if !strings.Contains(st, "⚠ succeeded with 1 warning") || !strings.Contains(st, "⚠ step verify failed") {
		t.Errorf("status should show the warning:\n%s", st)
	}
	sj, _, _ := query(t, repo, "status", "--json")
	if !strings.Contains(sj, `"warnings": [`) {
		t.Errorf("status --json should list the warnings:\n%s", sj)
	}
}
