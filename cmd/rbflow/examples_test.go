package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/procedures"
)

// TestBuiltinsAndExamplesValidate: every built-in and every example loads,
// and prints a readable plan with --dry-run, changing nothing.
func TestBuiltinsAndExamplesValidate(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Glob(filepath.Join(sourceRoot(t), "examples", "*", "*.yaml"))
	if err != nil || len(examples) < 4 {
		t.Fatalf("examples: %v (%d files)", err, len(examples))
	}
	names := procedures.Names()
	if len(names) == 0 {
		t.Fatal("no built-in procedures")
	}
	dir := testkit.GitRepo(t, nil)
	for _, p := range append(names, examples...) {
		out, code := inProcess(t, "validate", p, "--repo", dir)
		if code != 0 {
			t.Errorf("validate %s: exit %d\n%s", p, code, out)
		}
	}
	for _, name := range names {
		out, code := inProcess(t, "run", name, "--dry-run", "--repo", dir)
		if code == 2 && strings.Contains(out, "required") {
			continue // a required param: the plan needs it (checked per procedure)
		}
		if code != 0 || !strings.Contains(out, "dry run of "+name) {
			t.Errorf("run %s --dry-run: exit %d\n%s", name, code, out)
		}
	}
	if got := testkit.Git(t, dir, "status", "--porcelain"); got != "" {
		t.Errorf("a dry run changed the repository: %s", got)
	}
}
