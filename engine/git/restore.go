package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// RestoreOptions control Restore.
//
// The refusal rule: After is the snapshot rbflow took when the run ended.
// A path whose current state differs from After was changed by someone after
// the run; if restoring would change it again, Restore refuses and lists it
// (a *ConflictError). The same holds for the index and for HEAD. Without
// After there is no way to tell later changes from the run's own, so Restore
// refuses to run unless Force is set.
type RestoreOptions struct {
	// After is the state right after the run. Required unless Force.
	After *Snapshot
	// Force restores even over later changes.
	Force bool
	// Backup, if set, is a full ref name where Restore first saves the
	// current state of everything it may change, as a snapshot (so that
	// the restore itself can be undone).
	Backup string
}

var (
	// ErrLaterChanges is wrapped by *ConflictError.
	ErrLaterChanges = errors.New("git: restore would overwrite changes made after the run")
	// ErrNoAfter means Restore was called with neither After nor Force.
	ErrNoAfter = errors.New("git: restore needs the snapshot taken after the run (RestoreOptions.After) to protect later changes, or Force")
)

// Conflict is something a restore would overwrite: a path changed after the
// run (Reason says how; "staged: " marks the index), "HEAD" moved after the
// run, a branch ref it would delete or move under another worktree, or a
// path that no snapshot saved and that stands in the way.
type Conflict struct {
	Path   string
	Reason string
}

// ConflictError lists what a restore would overwrite. It wraps
// ErrLaterChanges.
type ConflictError struct {
	Snapshot  string // the snapshot's ref or commit
	Conflicts []Conflict
}

// Error lists the conflicts (the first 20) and what to do about them.
func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "restore %s would overwrite changes made after the run; nothing was changed. Save or undo these changes first, or force the restore (the current state is saved first):", e.Snapshot)
	const max = 20
	for i, c := range e.Conflicts {
		if i == max {
			fmt.Fprintf(&b, "\n\t... and %d more", len(e.Conflicts)-max)
			break
		}
		fmt.Fprintf(&b, "\n\t%q: %s", c.Path, c.Reason)
	}
	return b.String()
}

// Unwrap returns ErrLaterChanges.
func (e *ConflictError) Unwrap() error { return ErrLaterChanges }

func (s *Snapshot) name() string {
	if s.Ref != "" {
		return s.Ref
	}
	return short(s.Commit)
}

// keep lists the paths that a restore of s leaves alone: what s did not save.
func (s *Snapshot) keep() []string {
	var k []string
	for _, sp := range s.Skipped {
		if sp.Reason != SkipUnmerged {
			k = append(k, sp.Path)
		}
	}
	return k
}

func (s *Snapshot) valid() error {
	if s == nil || s.WorkTree == "" || s.IndexTree == "" {
		return errors.New("restore: incomplete snapshot; read it with ReadSnapshot")
	}
	if s.Branch != "" {
		if err := CheckRef("refs/heads/" + s.Branch); err != nil {
			return fmt.Errorf("restore %s: recorded branch: %w", s.name(), err)
		}
	}
	return nil
}

// Conflicts returns what restoring snap would overwrite among the changes
// made after after was taken (see RestoreOptions). With after nil it only
// reports conflicts that exist whatever happened (a branch that was unborn
// in snap but has commits now).
func (r *Repo) Conflicts(ctx context.Context, snap, after *Snapshot) ([]Conflict, error) {
	if err := snap.valid(); err != nil {
		return nil, err
	}
	opt, err := snap.Options().normalize()
	if err != nil {
		return nil, err
	}
	cur, cleanup, err := r.capture(ctx, opt, snap.keep())
	defer cleanup()
	if err != nil {
		return nil, fmt.Errorf("restore %s: read current state: %w", snap.name(), err)
	}
	return r.conflicts(ctx, snap, after, cur)
}

