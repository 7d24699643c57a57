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

// fetchSnapshots copies the objects of the snapshots (nil ones are
// skipped) from rbflow's store into the repository, unless they are there:
// Snapshot writes them into the store only, and what a restore writes into
// the index, HEAD and branches must not depend on the store.
func (r *Repo) fetchSnapshots(ctx context.Context, snaps ...*Snapshot) error {
	for _, s := range snaps {
		if s == nil || !r.hasKeep() {
			continue
		}
		if _, err := r.run(ctx, runOpts{}, "cat-file", "-e", s.Commit+"^{commit}"); err == nil {
			continue
		}
		w, err := r.storing(ctx)
		if err != nil {
			return err
		}
		list, err := w.run(ctx, runOpts{}, "rev-list", "--objects", s.Commit, "--not", "--all")
		if err != nil {
			return fmt.Errorf("restore %s: read it from the snapshot store: %w", s.name(), err)
		}
		pack := filepath.Join(r.commonDir, "objects", "pack", "pack")
		if _, err := w.run(ctx, runOpts{stdin: list}, "pack-objects", "-q", pack); err != nil {
			return fmt.Errorf("restore %s: copy it from the snapshot store: %w", s.name(), err)
		}
	}
	return nil
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
	if err := r.fetchSnapshots(ctx, snap, after); err != nil {
		return nil, err
	}
	cur, cleanup, err := r.capture(ctx, opt, snap.keep())
	defer cleanup()
	if err != nil {
		return nil, fmt.Errorf("restore %s: read current state: %w", snap.name(), err)
	}
	want, aft, err := r.readMetas(ctx, snap, after)
	if err != nil {
		return nil, err
	}
	return r.conflicts(ctx, snap, after, want, aft, cur)
}

func (r *Repo) readMetas(ctx context.Context, snap, after *Snapshot) (want, aft *meta, err error) {
	if want, err = r.readMeta(ctx, snap); err != nil {
		return nil, nil, err
	}
	if aft, err = r.readMeta(ctx, after); err != nil {
		return nil, nil, err
	}
	return want, aft, nil
}

