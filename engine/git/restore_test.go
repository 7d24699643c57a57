package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// rollback does what a procedure's destructive steps do.
func rollback(t *testing.T, dir string) {
	t.Helper()
	testkit.Git(t, dir, "checkout", "-q", "-f", "other")
	testkit.Git(t, dir, "clean", "-q", "-fdx")
}

func TestRestoreRefusesLaterChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	before, st := manifest(t, dir), readState(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/run1/s1", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	rollback(t, dir)
	writeFile(t, dir, "node_modules/pkg/index.js", "reinstalled by the run\n", 0o644)
	after, err := r.Snapshot(ctx, "refs/rbflow/run1/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}

	// The user goes on working after the run.
	writeFile(t, dir, "a.txt", "user edit\n", 0o644)
	writeFile(t, dir, "notes.txt", "new notes\n", 0o644)
	os.Remove(filepath.Join(dir, "only-other.txt")) // restoring removes it anyway: no conflict
	writeFile(t, dir, "dir/-dash", "staged by the user\n", 0o644)
	testkit.Git(t, dir, "add", "--", "dir/-dash")
	refused, refusedState := manifest(t, dir), readState(t, dir)

	err = r.Restore(ctx, snap, RestoreOptions{After: after})
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrLaterChanges) {
		t.Fatalf("Restore over later changes: err = %v, want a *ConflictError", err)
	}
	want := []Conflict{
		{Path: "a.txt", Reason: "modified after the run"},
		{Path: "dir/-dash", Reason: "modified after the run"},
		{Path: "notes.txt", Reason: "created after the run"},
		{Path: "dir/-dash", Reason: "staged: modified after the run"},
	}
	if !reflect.DeepEqual(ce.Conflicts, want) {
		t.Errorf("Conflicts =\n%+v\nwant\n%+v", ce.Conflicts, want)
	}
	for _, p := range []string{`"a.txt"`, `"notes.txt"`, "force"} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %s", err, p)
		}
	}
	if d := diffManifests(refused, manifest(t, dir), true, nil); d != "" {
		t.Fatalf("refused Restore changed the work tree:\n%s", d)
	}
	if got := readState(t, dir); got != refusedState {
		t.Fatalf("refused Restore changed the repository:\n got %q\nwant %q", got, refusedState)
	}
	if got, err := r.Conflicts(ctx, snap, after); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Conflicts() = %+v, %v; want %+v", got, err, want)
	}

	// Forced, with a backup of what it overwrites.
	if err := r.Restore(ctx, snap, RestoreOptions{After: after, Force: true, Backup: "refs/rbflow/undo1/backup"}); err != nil {
		t.Fatal(err)
	}
	skipped := func(p string) bool { return strings.HasPrefix(p, "node_modules/") || strings.HasPrefix(p, "build/") }
	if d := diffManifests(before, manifest(t, dir), false, skipped); d != "" {
		t.Errorf("forced Restore did not bring back the work tree:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Errorf("forced Restore did not bring back the repository:\n got %q\nwant %q", got, st)
	}
	if got := string(fileBytes(t, filepath.Join(dir, "node_modules/pkg/index.js"))); got != "reinstalled by the run\n" {
		t.Errorf("Restore touched a skipped file: node_modules/pkg/index.js = %q", got)
	}
	if got := testkit.KeptGit(t, dir, "show", "refs/rbflow/undo1/backup:a.txt"); got != "user edit\n" {
		t.Errorf("backup has a.txt = %q, want the user's edit", got)
	}

	// The restore can itself be undone.
	backup, err := r.ReadSnapshot(ctx, "refs/rbflow/undo1/backup")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, backup, RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(refused, manifest(t, dir), false, skipped); d != "" {
		t.Errorf("restoring the backup did not bring back the user's work:\n%s", d)
	}
	if got := readState(t, dir); got != refusedState {
		t.Errorf("restoring the backup did not bring back the repository:\n got %q\nwant %q", got, refusedState)
	}
}

func TestRestoreHeadMovedAfterRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	snap, err := r.Snapshot(ctx, "refs/rbflow/r/s", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	rollback(t, dir)
	after, err := r.Snapshot(ctx, "refs/rbflow/r/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "commit", "-q", "--allow-empty", "-m", "later work")
	err = r.Restore(ctx, snap, RestoreOptions{After: after})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Path != "HEAD" {
		t.Fatalf("Restore after a later commit: err = %v, want one conflict on HEAD", err)
	}
	if b := testkit.Git(t, dir, "symbolic-ref", "HEAD"); b != "refs/heads/other\n" {
		t.Errorf("refused Restore moved HEAD to %s", b)
	}
}

func TestRestoreNeedsAfterOrForce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := dirtyRepo(t)
	snap, err := r.Snapshot(ctx, "refs/rbflow/r/s", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{}); !errors.Is(err, ErrNoAfter) {
		t.Errorf("Restore without After: err = %v, want ErrNoAfter", err)
	}
	if err := r.Restore(ctx, &Snapshot{}, RestoreOptions{Force: true}); err == nil {
		t.Error("Restore of an empty Snapshot succeeded")
	}
}

// A directory that the snapshot did not save (reinstallable) stands where the
// snapshot has a file: git would remove it, Restore refuses.
func TestRestoreChecksBeforeChanging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	writeFile(t, dir, "lib", "a file in the snapshot\n", 0o644)
	snap, err := r.Snapshot(ctx, "refs/rbflow/r/s", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	rollback(t, dir)
	writeFile(t, dir, "lib/node_modules/x.js", "installed\n", 0o644)
	after, err := r.Snapshot(ctx, "refs/rbflow/r/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	m, st := manifest(t, dir), readState(t, dir)
	err = r.Restore(ctx, snap, RestoreOptions{After: after})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Path != "lib/" {
		t.Fatalf("Restore over an unsaved directory: err = %v, want a conflict on lib/", err)
	}
	if d := diffManifests(m, manifest(t, dir), true, nil); d != "" {
		t.Fatalf("refused Restore changed the work tree:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Fatalf("refused Restore changed the repository")
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after, Force: true}); err != nil {
		t.Fatalf("forced Restore: %v", err)
	}
	if got := string(fileBytes(t, filepath.Join(dir, "lib"))); got != "a file in the snapshot\n" {
		t.Errorf("lib = %q after forced Restore", got)
	}
}

func TestRestoreRefusesWhileIndexLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	snap, err := r.Snapshot(ctx, "refs/rbflow/r/s", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rollback(t, dir)
	lock := filepath.Join(dir, ".git", "index.lock")
	writeFile(t, dir, ".git/index.lock", "", 0o644)
	m := manifest(t, dir)
	if err := r.Restore(ctx, snap, RestoreOptions{Force: true}); err == nil || !strings.Contains(err.Error(), lock) {
		t.Fatalf("Restore with index.lock: err = %v, want a refusal naming the lock", err)
	}
	if d := diffManifests(m, manifest(t, dir), true, nil); d != "" {
		t.Fatalf("refused Restore changed the work tree:\n%s", d)
	}
	// A snapshot does not need the lock.
	if _, err := r.Snapshot(ctx, "refs/rbflow/r/locked", SnapshotOptions{}); err != nil {
		t.Errorf("Snapshot with index.lock present: %v", err)
	}
}

func TestSnapshotUnbornHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, "staged.txt", "staged\n", 0o644)
	testkit.Git(t, dir, "add", "staged.txt")
	writeFile(t, dir, "staged.txt", "changed after staging\n", 0o755)
	writeFile(t, dir, "untracked.txt", "u\n", 0o644)
	before, st := manifest(t, dir), readState(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/u/s", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Head != "" || snap.Branch != "main" {
		t.Errorf("Snapshot of an unborn branch: Head %q, Branch %q; want \"\", \"main\"", snap.Head, snap.Branch)
	}
	read, err := r.ReadSnapshot(ctx, snap.Ref)
	if err != nil || !reflect.DeepEqual(read, snap) {
		t.Fatalf("ReadSnapshot = %+v, %v\nwant %+v", read, err, snap)
	}

	// The run commits everything and cleans.
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "by the run")
	testkit.Git(t, dir, "clean", "-q", "-fdx")
	after, err := r.Snapshot(ctx, "refs/rbflow/u/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Restore(ctx, snap, RestoreOptions{After: after})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Conflicts[0].Path != "refs/heads/main" {
		t.Fatalf("Restore that deletes a branch: err = %v, want a conflict on refs/heads/main", err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after, Force: true, Backup: "refs/rbflow/u/backup"}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), false, nil); d != "" {
		t.Errorf("Restore did not bring back the work tree:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Errorf("Restore did not bring back the repository:\n got %q\nwant %q", got, st)
	}
	if h, err := r.Head(ctx); h != "" || err != nil {
		t.Errorf("Head() = %q, %v after restoring an unborn branch", h, err)
	}
	if got := testkit.KeptGit(t, dir, "log", "--format=%s", "refs/rbflow/u/backup^1"); got != "by the run\n" {
		t.Errorf("the backup does not keep the run's commit: %q", got)
	}
}

