package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dir := dirtyRepo(t)
	top, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, filepath.Join(dir, "dir"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != top || r.CommonDir() != filepath.Join(top, ".git") || r.GitDir() != r.CommonDir() {
		t.Errorf("Open(subdir) = Dir %s, GitDir %s, CommonDir %s; want top %s", r.Dir, r.GitDir(), r.CommonDir(), top)
	}
	plain := t.TempDir()
	if _, err := Open(ctx, plain); err == nil || !strings.Contains(err.Error(), plain) {
		t.Errorf("Open(not a repository) = %v, want an error naming it", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, ".git")); err == nil {
		t.Error("Open(.git) succeeded; it is not a work tree")
	}
}

// The environment of a git hook must not redirect a Repo to another repository.
func TestOpenIgnoresInheritedGitDir(t *testing.T) {
	ctx := context.Background()
	_, other := newRepo(t)
	r, dir := dirtyRepo(t)
	t.Setenv("GIT_DIR", filepath.Join(other, ".git"))
	t.Setenv("GIT_INDEX_FILE", filepath.Join(other, ".git", "index"))
	if b, err := r.Branch(ctx); b != "main" || err != nil {
		t.Errorf("Branch() = %q, %v; want main", b, err)
	}
	if r2, err := Open(ctx, dir); err != nil || r2.Dir != r.Dir {
		t.Errorf("Open = %v, %v", r2, err)
	}
	snap, err := r.Snapshot(ctx, "refs/rbflow/hook/s", SnapshotOptions{})
	if err != nil || snap.Branch != "main" {
		t.Errorf("Snapshot = %+v, %v", snap, err)
	}
}

func TestQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	if h, err := r.Head(ctx); h != "" || err != nil {
		t.Errorf("Head() on an unborn branch = %q, %v", h, err)
	}
	if b, err := r.Branch(ctx); b != "main" || err != nil {
		t.Errorf("Branch() on an unborn branch = %q, %v", b, err)
	}
	if d, err := r.IsDirty(ctx); d || err != nil {
		t.Errorf("IsDirty() on an empty repository = %v, %v", d, err)
	}
	writeFile(t, dir, "a.txt", "1\n", 0o644)
	writeFile(t, dir, "b.txt", "1\n", 0o644)
	if d, err := r.IsDirty(ctx); !d || err != nil {
		t.Errorf("IsDirty() with an untracked file = %v, %v", d, err)
	}
	commitAll(t, dir, "one")
	first := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	if h, err := r.Head(ctx); h != first || err != nil {
		t.Errorf("Head() = %q, %v; want %s", h, err, first)
	}
	if d, err := r.IsDirty(ctx); d || err != nil {
		t.Errorf("IsDirty() after commit = %v, %v", d, err)
	}
	writeFile(t, dir, "b.txt", "2\n", 0o644)
	writeFile(t, dir, "-c.txt", "new\n", 0o644)
	commitAll(t, dir, "two")
	writeFile(t, dir, "a.txt", "unstaged\n", 0o644)
	if got, err := r.ChangedFiles(ctx, "HEAD~1"); err != nil || !reflect.DeepEqual(got, []string{"-c.txt", "a.txt", "b.txt"}) {
		t.Errorf("ChangedFiles(HEAD~1) = %q, %v", got, err)
	}
	if c, err := r.ResolveCommit(ctx, "HEAD~1"); c != first || err != nil {
		t.Errorf("ResolveCommit(HEAD~1) = %q, %v; want %s", c, err, first)
	}
	for ref, want := range map[string]bool{"main": true, "refs/heads/main": true, "nope": false, "refs/rbflow/x": false} {
		if got, err := r.RefExists(ctx, ref); got != want || err != nil {
			t.Errorf("RefExists(%q) = %v, %v; want %v", ref, got, err, want)
		}
	}
	testkit.Git(t, dir, "checkout", "-q", "--detach")
	if b, err := r.Branch(ctx); b != "" || err != nil {
		t.Errorf("Branch() when detached = %q, %v", b, err)
	}
}