// Restore brings back the state saved in snap, exactly: HEAD on the
// recorded branch (which is reset to the recorded commit) or detached at
// it; the index file as it was, with conflict stages, intent-to-add,
// skip-worktree and assume-unchanged entries; every saved file byte for
// byte as it was on disk (no clean, smudge or line-ending filter runs in
// either direction), with its permission bits; directories with theirs,
// empty ones included; the state of a merge, cherry-pick, revert or rebase
// that was in progress; and the branches and tags: those the run created
// are deleted, those it moved or deleted come back. Files and directories
// that did not exist then are removed (the backup keeps them). What snap
// did not save (Skipped: reinstallable trees, oversized ignored files,
// nested repositories, submodules' files) is left as it is now. Snapshots
// taken by an older rbflow hold no modes, index file, operation state or
// refs: files then get their executable bit with the other bits from the
// umask, and the index is rebuilt from its tree.
//
// Everything is checked before anything changes: later changes (see
// RestoreOptions) and unsaved files in the way give a *ConflictError; an
// operation in progress that neither snap nor the end of the run had, or a
// held index.lock (see Traces), give an error; in all these cases nothing
// was changed. A forced restore moves unsaved files in its way into
// .git/rbflow/displaced rather than deleting them. A failure after that
// point (a full disk) can leave the restore half done; running it again
// finishes it.
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
	if err := r.fetchSnapshots(ctx, snap, opt.After); err != nil {
		return err
	}
	cur, cleanup, err := r.capture(ctx, sopt, snap.keep())
	defer cleanup()
	if err != nil {
		return fmt.Errorf("restore %s: read current state: %w", snap.name(), err)
	}
	want, aft, err := r.readMetas(ctx, snap, opt.After)
	if err != nil {
		return err
	}
	conflicts, err := r.conflicts(ctx, snap, opt.After, want, aft, cur)
	if err != nil {
		return err
	}
	if len(conflicts) > 0 && !opt.Force {
		return &ConflictError{Snapshot: snap.name(), Conflicts: conflicts}
	}
	if err := r.checkTraces(ctx, snap, want, aft, cur, opt.Force); err != nil {
		return err
	}
	if snap.Head != "" {
		if _, err := r.run(ctx, runOpts{}, "cat-file", "-e", snap.Head+"^{commit}"); err != nil {
			return fmt.Errorf("restore %s: recorded HEAD %s is missing from the repository: %w", snap.name(), snap.Head, err)
		}
	}
	var cs []change
	if cur.workTree != snap.WorkTree {
		if cs, err = r.diffRaw(ctx, cur.workTree, snap.WorkTree); err != nil {
			return fmt.Errorf("restore %s: %w", snap.name(), err)
		}
	}

	if opt.Backup != "" {
		if _, err := r.store(ctx, opt.Backup, cur, sopt); err != nil {
			return fmt.Errorf("restore %s: save current state first: %w", snap.name(), err)
		}
	}
	if err := r.writeTree(ctx, cs, cur, want, aft, snap.keep()); err != nil {
		return fmt.Errorf("restore %s: update work tree: %w", snap.name(), err)
	}
	if err := r.restoreIndex(ctx, snap, want, cur); err != nil {
		return fmt.Errorf("restore %s: restore index: %w", snap.name(), err)
	}
	if want != nil && !sameState(want.state, cur.meta.state) {
		if err := r.restoreOpState(want.state); err != nil {
			return fmt.Errorf("restore %s: %w", snap.name(), err)
		}
	}
	if err := r.restoreHead(ctx, snap, cur); err != nil {
		return fmt.Errorf("restore %s: %w", snap.name(), err)
	}
	if want != nil {
		if err := r.restoreRefs(ctx, snap, want, cur.meta); err != nil {
			return fmt.Errorf("restore %s: %w", snap.name(), err)
		}
	}
	return nil
}

// checkTraces refuses while git holds the index or a ref, or while an
// operation is in progress that is neither the snapshot's nor the one the
// run left (which the backup saves).
func (r *Repo) checkTraces(ctx context.Context, snap *Snapshot, want, aft *meta, cur *state, force bool) error {
	traces, err := r.Traces(ctx)
	if err != nil {
		return err
	}
	for _, t := range traces {
		known := want != nil && (sameState(cur.meta.state, want.state) || force ||
			aft != nil && sameState(cur.meta.state, aft.state))
		if t.Kind == TraceIndexLock || t.Kind == TraceRefLock || t.Kind == TraceBisect || !known {
			return fmt.Errorf("restore %s: %s (%s); nothing was changed", snap.name(), t.Advice, t.Path)
		}
	}
	return nil
}

// restoreIndex puts the index back: the saved index file, or, for older
// snapshots, an index read from the saved tree.
func (r *Repo) restoreIndex(ctx context.Context, snap *Snapshot, want *meta, cur *state) error {
	src := cur.index
	if want != nil && want.index != nil {
		src = filepath.Join(cur.dir, "index.saved")
		if err := os.WriteFile(src, want.index, 0o600); err != nil {
			return err
		}
	} else if _, err := r.run(ctx, runOpts{env: []string{"GIT_INDEX_FILE=" + cur.index}}, "read-tree", "--reset", snap.IndexTree); err != nil {
		return err
	}
	return r.replaceIndex(src)
}