func TestSnapshotDetached(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	testkit.Git(t, dir, "stash", "-q", "-u")
	testkit.Git(t, dir, "checkout", "-q", "--detach", "other")
	writeFile(t, dir, "a.txt", "edit on detached\n", 0o644)
	before, st := manifest(t, dir), readState(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/d/s", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Branch != "" || snap.Head == "" {
		t.Errorf("Snapshot of a detached HEAD: Head %q, Branch %q", snap.Head, snap.Branch)
	}
	testkit.Git(t, dir, "checkout", "-q", "-f", "main")
	after, err := r.Snapshot(ctx, "refs/rbflow/d/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), false, nil); d != "" {
		t.Errorf("Restore did not bring back the work tree:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Errorf("Restore did not bring back the repository:\n got %q\nwant %q", got, st)
	}
}

// conflictRepo leaves a merge of other into main stopped on a conflict in c.txt.
func conflictRepo(t *testing.T) (*Repo, string) {
	t.Helper()
	r, dir := newRepo(t)
	writeFile(t, dir, "c.txt", "base\n", 0o644)
	writeFile(t, dir, "ok.txt", "base\n", 0o644)
	commitAll(t, dir, "base")
	testkit.Git(t, dir, "checkout", "-q", "-b", "other")
	writeFile(t, dir, "c.txt", "theirs\n", 0o644)
	writeFile(t, dir, "ok.txt", "merged cleanly\n", 0o644)
	commitAll(t, dir, "theirs")
	testkit.Git(t, dir, "checkout", "-q", "main")
	writeFile(t, dir, "c.txt", "ours\n", 0o644)
	commitAll(t, dir, "ours")
	cmd := exec.Command("git", "merge", "-q", "other")
	cmd.Dir = dir
	if err := cmd.Run(); err == nil {
		t.Fatal("merge did not stop on a conflict")
	}
	return r, dir
}

func TestSnapshotUnmerged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := conflictRepo(t)
	before := manifest(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/m/s", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Skipped) != 0 {
		t.Errorf("Skipped = %+v, want nothing: the index file holds every stage", snap.Skipped)
	}
	if got := testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "show", snap.IndexTree+":c.txt"); got != "ours\n" {
		t.Errorf("index tree has c.txt = %q, want HEAD's side", got)
	}
	if got := testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "show", snap.IndexTree+":ok.txt"); got != "merged cleanly\n" {
		t.Errorf("index tree has ok.txt = %q, want the merged content", got)
	}
	if got := testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "show", snap.WorkTree+":c.txt"); !strings.Contains(got, "<<<<<<<") {
		t.Errorf("work tree has c.txt = %q, want the conflict markers", got)
	}
	state := readState(t, dir)
	mergeHead := string(fileBytes(t, filepath.Join(dir, ".git", "MERGE_HEAD")))
	// The merge the snapshot holds is no obstacle to restoring it.
	if err := r.Restore(ctx, snap, RestoreOptions{Force: true}); err != nil {
		t.Errorf("Restore during the merge it saved: %v", err)
	}
	// A merge the snapshot does not hold is.
	other, err := r.Snapshot(ctx, "refs/rbflow/m/other", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "merge", "--abort")
	clean, err := r.Snapshot(ctx, "refs/rbflow/m/clean", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, other, RestoreOptions{After: clean}); err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, clean, RestoreOptions{After: other}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".git/MERGE_HEAD", mergeHead, 0o644)
	if err := r.Restore(ctx, snap, RestoreOptions{After: clean}); err == nil || !strings.Contains(err.Error(), "git merge --abort") {
		t.Errorf("Restore during another merge: err = %v, want a refusal that says how to end the merge", err)
	}
	os.Remove(filepath.Join(dir, ".git", "MERGE_HEAD"))

	// Undo brings the conflict back as it was: stages, markers, MERGE_HEAD.
	if err := r.Restore(ctx, snap, RestoreOptions{After: clean}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), false, nil); d != "" {
		t.Errorf("Restore did not bring back the work tree:\n%s", d)
	}
	if now := readState(t, dir); now != state {
		t.Errorf("Restore did not bring back the conflict:\n got %q\nwant %q", now, state)
	}
	if got := string(fileBytes(t, filepath.Join(dir, ".git", "MERGE_HEAD"))); got != mergeHead {
		t.Errorf("MERGE_HEAD = %q, want %q", got, mergeHead)
	}
	testkit.Git(t, dir, "add", "c.txt")
	testkit.Git(t, dir, "commit", "-q", "--no-edit")
	if got := testkit.Git(t, dir, "rev-list", "--count", "--merges", "HEAD"); strings.TrimSpace(got) != "1" {
		t.Errorf("the restored merge did not conclude as a merge: %s merge commits", got)
	}
}

