package git

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// dirtyRepo makes a repository with history on main and other and a work
// tree holding one of each kind of change.
func dirtyRepo(t *testing.T) (*Repo, string) {
	t.Helper()
	r, dir := newRepo(t)
	writeFile(t, dir, ".gitignore", ".env\n*.log\nnode_modules/\nbuild/\nlogs/\n", 0o644)
	writeFile(t, dir, "a.txt", "a1\n", 0o644)
	writeFile(t, dir, "staged.txt", "s1\n", 0o644)
	writeFile(t, dir, "partly.txt", "p1\n", 0o644)
	writeFile(t, dir, "gone.txt", "g1\n", 0o644)
	writeFile(t, dir, "gone-staged.txt", "gs1\n", 0o644)
	writeFile(t, dir, "run.sh", "#!/bin/sh\n", 0o755)
	writeFile(t, dir, "dir/-dash", "dash\n", 0o644)
	symlink(t, dir, "link", "a.txt")
	commitAll(t, dir, "one")
	testkit.Git(t, dir, "checkout", "-q", "-b", "other")
	writeFile(t, dir, "a.txt", "other\n", 0o644)
	writeFile(t, dir, "only-other.txt", "o\n", 0o644)
	commitAll(t, dir, "other")
	testkit.Git(t, dir, "checkout", "-q", "main")

	writeFile(t, dir, "a.txt", "a2 unstaged\n", 0o644)
	writeFile(t, dir, "staged.txt", "s2 staged\n", 0o644)
	writeFile(t, dir, "partly.txt", "p2 staged\n", 0o644)
	testkit.Git(t, dir, "add", "staged.txt", "partly.txt")
	writeFile(t, dir, "partly.txt", "p3 unstaged\n", 0o644)
	os.Remove(filepath.Join(dir, "gone.txt"))
	testkit.Git(t, dir, "rm", "-q", "gone-staged.txt")
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "new dir/ünï cödé.bin", "\x00\x01binary\xff", 0o755)
	writeFile(t, dir, "new\nline.txt", "nl\n", 0o644)
	writeFile(t, dir, "-rf", "dash\n", 0o644)
	symlink(t, dir, "dangling", "does/not/exist")
	writeFile(t, dir, ".env", "SECRET=1\n", 0o600)
	writeFile(t, dir, "sub/x.log", "log\n", 0o644)
	writeFile(t, dir, "logs/deep/app.txt", "ignored dir\n", 0o644)
	writeFile(t, dir, "node_modules/pkg/index.js", "module\n", 0o644)
	writeFile(t, dir, "build/out.o", "obj\n", 0o644)
	writeFile(t, dir, "dist/keep.txt", "not ignored, so saved\n", 0o644)
	return r, dir
}

func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	before, st := manifest(t, dir), readState(t, dir)
	idx := filepath.Join(dir, ".git", "index")
	idxBytes, idxTime := fileBytes(t, idx), mtime(t, idx)

	snap, err := r.Snapshot(ctx, "refs/rbflow/run1/step1", SnapshotOptions{IncludeIgnored: true, Message: "before reset"})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), true, nil); d != "" {
		t.Fatalf("Snapshot changed the work tree:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Fatalf("Snapshot changed the repository state:\n got %+v\nwant %+v", got, st)
	}
	if !reflect.DeepEqual(fileBytes(t, idx), idxBytes) || !mtime(t, idx).Equal(idxTime) {
		t.Fatal("Snapshot rewrote the index")
	}
	wantSkipped := []SkippedPath{{Path: "build/", Reason: SkipReinstallable}, {Path: "node_modules/", Reason: SkipReinstallable}}
	if !reflect.DeepEqual(snap.Skipped, wantSkipped) {
		t.Errorf("Skipped = %+v, want %+v", snap.Skipped, wantSkipped)
	}
	read, err := r.ReadSnapshot(ctx, "refs/rbflow/run1/step1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, snap) {
		t.Errorf("ReadSnapshot = %+v\nwant %+v", read, snap)
	}

	testkit.Git(t, dir, "checkout", "-q", "-f", "other")
	testkit.Git(t, dir, "clean", "-q", "-fdx")
	after, err := r.Snapshot(ctx, "refs/rbflow/run1/after", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	skipped := func(p string) bool { return strings.HasPrefix(p, "node_modules/") || strings.HasPrefix(p, "build/") }
	got := manifest(t, dir)
	if d := diffManifests(before, got, false, skipped); d != "" {
		t.Errorf("Restore did not bring back the work tree:\n%s", d)
	}
	for p := range got {
		if skipped(p) {
			t.Errorf("Restore brought back skipped %q", p)
		}
	}
	if got := readState(t, dir); got != st {
		t.Errorf("Restore did not bring back the repository state:\n got %+v\nwant %+v", got, st)
	}
}

func TestSnapshotTouchesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	testkit.Git(t, dir, "stash", "push", "-q", "--", "a.txt")
	stashes := testkit.Git(t, dir, "stash", "list")
	reflog := testkit.Git(t, dir, "reflog", "-z")
	idx := filepath.Join(dir, ".git", "index")
	idxBytes, idxTime := fileBytes(t, idx), mtime(t, idx)
	head := testkit.Git(t, dir, "rev-parse", "HEAD")
	before := manifest(t, dir)
	for i, ref := range []string{"refs/rbflow/a", "refs/rbflow/b"} {
		if _, err := r.Snapshot(ctx, ref, SnapshotOptions{IncludeIgnored: i == 0}); err != nil {
			t.Fatal(err)
		}
	}
	if got := testkit.Git(t, dir, "stash", "list"); got != stashes {
		t.Errorf("stash list = %q, want %q", got, stashes)
	}
	if got := testkit.Git(t, dir, "reflog", "-z"); got != reflog {
		t.Errorf("HEAD reflog changed: %q, want %q", got, reflog)
	}
	if got := testkit.Git(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("HEAD = %s, want %s", got, head)
	}
	if !reflect.DeepEqual(fileBytes(t, idx), idxBytes) || !mtime(t, idx).Equal(idxTime) {
		t.Error("Snapshot rewrote the index")
	}
	if d := diffManifests(before, manifest(t, dir), true, nil); d != "" {
		t.Errorf("Snapshot changed the work tree:\n%s", d)
	}
	if _, err := os.Stat(idx + ".lock"); err == nil {
		t.Error("Snapshot left index.lock behind")
	}
}