// restoreOpState replaces the files of an operation in progress with
// those saved (none: no operation in progress).
func (r *Repo) restoreOpState(state map[string][]byte) error {
	for _, name := range opStateNames {
		if err := os.RemoveAll(filepath.Join(r.gitDir, name)); err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	for _, name := range sortedKeys(state) {
		p := filepath.Join(r.gitDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
		if err := os.WriteFile(p, state[name], 0o644); err != nil {
			return fmt.Errorf("restore %s: %w", name, err)
		}
	}
	return nil
}

// restoreRefs sets the branches and tags back to want, in one transaction,
// except the branch HEAD is restored on (restoreHead did it): refs the run
// created are deleted, refs it moved or deleted come back.
func (r *Repo) restoreRefs(ctx context.Context, snap *Snapshot, want, cur *meta) error {
	var in strings.Builder
	for _, ref := range refChanges(snap, want, cur) {
		w, c := want.refs[ref], cur.refs[ref]
		if w == "" {
			fmt.Fprintf(&in, "delete %s\x00%s\x00", ref, c)
			continue
		}
		if body, ok := want.objects[w]; ok {
			// An annotated tag that gc may have taken: made again from
			// its saved bytes, it has the same id.
			if _, err := r.run(ctx, runOpts{}, "cat-file", "-e", w); err != nil {
				if _, err := r.hashObject(ctx, "tag", body); err != nil {
					return fmt.Errorf("restore tag %s: %w", ref, err)
				}
			}
		}
		fmt.Fprintf(&in, "update %s\x00%s\x00%s\x00", ref, w, c)
	}
	if in.Len() == 0 {
		return nil
	}
	if _, err := r.run(ctx, runOpts{stdin: []byte(in.String())}, "update-ref", "-z", "--stdin", "-m", "rbflow: restore snapshot "+snap.name()); err != nil {
		return fmt.Errorf("restore branches and tags: %w", err)
	}
	return nil
}

// refChanges lists the refs whose value differs between want and cur,
// leaving out the branch HEAD is restored on.
func refChanges(snap *Snapshot, want, cur *meta) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range []*meta{want, cur} {
		for ref := range m.refs {
			if !seen[ref] && want.refs[ref] != cur.refs[ref] && (snap.Branch == "" || ref != "refs/heads/"+snap.Branch) {
				seen[ref] = true
				out = append(out, ref)
			}
		}
	}
	sort.Strings(out)
	return out
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
func (r *Repo) conflicts(ctx context.Context, snap, after *Snapshot, want, aft *meta, cur *state) ([]Conflict, error) {
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
		cs, err := r.diffRaw(ctx, cur.workTree, snap.WorkTree)
		if err != nil {
			return nil, err
		}
		undo = map[string]string{}
		for _, c := range cs {
			undo[c.path] = c.what()
		}
		inTheWay, err := r.unsavedInTheWay(ctx, cur, cs)
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
	headMoved := after != nil && (cur.head != after.Head || cur.branch != after.Branch) && (cur.head != snap.Head || cur.branch != snap.Branch)
	if want != nil {
		for _, ref := range refChanges(snap, want, cur.meta) {
			if aft != nil && aft.refs[ref] != cur.meta.refs[ref] {
				if ref == "refs/heads/"+cur.branch && headMoved {
					continue // said above
				}
				out = append(out, Conflict{Path: ref, Reason: fmt.Sprintf("moved after the run (from %s to %s)", orNone(aft.refs[ref]), orNone(cur.meta.refs[ref]))})
				continue
			}
			if strings.HasPrefix(ref, "refs/heads/") {
				elsewhere, err := r.checkedOutElsewhere(ctx, ref)
				if err != nil {
					return nil, err
				}
				if elsewhere != "" {
					out = append(out, Conflict{Path: ref, Reason: "the branch is checked out in the worktree at " + elsewhere + "; restoring would move or delete it under that worktree's feet"})
				}
			}
		}
	}
	if after == nil {
		return out, nil
	}
	if headMoved {
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

func orNone(id string) string {
	if id == "" {
		return "nothing"
	}
	return short(id)
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
func (r *Repo) unsavedInTheWay(ctx context.Context, cur *state, cs []change) ([]Conflict, error) {
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
	var paths []string
	for _, c := range cs {
		// A submodule's files are not the snapshot's to write.
		if c.writes() {
			paths = append(paths, c.path)
		}
	}
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