func TestSnapshotSubmodule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sub := t.TempDir()
	testkit.Git(t, sub, "init", "-q", "-b", "main")
	writeFile(t, sub, "s.txt", "sub\n", 0o644)
	commitAll(t, sub, "sub")
	r, dir := newRepo(t)
	writeFile(t, dir, "top.txt", "top\n", 0o644)
	testkit.Git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "mod")
	commitAll(t, dir, "with submodule")
	writeFile(t, dir, "mod/s.txt", "changed inside the submodule\n", 0o644)
	writeFile(t, dir, "top.txt", "changed\n", 0o644)
	snap, err := r.Snapshot(ctx, "refs/rbflow/sm/s", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []SkippedPath{{Path: "mod/", Reason: SkipSubmodule}}
	if !reflect.DeepEqual(snap.Skipped, want) {
		t.Errorf("Skipped = %+v, want %+v", snap.Skipped, want)
	}
	if got := testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "show", snap.WorkTree+":top.txt"); got != "changed\n" {
		t.Errorf("snapshot has top.txt = %q", got)
	}
}

func TestSnapshotLinkedWorktree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, dir := dirtyRepo(t)
	wt := filepath.Join(t.TempDir(), "wt")
	testkit.Git(t, dir, "worktree", "add", "-q", wt, "other")
	writeFile(t, wt, "a.txt", "edited in the linked worktree\n", 0o644)
	testkit.Git(t, wt, "add", "a.txt")
	writeFile(t, wt, "wt-only.txt", "u\n", 0o644)
	r, err := Open(ctx, wt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.GitDir(), filepath.Join(r.CommonDir(), "worktrees")) {
		t.Errorf("GitDir %s is not under CommonDir %s/worktrees", r.GitDir(), r.CommonDir())
	}
	before, st := manifest(t, wt), readState(t, wt)
	snap, err := r.Snapshot(ctx, "refs/rbflow/wt/s", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Branch != "other" {
		t.Errorf("Branch = %q, want other", snap.Branch)
	}
	testkit.Git(t, wt, "reset", "-q", "--hard", "main")
	testkit.Git(t, wt, "clean", "-q", "-fdx")
	after, err := r.Snapshot(ctx, "refs/rbflow/wt/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, wt), false, nil); d != "" {
		t.Errorf("Restore did not bring back the linked worktree:\n%s", d)
	}
	if got := readState(t, wt); got != st {
		t.Errorf("Restore did not bring back the repository:\n got %q\nwant %q", got, st)
	}
}

