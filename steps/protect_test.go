package steps

import (
	"context"
	"errors"
	"github.com/rbflow/rbflow/engine/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
)

// fullSnapshots is a store that cannot record snapshots (a full disk, say).
type fullSnapshots struct{ *store.Store }

func (fullSnapshots) SaveSnapshot(context.Context, engine.Snapshot) error {
	return errors.New("database or disk is full")
}

// A destructive git step whose snapshot cannot be recorded does not go
// ahead: nothing of the work tree is lost.
func TestDestructiveStepNeedsItsSnapshotRecorded(t *testing.T) {
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "committed\n"})
	testkit.WriteFiles(t, repo, map[string]string{"a.txt": "edited, not committed\n", "new.txt": "untracked\n"})
	head := testkit.Git(t, repo, "rev-parse", "HEAD")
	h := newHarness(t)
	h.repo = repo
	r := h.runner()
	r.Store = fullSnapshots{h.st}
	plan, err := loadPlan(t, "version: 1\nname: p\nsteps:\n  - id: reset\n    git: reset\n    with: {to: HEAD, mode: hard}\n  - id: clean\n    git: clean\n")
	if err != nil {
		t.Fatal(err)
	}
	params, _ := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
	run, err := r.Start(context.Background(), plan, params, "p.yaml")
	if !errors.Is(err, engine.ErrRunFailed) {
		t.Fatalf("run = %v, want it failed at reset", err)
	}
	rec := h.steps(run.ID)["reset"]
	if rec.Status != engine.StepFailed || !strings.Contains(rec.Error, "nothing was changed") || !strings.Contains(rec.Error, "disk is full") {
		t.Errorf("reset = %s %q, want failed: nothing was changed, with the store's error", rec.Status, rec.Error)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "a.txt")); string(b) != "edited, not committed\n" {
		t.Errorf("a.txt = %q: the reset went ahead without its snapshot", b)
	}
	if _, err := os.Stat(filepath.Join(repo, "new.txt")); err != nil {
		t.Errorf("new.txt: %v: the clean went ahead", err)
	}
	if got := testkit.Git(t, repo, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD moved to %s", got)
	}
}

// In a dry run, a destructive step declared read-only by mistake finds no
// store to record its snapshot in, and changes nothing.
func TestDryRunDestructiveStepChangesNothing(t *testing.T) {
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "committed\n"})
	testkit.WriteFiles(t, repo, map[string]string{"a.txt": "edited\n"})
	h := newHarness(t)
	h.repo = repo
	plan, err := loadPlan(t, "version: 1\nname: p\nsteps:\n  - id: reset\n    dry_run: run\n    git: reset\n    with: {to: HEAD, mode: hard}\n")
	if err != nil {
		t.Fatal(err)
	}
	params, _ := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
	steps, err := h.runner().DryRun(context.Background(), plan, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || !strings.Contains(steps[0].Decision, "failed") || !strings.Contains(steps[0].Decision, "a dry run records nothing") {
		t.Errorf("dry run = %+v, want the reset refused: a dry run records nothing", steps)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "a.txt")); string(b) != "edited\n" {
		t.Errorf("a.txt = %q: the dry run reset the tree", b)
	}
}
