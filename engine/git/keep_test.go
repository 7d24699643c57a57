package git

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestSnapshotsStayHome (issue 11, SPEC §4.1 and §5): a snapshot holds an
// ignored .env, uncommitted work and a staged change. A git push --mirror
// of the repository to a bare repository sends none of it and no
// refs/rbflow ref; after the rollback, reflogs expired and git gc
// --prune=now, the snapshot still restores every byte.
func TestSnapshotsStayHome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	const (
		envSecret = "ENV-SECRET-7d1f0"
		wip       = "UNCOMMITTED-WORK-91ac2"
		staged    = "STAGED-ONLY-55e3b"
	)
	writeFile(t, dir, ".env", "TOKEN="+envSecret+"\n", 0o600)
	writeFile(t, dir, "wip.txt", wip+"\n", 0o644)
	writeFile(t, dir, "staged.txt", staged+"\n", 0o644)
	testkit.Git(t, dir, "add", "staged.txt")
	before, st := manifest(t, dir), readState(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/r1/reset", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}

	remote := filepath.Join(t.TempDir(), "remote.git")
	testkit.Git(t, dir, "init", "-q", "--bare", remote)
	testkit.Git(t, dir, "push", "-q", "--mirror", remote)
	if refs := testkit.Git(t, remote, "for-each-ref", "--format=%(refname)"); strings.Contains(refs, "rbflow") || !strings.Contains(refs, "refs/heads/main") {
		t.Errorf("the mirror received these refs:\n%s", refs)
	}
	objects := testkit.GitInput(t, remote, nil, "cat-file", "--batch-all-objects", "--batch")
	for _, s := range []string{envSecret, wip, staged} {
		if strings.Contains(objects, s) {
			t.Errorf("git push --mirror published %q", s)
		}
	}
	if !strings.Contains(objects, "a1\n") {
		t.Fatal("the mirror's objects were not read: the grep proves nothing")
	}

	rollback(t, dir)
	testkit.Git(t, dir, "reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all")
	testkit.Git(t, dir, "gc", "-q", "--prune=now")
	if out := testkit.GitInput(t, dir, nil, "cat-file", "--batch-all-objects", "--batch"); strings.Contains(out, wip) {
		t.Fatal("git gc kept the snapshot's objects in the repository: the test proves nothing")
	}
	after, err := r.Snapshot(ctx, "refs/rbflow/r1/_after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	read, err := r.ReadSnapshot(ctx, "refs/rbflow/r1/reset")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, read, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	reinstallable := func(p string) bool { return strings.HasPrefix(p, "node_modules/") || strings.HasPrefix(p, "build/") }
	if d := diffManifests(before, manifest(t, dir), false, reinstallable); d != "" {
		t.Errorf("restore after gc --prune=now differs:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Errorf("restore after gc --prune=now: repository\n got %q\nwant %q", got, st)
	}
	// The repository owns what it points at again: git fsck without
	// rbflow's store finds nothing missing.
	testkit.Git(t, dir, "fsck", "--no-dangling", "--no-progress")
	if b, err := os.ReadFile(filepath.Join(dir, ".env")); err != nil || !bytes.Contains(b, []byte(envSecret)) {
		t.Errorf(".env after restore: %q, %v", b, err)
	}
}

// TestKeptRefs: Keep refuses to move a kept ref, KeptRefs lists the store's
// refs and those an older rbflow kept in the repository, DeleteKept
// deletes both, and PruneKept drops what no kept ref holds.
func TestKeptRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, "a.txt", "a\n", 0o644)
	commitAll(t, dir, "one")
	head, err := r.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Keep(ctx, "refs/rbflow/r1/x", head); err != nil {
		t.Fatal(err)
	}
	if err := r.Keep(ctx, "refs/rbflow/r1/x", head); err == nil {
		t.Error("Keep moved an existing kept ref")
	}
	if err := r.Keep(ctx, "refs/heads/x", head); err == nil {
		t.Error("Keep took a ref outside refs/rbflow/")
	}
	testkit.Git(t, dir, "update-ref", "refs/rbflow/r1/legacy", head) // as an older rbflow kept it
	refs, err := r.KeptRefs(ctx, "refs/rbflow/r1/")
	if err != nil || strings.Join(refs, " ") != "refs/rbflow/r1/legacy refs/rbflow/r1/x" {
		t.Fatalf("KeptRefs = %q, %v", refs, err)
	}
	for _, ref := range refs {
		if ok, err := r.RefExists(ctx, ref); !ok || err != nil {
			t.Errorf("RefExists(%s) = %v, %v", ref, ok, err)
		}
		if err := r.DeleteKept(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if ok, _ := r.RefExists(ctx, ref); ok {
			t.Errorf("%s exists after DeleteKept", ref)
		}
	}
	if err := r.PruneKept(ctx); err != nil {
		t.Fatal(err)
	}
	if refs, _ := r.KeptRefs(ctx, "refs/rbflow/"); len(refs) != 0 {
		t.Errorf("KeptRefs after delete = %q", refs)
	}
}

// TestKeptRefLockLeftByKilledGit: a git killed while it updated a kept ref
// (rbflow was SIGKILLed mid-snapshot) leaves <ref>.lock in the store. The
// resumed step's snapshot to that ref, and the deletion of a kept ref with
// a leftover lock, go through; before, each failed with "cannot lock ref
// ...: File exists" and the resumed run stopped.
func TestKeptRefLockLeftByKilledGit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	if _, err := r.Snapshot(ctx, "refs/rbflow/r1/first", SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	leaveLock := func(ref string) string {
		lock := filepath.Join(r.KeepDir(), filepath.FromSlash(ref)+".lock")
		if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
			t.Fatal(err)
		}
		// What git had written into the lock when it was killed.
		if err := os.WriteFile(lock, []byte(strings.Repeat("0", 40)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return lock
	}
	lock := leaveLock("refs/rbflow/r1/reset")
	snap, err := r.Snapshot(ctx, "refs/rbflow/r1/reset", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatalf("snapshot over a killed git's lock: %v", err)
	}
	if _, err := os.Lstat(lock); err == nil {
		t.Errorf("%s is still there", lock)
	}
	got := strings.TrimSpace(testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "rev-parse", "refs/rbflow/r1/reset"))
	if got != snap.Commit {
		t.Errorf("refs/rbflow/r1/reset = %s, want the snapshot %s", got, snap.Commit)
	}

	leaveLock("refs/rbflow/r1/first")
	if err := r.DeleteKept(ctx, "refs/rbflow/r1/first"); err != nil {
		t.Fatalf("delete over a killed git's lock: %v", err)
	}
	if refs, err := r.KeptRefs(ctx, "refs/rbflow/r1/"); err != nil || len(refs) != 1 || refs[0] != "refs/rbflow/r1/reset" {
		t.Errorf("kept refs after the delete: %v (%v), want only refs/rbflow/r1/reset", refs, err)
	}
}