// An ignored file too large to save stands where the snapshot has a directory.
func TestRestoreUnsavedFileInTheWay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	writeFile(t, dir, "app.log/keep.txt", "saved: small and ignored\n", 0o644)
	opt := SnapshotOptions{IncludeIgnored: true, MaxFileSize: 100}
	snap, err := r.Snapshot(ctx, "refs/rbflow/r/s", opt)
	if err != nil {
		t.Fatal(err)
	}
	rollback(t, dir)
	writeFile(t, dir, "app.log", strings.Repeat("too large to save\n", 10), 0o644)
	after, err := r.Snapshot(ctx, "refs/rbflow/r/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Restore(ctx, snap, RestoreOptions{After: after})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Path != "app.log" {
		t.Fatalf("Restore over an unsaved file: err = %v, want a conflict on app.log", err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after, Force: true}); err != nil {
		t.Fatalf("forced Restore: %v", err)
	}
	if got := string(fileBytes(t, filepath.Join(dir, "app.log/keep.txt"))); got != "saved: small and ignored\n" {
		t.Errorf("app.log/keep.txt = %q after forced Restore", got)
	}
}

func TestRestoreBranchCheckedOutElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	snap, err := r.Snapshot(ctx, "refs/rbflow/r/s", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rollback(t, dir)
	testkit.Git(t, dir, "worktree", "add", "-q", filepath.Join(t.TempDir(), "wt"), "main")
	after, err := r.Snapshot(ctx, "refs/rbflow/r/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Restore(ctx, snap, RestoreOptions{After: after})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0].Path != "refs/heads/main" {
		t.Fatalf("Restore of a branch checked out elsewhere: err = %v, want a conflict on refs/heads/main", err)
	}
}

func TestSnapshotEmptyRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, "only-untracked.txt", "u\n", 0o644)
	before := manifest(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/e/s", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "clean", "-q", "-fdx")
	after, err := r.Snapshot(ctx, "refs/rbflow/e/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), false, nil); d != "" {
		t.Errorf("Restore did not bring back the work tree:\n%s", d)
	}
	if got := testkit.Git(t, dir, "ls-files", "-s"); got != "" {
		t.Errorf("index after Restore = %q, want empty", got)
	}
}

func TestReadSnapshotRefusesOtherCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	if _, err := r.ReadSnapshot(ctx, "HEAD"); !errors.Is(err, ErrNotSnapshot) {
		t.Errorf("ReadSnapshot(HEAD) = %v, want ErrNotSnapshot", err)
	}
	tree := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD^{tree}"))
	head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	msg := "forged\n\nRbflow-Snapshot: 1\nRbflow-Head: " + head + "\nRbflow-Index-Tree: --output=/tmp/x\n"
	forged := strings.TrimSpace(testkit.GitInput(t, dir, []byte(msg), "commit-tree", "-p", head, "-p", head, tree))
	if _, err := r.ReadSnapshot(ctx, forged); !errors.Is(err, ErrNotSnapshot) {
		t.Errorf("ReadSnapshot(forged) = %v, want ErrNotSnapshot", err)
	}
}