// Restore brings back the state saved in snap: HEAD on the recorded branch
// (which is reset to the recorded commit) or detached at it, the index
// exactly, and every saved file byte for byte with its executable bit and
// symlinks; files that did not exist then are removed. What snap did not save
// (Skipped: reinstallable trees, oversized ignored files, nested
// repositories) is left as it is now. Git records files, not directories or
// permissions: empty directories may remain or vanish, and files get the
// executable bit they had with the other permission bits from the umask.
// Contents pass through the repository's own clean and smudge filters and
// line-ending rules, as with git add and git checkout; without such
// settings (the usual case) they come back byte for byte.
//
// Everything is checked before anything changes: later changes (see
// RestoreOptions) and unsaved files in the way give a *ConflictError; a
// merge, rebase or similar in progress, a held index.lock (see Traces) or a
// work tree that git could not update give an error; in all these cases
// nothing was changed. A failure after that point (a
// full disk) can leave the restore half done; running it again finishes it.
func (r *Repo) Restore(ctx context.Context, snap *Snapshot, opt RestoreOptions) error {
	if err := snap.valid(); err != nil {
		return err
	}
	if opt.After == nil && !opt.Force {
		return fmt.Errorf("restore %s: %w", snap.name(), ErrNoAfter)
	}
	if opt.Backup != "" {
		if err := checkSnapshotRef(opt.Backup); err != nil {
			return err
		}
	}
	sopt, err := snap.Options().normalize()
	if err != nil {
		return err
	}
	cur, cleanup, err := r.capture(ctx, sopt, snap.keep())
	defer cleanup()
	if err != nil {
		return fmt.Errorf("restore %s: read current state: %w", snap.name(), err)
	}
	conflicts, err := r.conflicts(ctx, snap, opt.After, cur)
	if err != nil {
		return err
	}
	if len(conflicts) > 0 && !opt.Force {
		return &ConflictError{Snapshot: snap.name(), Conflicts: conflicts}
	}
	// A merge, rebase or the like in progress has state in .git that a
	// snapshot does not hold; a held index.lock would stop git half way.
	traces, err := r.Traces(ctx)
	if err != nil {
		return err
	}
	if len(traces) > 0 {
		return fmt.Errorf("restore %s: %s (%s); nothing was changed", snap.name(), traces[0].Advice, traces[0].Path)
	}
	if snap.Head != "" {
		if _, err := r.run(ctx, runOpts{}, "cat-file", "-e", snap.Head+"^{commit}"); err != nil {
			return fmt.Errorf("restore %s: recorded HEAD %s is missing from the repository: %w", snap.name(), snap.Head, err)
		}
	}

	// The work tree goes from cur.workTree to snap.WorkTree through the
	// temporary index, which holds exactly cur.workTree with fresh stat
	// data: git then writes only the files that differ, removes the ones
	// that must go, and refuses if any of them changed meanwhile. The dry
	// run (-n) makes the same checks without writing.
	mode := "-m"
	if opt.Force {
		mode = "--reset" // also overwrite files in the way
	}
	tmp := runOpts{env: []string{"GIT_INDEX_FILE=" + cur.index}}
	readTree := func(dry bool) error {
		args := []string{"-c", "core.sparseCheckout=false", "read-tree", mode, "-u"}
		if dry {
			args = append(args, "-n")
		}
		_, err := r.run(ctx, tmp, append(args, cur.workTree, snap.WorkTree)...)
		return err
	}
	if cur.workTree != snap.WorkTree {
		if err := readTree(true); err != nil {
			return fmt.Errorf("restore %s: the work tree cannot be restored; nothing was changed: %w", snap.name(), err)
		}
	}

	if opt.Backup != "" {
		if _, err := r.store(ctx, opt.Backup, cur, sopt); err != nil {
			return fmt.Errorf("restore %s: save current state first: %w", snap.name(), err)
		}
	}
	if cur.workTree != snap.WorkTree {
		if err := readTree(false); err != nil {
			return fmt.Errorf("restore %s: update work tree: %w", snap.name(), err)
		}
	}
	// The index is rebuilt in the temporary index too: --reset replaces it
	// (conflicts included) but keeps the stat data of entries that match,
	// and those are fresh, so git status afterwards rehashes nothing and
	// cannot be fooled by stale stat data. It then replaces the real index.
	if _, err := r.run(ctx, tmp, "read-tree", "--reset", snap.IndexTree); err != nil {
		return fmt.Errorf("restore %s: restore index: %w", snap.name(), err)
	}
	if err := r.replaceIndex(cur.index); err != nil {
		return fmt.Errorf("restore %s: restore index: %w", snap.name(), err)
	}
	if err := r.restoreHead(ctx, snap, cur); err != nil {
		return fmt.Errorf("restore %s: %w", snap.name(), err)
	}
	return nil
}

// replaceIndex makes a copy of src the real index, following git's lock
// file protocol: write index.lock (which must not exist), then rename it.
// The copy keeps src's mtime, against which git judges racily clean entries.
func (r *Repo) replaceIndex(src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if old, err := os.Stat(r.indexFile); err == nil {
		perm = old.Mode().Perm()
	}
	lock := r.indexFile + ".lock"
	out, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: another git process is using the index", lock)
		}
		return err
	}
	in, err := os.Open(src)
	if err == nil {
		_, err = io.Copy(out, in)
		in.Close()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(lock, st.ModTime(), st.ModTime())
	}
	if err == nil {
		err = os.Rename(lock, r.indexFile)
	}
	if err != nil {
		os.Remove(lock)
	}
	return err
}