func TestTraces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := conflictRepo(t)
	traces, err := r.Traces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) != 1 || traces[0].Kind != TraceMerge || !reflect.DeepEqual(traces[0].Abort, []string{"merge", "--abort"}) {
		t.Fatalf("Traces() during a merge = %+v", traces)
	}
	if _, err := r.Git(ctx, traces[0].Abort...); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "checkout", "-q", "other")
	if _, err := r.Git(ctx, "cherry-pick", "main"); err == nil {
		t.Fatal("cherry-pick did not stop on a conflict")
	}
	lock := filepath.Join(dir, ".git", "index.lock")
	writeFile(t, dir, ".git/index.lock", "", 0o644)
	traces, err = r.Traces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []TraceKind
	for _, tr := range traces {
		kinds = append(kinds, tr.Kind)
		if tr.Advice == "" || tr.ModTime.IsZero() {
			t.Errorf("trace %+v lacks advice or time", tr)
		}
	}
	if !reflect.DeepEqual(kinds, []TraceKind{TraceIndexLock, TraceCherryPick}) {
		t.Errorf("Traces() kinds = %v", kinds)
	}
	if !strings.Contains(traces[0].Advice, lock) {
		t.Errorf("index.lock advice %q does not name the lock", traces[0].Advice)
	}

	if removed, err := r.RemoveStaleLock(ctx, Trace{Kind: TraceIndexLock, Path: lock}, time.Hour); removed || !errors.Is(err, ErrLockTooRecent) {
		t.Errorf("RemoveStaleLock(fresh index.lock) = %v, %v; want ErrLockTooRecent", removed, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	if removed, err := r.RemoveStaleLock(ctx, Trace{Kind: TraceIndexLock, Path: lock}, time.Hour); !removed || err != nil {
		t.Errorf("RemoveStaleLock(old index.lock) = %v, %v", removed, err)
	}
	if _, err := os.Stat(lock); err == nil {
		t.Error("index.lock still exists")
	}
	if removed, err := r.RemoveStaleLock(ctx, Trace{Kind: TraceIndexLock, Path: lock}, time.Hour); removed || err != nil {
		t.Errorf("RemoveStaleLock(no index.lock) = %v, %v", removed, err)
	}
	if _, err := r.Git(ctx, "cherry-pick", "--abort"); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "checkout", "-q", "main")
	testkit.Git(t, dir, "checkout", "-q", "-b", "topic", "HEAD~1")
	writeFile(t, dir, "c.txt", "topic\n", 0o644)
	commitAll(t, dir, "topic")
	if _, err := r.Git(ctx, "rebase", "main"); err == nil {
		t.Fatal("rebase did not stop on a conflict")
	}
	traces, err = r.Traces(ctx)
	if err != nil || len(traces) != 1 || traces[0].Kind != TraceRebase || !reflect.DeepEqual(traces[0].Continue, []string{"rebase", "--continue"}) {
		t.Errorf("Traces() during a rebase = %+v, %v", traces, err)
	}
}

