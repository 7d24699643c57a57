package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// TraceKind names a trace that git leaves while an operation is under way.
type TraceKind string

// Kinds of Trace.
const (
	TraceIndexLock  TraceKind = "index-lock"  // index.lock: a git process is writing the index, or died doing so
	TraceRefLock    TraceKind = "ref-lock"    // HEAD.lock, refs/heads/main.lock...: a git process is updating a ref, or died doing so
	TraceMerge      TraceKind = "merge"       // MERGE_HEAD
	TraceCherryPick TraceKind = "cherry-pick" // CHERRY_PICK_HEAD
	TraceRevert     TraceKind = "revert"      // REVERT_HEAD
	TraceRebase     TraceKind = "rebase"      // rebase-merge/ or rebase-apply/
	TraceAm         TraceKind = "am"          // rebase-apply/applying
	TraceBisect     TraceKind = "bisect"      // BISECT_LOG
)

// Trace is an operation that git started in this work tree and did not
// finish, as its files in the git directory show.
type Trace struct {
	Kind    TraceKind
	Path    string    // the file or directory that shows it
	ModTime time.Time // when it was last written
	// Continue and Abort are the git arguments that finish or abandon the
	// operation; nil when there is no such command.
	Continue, Abort []string
	// Advice says, for people, what to run.
	Advice string
}

// Traces reports unfinished git operations in this work tree: a stale or
// live index.lock, a merge, cherry-pick, revert, rebase, am or bisect in
// progress. rbflow checks them before resuming a git step.
func (r *Repo) Traces(ctx context.Context) ([]Trace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := func(name string) string { return filepath.Join(r.gitDir, name) }
	lock := r.indexFile + ".lock"
	am := false
	if _, err := os.Lstat(g("rebase-apply/applying")); err == nil {
		am = true
	}
	checks := []traceCheck{
		{TraceIndexLock, lock, nil, nil,
			"a git process is writing the index or died while doing so; if no git process is running in this repository, remove it: rm -f " + lock},
		{TraceMerge, g("MERGE_HEAD"), []string{"merge", "--continue"}, []string{"merge", "--abort"},
			"a merge is in progress: resolve the conflicts and git add the files, then git merge --continue; or git merge --abort"},
		{TraceCherryPick, g("CHERRY_PICK_HEAD"), []string{"cherry-pick", "--continue"}, []string{"cherry-pick", "--abort"},
			"a cherry-pick is in progress: resolve the conflicts and git add the files, then git cherry-pick --continue; or git cherry-pick --abort"},
		{TraceRevert, g("REVERT_HEAD"), []string{"revert", "--continue"}, []string{"revert", "--abort"},
			"a revert is in progress: resolve the conflicts and git add the files, then git revert --continue; or git revert --abort"},
		{TraceRebase, g("rebase-merge"), []string{"rebase", "--continue"}, []string{"rebase", "--abort"},
			"a rebase is in progress: resolve the conflicts and git add the files, then git rebase --continue; or git rebase --abort"},
	}
	if am {
		checks = append(checks, traceCheck{TraceAm, g("rebase-apply"), []string{"am", "--continue"}, []string{"am", "--abort"},
			"git am is applying patches: resolve the conflicts and git add the files, then git am --continue; or git am --abort"})
	} else {
		checks = append(checks, traceCheck{TraceRebase, g("rebase-apply"), []string{"rebase", "--continue"}, []string{"rebase", "--abort"},
			"a rebase is in progress: resolve the conflicts and git add the files, then git rebase --continue; or git rebase --abort"})
	}
	checks = append(checks, traceCheck{TraceBisect, g("BISECT_LOG"), nil, []string{"bisect", "reset"},
		"a bisect is in progress: finish it, or git bisect reset to return to where it started"})
	var out []Trace
	for _, c := range checks {
		fi, err := os.Lstat(c.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look for git traces: %w", err)
		}
		out = append(out, Trace{Kind: c.kind, Path: c.path, ModTime: fi.ModTime(), Continue: c.cont, Abort: c.abort, Advice: c.advice})
	}
	locks, err := r.refLocks()
	if err != nil {
		return nil, fmt.Errorf("look for git traces: %w", err)
	}
	return append(out, locks...), nil
}

// fixedRefLocks are the lock files of refs outside refs/: HEAD.lock and
// ORIG_HEAD.lock of this work tree, and the repository's packed-refs.lock.
func (r *Repo) fixedRefLocks() []string {
	return []string{filepath.Join(r.gitDir, "HEAD.lock"), filepath.Join(r.gitDir, "ORIG_HEAD.lock"), filepath.Join(r.commonDir, "packed-refs.lock")}
}