// restoreHead puts HEAD back: on the recorded branch, reset to the recorded
// commit, or detached at it. Other branches are left alone; the branch's
// reflog keeps the commit it pointed at before.
func (r *Repo) restoreHead(ctx context.Context, snap *Snapshot, cur *state) error {
	msg := "rbflow: restore snapshot " + snap.name()
	if snap.Branch == "" {
		if cur.branch == "" && cur.head == snap.Head {
			return nil
		}
		if _, err := r.run(ctx, runOpts{}, "update-ref", "--no-deref", "-m", msg, "HEAD", snap.Head); err != nil {
			return fmt.Errorf("detach HEAD at %s: %w", snap.Head, err)
		}
		return nil
	}
	full := "refs/heads/" + snap.Branch
	now, err := r.refValue(ctx, full)
	if err != nil {
		return fmt.Errorf("read branch %s: %w", snap.Branch, err)
	}
	switch {
	case now == snap.Head:
	case snap.Head == "":
		// The branch was unborn; Conflicts made sure this is forced.
		if _, err := r.run(ctx, runOpts{}, "update-ref", "-d", "-m", msg, full, now); err != nil {
			return fmt.Errorf("make branch %s unborn again: %w", snap.Branch, err)
		}
	default:
		// The old value makes git refuse if the branch moved meanwhile.
		if _, err := r.run(ctx, runOpts{}, "update-ref", "-m", msg, full, snap.Head, now); err != nil {
			return fmt.Errorf("reset branch %s to %s: %w", snap.Branch, snap.Head, err)
		}
	}
	if cur.branch != snap.Branch {
		if _, err := r.run(ctx, runOpts{}, "symbolic-ref", "-m", msg, "HEAD", full); err != nil {
			return fmt.Errorf("check out branch %s: %w", snap.Branch, err)
		}
	}
	return nil
}

// conflicts compares the current state cur with after (the state when the
// run ended) and snap (the state to restore). It also reports files that no
// snapshot saved (skipped now or then) and that restoring would delete
// because they stand where snap has a file.
func (r *Repo) conflicts(ctx context.Context, snap, after *Snapshot, cur *state) ([]Conflict, error) {
	var out []Conflict
	if snap.Head == "" && snap.Branch != "" {
		now, err := r.refValue(ctx, "refs/heads/"+snap.Branch)
		if err != nil {
			return nil, err
		}
		if now != "" {
			out = append(out, Conflict{Path: "refs/heads/" + snap.Branch,
				Reason: fmt.Sprintf("the branch had no commit when the snapshot was taken; restoring deletes it (it is at %s now)", short(now))})
		}
	}
	var undo map[string]string // what restoring does to the work tree
	if cur.workTree != snap.WorkTree {
		var err error
		if undo, err = r.diffTrees(ctx, cur.workTree, snap.WorkTree); err != nil {
			return nil, err
		}
		inTheWay, err := r.unsavedInTheWay(ctx, cur, undo)
		if err != nil {
			return nil, err
		}
		out = append(out, inTheWay...)
	}
	if snap.Branch != "" && (cur.branch != snap.Branch || cur.head != snap.Head) {
		elsewhere, err := r.checkedOutElsewhere(ctx, "refs/heads/"+snap.Branch)
		if err != nil {
			return nil, err
		}
		if elsewhere != "" {
			out = append(out, Conflict{Path: "refs/heads/" + snap.Branch,
				Reason: "the branch is checked out in the worktree at " + elsewhere + "; restoring would move it under that worktree's feet (switch that worktree to another branch first)"})
		}
	}
	if after == nil {
		return out, nil
	}
	if (cur.head != after.Head || cur.branch != after.Branch) && (cur.head != snap.Head || cur.branch != snap.Branch) {
		out = append(out, Conflict{Path: "HEAD",
			Reason: fmt.Sprintf("HEAD is now %s but was %s when the run ended; restoring moves it to %s",
				describeHead(cur.head, cur.branch), describeHead(after.Head, after.Branch), snap.where())})
	}
	for _, c := range []struct {
		after, cur, want, what string
		undo                   map[string]string
	}{
		{after.WorkTree, cur.workTree, snap.WorkTree, "", undo},
		{after.IndexTree, cur.indexTree, snap.IndexTree, "staged: ", nil},
	} {
		if c.after == c.cur || c.cur == c.want {
			continue
		}
		later, err := r.diffTrees(ctx, c.after, c.cur)
		if err != nil {
			return nil, err
		}
		if c.undo == nil {
			if c.undo, err = r.diffTrees(ctx, c.cur, c.want); err != nil {
				return nil, err
			}
		}
		var paths []string
		for p := range later {
			if _, ok := c.undo[p]; ok {
				paths = append(paths, p)
			}
		}
		sort.Strings(paths)
		for _, p := range paths {
			out = append(out, Conflict{Path: p, Reason: c.what + later[p] + " after the run"})
		}
	}
	return out, nil
}