// TestOpenNoticesNewRepositories: Open remembers what it found, but a git
// init in a subdirectory, or a repository removed, is seen at once.
func TestOpenNoticesNewRepositories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top := testkit.GitRepo(t, map[string]string{"sub/a.txt": "a\n"})
	sub := filepath.Join(top, "sub")
	for i := 0; i < 2; i++ { // the second time from what Open remembers
		r, err := Open(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := filepath.EvalSymlinks(top); r.Dir != want {
			t.Fatalf("Open(sub).Dir = %s, want %s", r.Dir, want)
		}
	}
	testkit.Git(t, sub, "init", "-q")
	r, err := Open(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(sub); r.Dir != want {
		t.Errorf("after git init in sub, Open(sub).Dir = %s, want %s", r.Dir, want)
	}
	if err := os.RemoveAll(filepath.Join(sub, ".git")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(top, ".git")); err != nil {
		t.Fatal(err)
	}
	if r, err := Open(ctx, sub); err == nil && strings.HasPrefix(sub, r.Dir) {
		t.Errorf("Open found %s after its .git was removed", r.Dir)
	}
}

// TestHeadBranch reads HEAD and its branch in one go on a branch, detached,
// on an unborn branch and beside a file named HEAD, and agrees with Head
// and Branch each time.
func TestHeadBranch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	check := func(when, wantHead, wantBranch string) {
		t.Helper()
		head, branch, err := r.HeadBranch(ctx)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		h, herr := r.Head(ctx)
		b, berr := r.Branch(ctx)
		if herr != nil || berr != nil {
			t.Fatalf("%s: %v %v", when, herr, berr)
		}
		if head != wantHead || branch != wantBranch || head != h || branch != b {
			t.Errorf("%s: HeadBranch = %q %q, want %q %q (Head %q, Branch %q)", when, head, branch, wantHead, wantBranch, h, b)
		}
	}
	check("unborn", "", "main")
	writeFile(t, dir, "HEAD", "a file named HEAD\n", 0o644)
	commitAll(t, dir, "one")
	one := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	check("on main, beside a file named HEAD", one, "main")
	testkit.Git(t, dir, "switch", "-q", "-c", "feature/x-1")
	check("on a branch with a slash", one, "feature/x-1")
	testkit.Git(t, dir, "switch", "-q", "--detach")
	check("detached", one, "")
	testkit.Git(t, dir, "switch", "-q", "feature/x-1")
	testkit.Git(t, dir, "pack-refs", "--all")
	check("on a branch kept in packed-refs", one, "feature/x-1")
	writeFile(t, dir, "two.txt", "two\n", 0o644)
	commitAll(t, dir, "two")
	two := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	check("on a loose ref newer than packed-refs", two, "feature/x-1")
	testkit.Git(t, dir, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
	testkit.Git(t, dir, "symbolic-ref", "HEAD", "refs/heads/alias")
	check("on a branch that is a symbolic ref (git names the branch it points at)", one, "main")
	testkit.Git(t, dir, "switch", "-q", "main")
	wt := filepath.Join(t.TempDir(), "wt")
	testkit.Git(t, dir, "worktree", "add", "-q", "--detach", wt, "feature/x-1")
	wr, err := Open(ctx, wt)
	if err != nil {
		t.Fatal(err)
	}
	if head, branch, err := wr.HeadBranch(ctx); err != nil || head != two || branch != "" {
		t.Errorf("linked worktree: HeadBranch = %q %q %v, want %s detached", head, branch, err, two)
	}
	if head, branch, err := r.HeadBranch(ctx); err != nil || head != one || branch != "main" {
		t.Errorf("main worktree beside a linked one: HeadBranch = %q %q %v, want %s main", head, branch, err, one)
	}
	testkit.Git(t, dir, "switch", "-q", "--orphan", "fresh")
	check("orphan", "", "fresh")
}

// TestRefLockTraces: the lock files a git killed while it updated a ref
// leaves (HEAD.lock, ORIG_HEAD.lock, packed-refs.lock, refs/**.lock) are
// traces; RemoveStaleLock removes an old one, leaves a fresh one, and
// removes nothing that is not such a lock.
func TestRefLockTraces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	if traces, err := r.Traces(ctx); err != nil || len(traces) != 0 {
		t.Fatalf("Traces() of a clean repository = %+v, %v", traces, err)
	}
	names := []string{"HEAD.lock", "ORIG_HEAD.lock", "packed-refs.lock", "refs/heads/main.lock", "refs/heads/team/x.lock", "refs/tags/v1.lock"}
	for _, n := range names {
		writeFile(t, dir, ".git/"+n, "", 0o644)
	}
	writeFile(t, dir, ".git/refs/heads/not-a-lock", "", 0o644)
	traces, err := r.Traces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range traces {
		if tr.Kind != TraceRefLock || tr.ModTime.IsZero() || !strings.Contains(tr.Advice, tr.Path) {
			t.Errorf("trace %+v: want a ref lock with its time, and advice naming it", tr)
		}
		rel, _ := filepath.Rel(filepath.Join(dir, ".git"), tr.Path)
		got = append(got, filepath.ToSlash(rel))
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Errorf("ref locks found: %v, want %v", got, want)
	}

	if removed, err := r.RemoveStaleLock(ctx, traces[0], time.Hour); removed || !errors.Is(err, ErrLockTooRecent) {
		t.Errorf("RemoveStaleLock(fresh %s) = %v, %v; want ErrLockTooRecent", traces[0].Path, removed, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, tr := range traces {
		if err := os.Chtimes(tr.Path, old, old); err != nil {
			t.Fatal(err)
		}
		if removed, err := r.RemoveStaleLock(ctx, tr, time.Hour); !removed || err != nil {
			t.Errorf("RemoveStaleLock(old %s) = %v, %v", tr.Path, removed, err)
		}
	}
	if traces, err := r.Traces(ctx); err != nil || len(traces) != 0 {
		t.Errorf("Traces() after the removals = %+v, %v", traces, err)
	}

	// Only lock files of the index and the refs.
	writeFile(t, dir, "f.lock", "keep\n", 0o644)
	writeFile(t, dir, ".git/config.lock", "", 0o644)
	for _, p := range []string{filepath.Join(dir, "f.lock"), filepath.Join(dir, ".git", "config.lock"),
		filepath.Join(dir, ".git", "refs", "..", "config.lock"), filepath.Join(dir, ".git", "refs", "heads", "not-a-lock")} {
		if err := os.Chtimes(p, old, old); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if removed, err := r.RemoveStaleLock(ctx, Trace{Kind: TraceRefLock, Path: p}, time.Hour); removed || err == nil {
			t.Errorf("RemoveStaleLock(%s) = %v, %v; want a refusal", p, removed, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "f.lock")); err != nil {
		t.Errorf("f.lock: %v", err)
	}
}

// TestRefsReadWithoutGit: HEAD and the kept refs, which git steps read
// around every action, are read from the files git keeps them in, with no
// git process, and read as git rev-parse --verify reads them: a loose
// ref, a packed one, a missing one, one git finds under another name it
// tries (refs/tags/<ref>). Where the files cannot tell (a symbolic ref),
// git is asked.
func TestRefsReadWithoutGit(t *testing.T) {
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, "a.txt", "a\n", 0o644)
	commitAll(t, dir, "one")
	head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	keep := func(args ...string) string {
		return testkit.Git(t, dir, append([]string{"--git-dir=" + r.keepDir()}, args...)...)
	}
	if _, err := r.Snapshot(ctx, "refs/rbflow/run1/packed", SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	keep("pack-refs", "--all")
	if _, err := r.Snapshot(ctx, "refs/rbflow/run1/loose", SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "update-ref", "refs/tags/refs/rbflow/run1/tagged", head)
	keep("symbolic-ref", "refs/rbflow/run1/sym", "refs/rbflow/run1/loose")
	refs := []string{"refs/rbflow/run1/packed", "refs/rbflow/run1/loose", "refs/rbflow/run1/missing", "refs/rbflow/run1/tagged"}
	gitSays := func(ref string) string {
		for _, d := range []string{r.keepDir(), filepath.Join(dir, ".git")} {
			out, err := exec.Command("git", "--git-dir="+d, "rev-parse", "-q", "--verify", "--end-of-options", ref).Output()
			if err == nil {
				return strings.TrimSpace(string(out))
			}
		}
		return ""
	}
	want := map[string]string{}
	for _, ref := range append(refs, "refs/rbflow/run1/sym") {
		want[ref] = gitSays(ref)
	}
	if want["refs/rbflow/run1/packed"] == "" || want["refs/rbflow/run1/loose"] == "" || want["refs/rbflow/run1/tagged"] != head || want["refs/rbflow/run1/missing"] != "" {
		t.Fatalf("the test's refs are not what it needs: %v", want)
	}
	if v, err := r.keptValue(ctx, "refs/rbflow/run1/sym"); err != nil || v != want["refs/rbflow/run1/sym"] {
		t.Errorf("symbolic kept ref: %q, %v; git says %q", v, err, want["refs/rbflow/run1/sym"])
	}

	t.Setenv("PATH", t.TempDir()) // no git from here on
	if h, err := r.Head(ctx); err != nil || h != head {
		t.Errorf("Head() without git = %q, %v; want %s", h, err, head)
	}
	for _, ref := range refs {
		if v, err := r.keptValue(ctx, ref); err != nil || v != want[ref] {
			t.Errorf("kept ref %s without git = %q, %v; git says %q", ref, v, err, want[ref])
		}
	}
	if err := r.DeleteKept(ctx, "refs/rbflow/run1/missing"); err != nil {
		t.Errorf("deleting a kept ref that does not exist started git: %v", err)
	}
}