// refLocks finds the lock files of refs: HEAD.lock and ORIG_HEAD.lock of
// this work tree, packed-refs.lock and every refs/**.lock of the
// repository. A git process holds one while it updates that ref; a git
// killed meanwhile (with rbflow, by SIGKILL) leaves it, and every later
// update of the ref fails ("cannot lock ref ...: File exists").
func (r *Repo) refLocks() ([]Trace, error) {
	var out []Trace
	add := func(p string, fi fs.FileInfo) {
		out = append(out, Trace{Kind: TraceRefLock, Path: p, ModTime: fi.ModTime(),
			Advice: "a git process is updating a ref or died while doing so; if no git process is running in this repository, remove it: rm -f " + p})
	}
	for _, p := range r.fixedRefLocks() {
		if fi, err := os.Lstat(p); err == nil {
			add(p, fi)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	err := filepath.WalkDir(filepath.Join(r.commonDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(d.Name(), ".lock") {
			fi, err := d.Info()
			if err != nil {
				return nil // gone meanwhile: its git finished
			}
			add(p, fi)
		}
		return nil
	})
	return out, err
}

// QuitOperations forgets the merge, cherry-pick, revert, rebase or am in
// progress without touching the index, the work tree or HEAD (git <op>
// --quit), for a step that discards local changes after a snapshot saved
// them, operation state included. A bisect is left alone; a held
// index.lock is left for the next git command to report.
func (r *Repo) QuitOperations(ctx context.Context) error {
	traces, err := r.Traces(ctx)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, t := range traces {
		if t.Kind == TraceIndexLock || t.Kind == TraceBisect || len(t.Abort) == 0 || done[t.Abort[0]] {
			continue
		}
		done[t.Abort[0]] = true
		if _, err := r.run(ctx, runOpts{}, t.Abort[0], "--quit"); err != nil {
			return fmt.Errorf("forget the %s in progress: %w", t.Kind, err)
		}
	}
	return nil
}

// PrepareDiscard readies the work tree for a step that discards local
// changes (switch --discard-changes, reset --hard) once a snapshot has saved
// them: it forgets the operation in progress (QuitOperations) and clears the
// assume-unchanged bit, and the skip-worktree bit of files present on disk
// outside a sparse checkout, which would otherwise make git refuse ("not
// uptodate") or keep the local edits it hides. The snapshot holds the flags;
// undo puts them back.
func (r *Repo) PrepareDiscard(ctx context.Context) error {
	if err := r.QuitOperations(ctx); err != nil {
		return err
	}
	if flagged, known := r.indexHasFlags(r.indexFile); known && !flagged {
		return nil
	}
	out, err := r.run(ctx, runOpts{}, "ls-files", "-z", "-v")
	if err != nil {
		return fmt.Errorf("list index flags: %w", err)
	}
	sparse, _ := r.run(ctx, runOpts{}, "config", "--bool", "core.sparseCheckout")
	// update-index applies one of these options per call.
	var assumed, skipped []string
	for _, rec := range splitZ(out) {
		if len(rec) < 3 {
			continue
		}
		tag, p := rec[0], rec[2:]
		switch {
		case 'a' <= tag && tag <= 'z':
			assumed = append(assumed, p)
		case tag == 'S' && strings.TrimSpace(string(sparse)) != "true":
			if _, err := os.Lstat(filepath.Join(r.Dir, p)); err == nil {
				skipped = append(skipped, p)
			}
		}
	}
	for _, c := range []struct {
		opt   string
		paths []string
	}{{"--no-assume-unchanged", assumed}, {"--no-skip-worktree", skipped}} {
		for paths := c.paths; len(paths) > 0; {
			n := min(len(paths), 500)
			if _, err := r.run(ctx, runOpts{}, append([]string{"update-index", c.opt, "--"}, paths[:n]...)...); err != nil {
				return fmt.Errorf("clear index flags: %w", err)
			}
			paths = paths[n:]
		}
	}
	return nil
}

type traceCheck struct {
	kind        TraceKind
	path        string
	cont, abort []string
	advice      string
}

// ErrLockTooRecent means RemoveStaleLock found a lock younger than the age
// it was given, which a live git process may still hold.
var ErrLockTooRecent = errors.New("git: the lock is too recent to be stale")

// RemoveStaleLock removes a lock file Traces reported, the index's or a
// ref's (TraceIndexLock, TraceRefLock), and reports whether there was one.
// Git cannot tell whether the process that created a lock is alive, so the
// caller must know that it is dead (rbflow records the pid and start time
// of the git it ran); as a second guard a lock newer than minAge is left
// alone and the error wraps ErrLockTooRecent.
func (r *Repo) RemoveStaleLock(ctx context.Context, t Trace, minAge time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	lock := t.Path
	if !r.isLockPath(t) {
		return false, fmt.Errorf("remove stale lock: %s is not a lock file of this repository's index or refs", lock)
	}
	fi, err := os.Lstat(lock)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove stale lock: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("remove stale lock: %s is not a regular file; remove it by hand if it is stale", lock)
	}
	if age := time.Since(fi.ModTime()); age < minAge {
		return false, fmt.Errorf("remove stale lock %s: written %s ago, less than %s: %w",
			lock, age.Round(time.Millisecond), minAge, ErrLockTooRecent)
	}
	if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove stale lock: %w", err)
	}
	return true, nil
}

// isLockPath reports whether t names a lock file that Traces looks for:
// the index's, or a ref's.
func (r *Repo) isLockPath(t Trace) bool {
	switch t.Kind {
	case TraceIndexLock:
		return t.Path == r.indexFile+".lock"
	case TraceRefLock:
		if slices.Contains(r.fixedRefLocks(), t.Path) {
			return true
		}
		rel, err := filepath.Rel(filepath.Join(r.commonDir, "refs"), t.Path)
		return err == nil && filepath.IsLocal(rel) && strings.HasSuffix(t.Path, ".lock")
	}
	return false
}