// checkedOutElsewhere returns the path of another worktree of the
// repository that has branch (a full ref) checked out, or "".
func (r *Repo) checkedOutElsewhere(ctx context.Context, branch string) (string, error) {
	if _, err := os.Lstat(filepath.Join(r.commonDir, "worktrees")); err != nil {
		return "", nil // no linked worktrees
	}
	out, err := r.run(ctx, runOpts{}, "worktree", "list", "--porcelain", "-z")
	if err != nil {
		return "", fmt.Errorf("list worktrees: %w", err)
	}
	var path string
	for _, line := range splitZ(out) {
		if p, ok := strings.CutPrefix(line, "worktree "); ok {
			path = p
		} else if line == "branch "+branch && filepath.Clean(path) != filepath.Clean(r.Dir) {
			return path, nil
		}
	}
	return "", nil
}

// unsavedInTheWay finds files that restoring would delete although they are
// in no tree: a directory with unsaved (skipped) files where the snapshot
// has a file, or an unsaved file where the snapshot has a directory. Git
// itself treats ignored files as expendable there.
func (r *Repo) unsavedInTheWay(ctx context.Context, cur *state, undo map[string]string) ([]Conflict, error) {
	var saved map[string]bool // paths in cur.workTree, read only if needed
	isSaved := func(p string) (bool, error) {
		if saved == nil {
			out, err := r.run(ctx, runOpts{}, "ls-tree", "-r", "-z", "--name-only", "--full-tree", cur.workTree)
			if err != nil {
				return false, fmt.Errorf("list current files: %w", err)
			}
			saved = map[string]bool{}
			for _, f := range splitZ(out) {
				saved[f] = true
			}
		}
		return saved[p], nil
	}
	var out []Conflict
	seen := map[string]bool{}
	add := func(p, reason string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, Conflict{Path: p, Reason: reason})
		}
	}
	paths := make([]string, 0, len(undo))
	for p, what := range undo {
		if what != "deleted" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		parts := strings.Split(p, "/")
		for i := 1; i < len(parts); i++ {
			q := strings.Join(parts[:i], "/")
			fi, err := os.Lstat(filepath.Join(r.Dir, q))
			if err != nil || fi.IsDir() {
				if err != nil {
					break
				}
				continue
			}
			if ok, err := isSaved(q); err != nil {
				return nil, err
			} else if !ok {
				add(q, "not saved by the snapshot (skipped) and in the way of "+strconv.Quote(p))
			}
			break
		}
		fi, err := os.Lstat(filepath.Join(r.Dir, p))
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			if ok, err := isSaved(p); err != nil {
				return nil, err
			} else if !ok {
				add(p, "not saved by the snapshot (skipped), and restoring would overwrite it")
			}
			continue
		}
		err = filepath.WalkDir(filepath.Join(r.Dir, p), func(osPath string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(r.Dir, osPath)
			if err != nil {
				return err
			}
			ok, err := isSaved(filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			if !ok {
				add(p+"/", "holds files not saved by the snapshot (skipped), where the snapshot has a file")
				return filepath.SkipAll
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look for unsaved files: %w", err)
		}
	}
	return out, nil
}

// diffTrees maps each path that differs between trees a and b to what
// happened to it going from a to b.
func (r *Repo) diffTrees(ctx context.Context, a, b string) (map[string]string, error) {
	out, err := r.run(ctx, runOpts{}, "diff-tree", "-r", "-z", "--no-renames", "--name-status", a, b)
	if err != nil {
		return nil, fmt.Errorf("compare trees: %w", err)
	}
	recs := splitZ(out)
	m := make(map[string]string, len(recs)/2)
	for i := 0; i+1 < len(recs); i += 2 {
		what := "changed"
		switch recs[i] {
		case "A":
			what = "created"
		case "D":
			what = "deleted"
		case "M":
			what = "modified"
		case "T":
			what = "changed type"
		}
		m[recs[i+1]] = what
	}
	return m, nil
}