func TestSnapshotRefExists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := dirtyRepo(t)
	first, err := r.Snapshot(ctx, "refs/rbflow/x", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshot(ctx, "refs/rbflow/x", SnapshotOptions{}); !errors.Is(err, ErrRefExists) {
		t.Fatalf("second Snapshot to the same ref: err = %v, want ErrRefExists", err)
	}
	if got, _ := r.ReadSnapshot(ctx, "refs/rbflow/x"); got == nil || got.Commit != first.Commit {
		t.Fatalf("the first snapshot was replaced")
	}
	for _, ref := range []string{"main", "-f", "refs/rbflow/a b", "refs/rbflow/x\nrefs/heads/main"} {
		if _, err := r.Snapshot(ctx, ref, SnapshotOptions{}); err == nil {
			t.Errorf("Snapshot(%q) = nil error, want a refusal", ref)
		}
	}
}

func TestSnapshotSkips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, ".gitignore", "*.log\nnode_modules/\ncache/\n*.bin\n/target/\n", 0o644)
	commitAll(t, dir, "init")
	writeFile(t, dir, "big.bin", strings.Repeat("x", 2000), 0o644)           // ignored, too large
	writeFile(t, dir, "small.bin", "x", 0o644)                               // ignored, saved
	writeFile(t, dir, "untracked-big.dat", strings.Repeat("y", 5000), 0o644) // untracked: no size cap
	writeFile(t, dir, "cache/node_modules/m.js", "m", 0o644)                 // reinstallable inside an ignored dir
	writeFile(t, dir, "cache/keep.txt", "k", 0o644)                          // saved
	writeFile(t, dir, "cache/scratch.tmp", "t", 0o644)                       // excluded
	writeFile(t, dir, "target/keep-me-not/x", "t", 0o644)                    // ignored reinstallable
	writeFile(t, dir, "src/target/code.rs", "fn main(){}", 0o644)            // not ignored: saved
	writeFile(t, dir, "notes.tmp", "excluded even though untracked", 0o644)  // excluded
	writeFile(t, dir, "data/huge/a.csv", "1", 0o644)                         // excluded by a pattern with '/'
	if err := syscall.Mkfifo(filepath.Join(dir, "cache", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "vendor", "lib")
	if err := os.MkdirAll(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, nested, "init", "-q")
	snap, err := r.Snapshot(ctx, "refs/rbflow/s", SnapshotOptions{
		IncludeIgnored: true, MaxFileSize: 1000, Exclude: []string{"*.tmp", "data/huge/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []SkippedPath{
		{Path: "big.bin", Reason: SkipTooLarge, Size: 2000},
		{Path: "cache/fifo", Reason: SkipSpecial},
		{Path: "cache/node_modules/", Reason: SkipReinstallable},
		{Path: "cache/scratch.tmp", Reason: SkipExcluded},
		{Path: "data/huge/", Reason: SkipExcluded},
		{Path: "notes.tmp", Reason: SkipExcluded},
		{Path: "target/", Reason: SkipReinstallable},
		{Path: "vendor/lib/", Reason: SkipNestedRepo},
	}
	if !reflect.DeepEqual(snap.Skipped, want) {
		t.Errorf("Skipped =\n%+v\nwant\n%+v", snap.Skipped, want)
	}
	files := testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "ls-tree", "-r", "--name-only", "-z", snap.Commit)
	for _, p := range []string{"small.bin", "untracked-big.dat", "cache/keep.txt", "src/target/code.rs", ".gitignore"} {
		if !strings.Contains("\x00"+files, "\x00"+p+"\x00") {
			t.Errorf("snapshot lacks %q; it has %q", p, files)
		}
	}
	read, err := r.ReadSnapshot(ctx, snap.Commit)
	if err != nil {
		t.Fatal(err)
	}
	read.Ref = snap.Ref
	if !reflect.DeepEqual(read, snap) {
		t.Errorf("ReadSnapshot = %+v\nwant %+v", read, snap)
	}
}

// TestModesRecords: the modes file of a snapshot's meta commit lists
// directories, then files, each sorted by path, as "d 0755 path\0": four
// octal digits whatever the bits (setuid, sticky, none at all), the path
// as it is (spaces, newlines).
func TestModesRecords(t *testing.T) {
	m := &meta{
		dirs:  map[string]fs.FileMode{"": 0o755, "b": 0o700 | fs.ModeSticky, "a dir": 0o775 | fs.ModeSetgid},
		files: map[string]fs.FileMode{"z": 0o644, "a\nb": 0o755 | fs.ModeSetuid, "none": 0, "x": 0o7},
	}
	want := "d 0755 \x00d 2775 a dir\x00d 1700 b\x00f 4755 a\nb\x00f 0000 none\x00f 0007 x\x00f 0644 z\x00"
	if got := string(modesRecords(m)); got != want {
		t.Errorf("modesRecords =\n%q\nwant\n%q", got, want)
	}
}
