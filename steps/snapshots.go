package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
)

// AfterRef is where rbflow keeps the state a run left, taken when it ends;
// undo compares it with the tree to protect changes made after the run.
func AfterRef(runID string) string { return git.KeptPrefix + runID + "/_after" }

// FirstSnapshot returns the snapshot taken before the first destructive
// step of a run or of any run it called.
func FirstSnapshot(ctx context.Context, runs engine.RunStore, snaps engine.SnapshotStore, runID string) (*engine.Snapshot, error) {
	family, err := engine.RunFamily(ctx, runs, runID)
	if err != nil {
		return nil, err
	}
	var first *engine.Snapshot
	for _, run := range family {
		all, err := snaps.Snapshots(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			if strings.HasSuffix(s.Ref, "/_after") {
				continue
			}
			if first == nil || s.CreatedAt.Before(first.CreatedAt) {
				cp := s
				first = &cp
			}
		}
	}
	if first == nil {
		return nil, fmt.Errorf("run %s has no snapshot: it changed nothing that undo could bring back, or rbflow gc deleted its snapshots", runID)
	}
	return first, nil
}

// saveAfter is the git kind's run-end hook: when a run (or a run it called)
// took snapshots, it saves the state the run left, which undo compares with
// the tree to tell changes made after the run from the run's own.
func saveAfter(ctx context.Context, st engine.Store, run *engine.Run) error {
	if run.Repo == "" {
		return nil
	}
	if _, err := FirstSnapshot(ctx, st, st, run.ID); err != nil {
		return nil // the run changed nothing undo could restore
	}
	if err := snapshotAfter(ctx, run); err != nil {
		return fmt.Errorf("save the state run %s left (undo will need --force): %w", run.ID, err)
	}
	return nil
}

// snapshotAfter takes the after-state snapshot of run, replacing an earlier
// one (the run was resumed since).
func snapshotAfter(ctx context.Context, run *engine.Run) error {
	repo, err := git.Open(ctx, run.Repo)
	if err != nil {
		return err
	}
	ref := AfterRef(run.ID)
	if err := repo.DeleteKept(ctx, ref); err != nil {
		return err
	}
	_, err = repo.Snapshot(ctx, ref, git.SnapshotOptions{IncludeIgnored: true, Message: "state after run " + run.ID})
	return err
}

// UndoPreview is what an undo of a run would do, found without changing
// anything (rbflow undo --dry-run).
type UndoPreview struct {
	First    engine.Snapshot // the snapshot undo restores
	Head     string          // the commit it brings back
	Branch   string          // the branch it brings back, "" for a detached HEAD
	Changes  []string        // git diff --name-status lines: D comes back, M restored, A removed
	NotSaved []string        // paths the snapshot did not save, with the reason
	// AfterSaved reports whether the state the run left was saved; without
	// it undo cannot tell later changes from the run's and needs --force.
	AfterSaved bool
	InTheWay   []git.Conflict // changes made after the run that undo would overwrite
}

// PreviewUndo says what rbflow undo RUN would restore in the repository at
// repoDir, and what is in its way.
func PreviewUndo(ctx context.Context, runs engine.RunStore, snaps engine.SnapshotStore, repoDir, runID string) (*UndoPreview, error) {
	first, err := FirstSnapshot(ctx, runs, snaps, runID)
	if err != nil {
		return nil, err
	}
	repo, err := git.Open(ctx, repoDir)
	if err != nil {
		return nil, err
	}
	snap, err := repo.ReadSnapshot(ctx, first.Ref)
	if err != nil {
		return nil, err
	}
	p := &UndoPreview{First: *first, Head: snap.Head, Branch: snap.Branch}
	changed, err := repo.Git(ctx, "diff", "--name-status", "--no-renames", snap.WorkTree, "--")
	if err == nil {
		p.Changes = lines(changed)
	}
	for _, sk := range snap.Skipped {
		p.NotSaved = append(p.NotSaved, fmt.Sprintf("%s (%s)", sk.Path, sk.Reason))
	}
	after, err := repo.ReadSnapshot(ctx, AfterRef(runID))
	if err != nil {
		return p, nil
	}
	p.AfterSaved = true
	if p.InTheWay, err = repo.Conflicts(ctx, snap, after); err != nil {
		return nil, err
	}
	return p, nil
}

// ExpireSnapshots deletes the snapshot refs (refs/rbflow/RUN/...) of the
// finished runs of repoDir that started before cutoff, and the store's
// records of them, and returns the refs; with dryRun it only returns them.
func ExpireSnapshots(ctx context.Context, runs engine.RunStore, snaps engine.SnapshotStore, repoDir string, cutoff time.Time, dryRun bool) ([]string, error) {
	repo, err := git.Open(ctx, repoDir)
	if err != nil {
		return nil, err
	}
	all, err := runs.Runs(ctx, repo.Dir)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, run := range all {
		if !run.Status.Finished() || run.StartedAt.After(cutoff) {
			continue
		}
		kept, err := repo.KeptRefs(ctx, git.KeptPrefix+run.ID+"/")
		if err != nil {
			return refs, err
		}
		for _, ref := range kept {
			if !dryRun {
				if err := repo.DeleteKept(ctx, ref); err != nil {
					return refs, err
				}
			}
			refs = append(refs, ref)
		}
		if !dryRun {
			if err := snaps.DeleteSnapshots(ctx, run.ID); err != nil {
				return refs, err
			}
		}
	}
	if !dryRun && len(refs) > 0 {
		if err := repo.PruneKept(ctx); err != nil {
			return refs, err
		}
	}
	return refs, nil
}
