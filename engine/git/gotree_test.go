package git

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestTreesInGoAsGitWritesThem checks that the trees and blobs a snapshot
// writes itself (indexTreeInGo, workTreeInGo, in one pack) are git's to
// the byte: the same ids as git write-tree over the same index and git
// update-index over the same paths, in index versions 2 and 4, with a
// whole, a partly invalidated and a missing cache tree, in SHA-1 (and
// SHA-256 for one kind of cache tree; all of them in make test-long); names that sort around '/' ("a-b", "a.b", "a/b", "a0"), a file
// that became a directory and back, deletions, symbolic links, executable
// bits, empty files, untracked trees, unusual names, 150 new files read
// side by side. git fsck --strict and
// git verify-pack then read the store whole.
func TestTreesInGoAsGitWritesThem(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"sha1", "sha256"} {
		// Version 3 differs from 2 only by extended flags, which send the
		// snapshot to git; 4 compresses paths.
		for _, version := range []string{"2", "4"} {
			for _, cache := range []string{"whole", "invalidated", "none"} {
				if format == "sha256" && cache != "invalidated" && !testkit.Long() {
					continue // the id length is what SHA-256 changes
				}
				t.Run(format+"/v"+version+"/"+cache, func(t *testing.T) {
					t.Parallel()
					treesInGo(t, format, version, cache)
				})
			}
		}
	}
}

func treesInGo(t *testing.T, format, version, cache string) {
	ctx := context.Background()
	dir := t.TempDir()
	testkit.Git(t, dir, "init", "-q", "-b", "main", "--object-format="+format)
	files := []string{"a", "a-b/x", "a.b", "a0", "dir/sub/deep/f.txt", "dir/sub/g", "dir/was-file",
		"dir/was-dir/inner/x", "gone/only", "sp ace/tab\tname", "ünï/ｃｏｄｅ.txt", "z/empty"}
	for i, f := range files {
		content := fmt.Sprintf("file %d %s\n", i, f)
		if strings.HasSuffix(f, "empty") {
			content = ""
		}
		writeFile(t, dir, f, content, 0o644)
	}
	writeFile(t, dir, "bin/run.sh", "#!/bin/sh\n", 0o755)
	symlink(t, dir, "link", "a.b")
	commitAll(t, dir, "one")
	testkit.Git(t, dir, "update-index", "--index-version", version)
	switch cache {
	case "invalidated":
		// Staged changes invalidate their directories' cache entries.
		writeFile(t, dir, "dir/sub/g", "staged\n", 0o644)
		writeFile(t, dir, "new/staged.txt", "staged new\n", 0o644)
		testkit.Git(t, dir, "add", "dir/sub/g", "new/staged.txt")
	case "none":
		os.Remove(filepath.Join(dir, ".git", "index"))
		testkit.Git(t, dir, "update-index", "--index-version", version, "--add", "--", "a", "a-b/x", "a.b", "a0", "dir/sub/deep/f.txt", "link")
	}

	// The work tree moves on: changes, deletions, a file where a directory
	// was and a directory where a file was, new files.
	// Big enough to be compressed in the pack; the others are stored.
	writeFile(t, dir, "a", strings.Repeat("changed a\n", 600), 0o644)
	writeFile(t, dir, "a.b", "", 0o755)
	os.Remove(filepath.Join(dir, "gone", "only"))
	os.Remove(filepath.Join(dir, "gone"))
	os.Remove(filepath.Join(dir, "dir", "was-file"))
	writeFile(t, dir, "dir/was-file/now-dir.txt", "inside\n", 0o644)
	os.RemoveAll(filepath.Join(dir, "dir", "was-dir"))
	writeFile(t, dir, "dir/was-dir", "now a file\n", 0o600)
	writeFile(t, dir, "a/../a0", "a0 changed\n", 0o644)
	writeFile(t, dir, "a-c/new.txt", "new\n", 0o644)
	writeFile(t, dir, "untracked/one/two/three.txt", "deep\n", 0o644)
	os.Remove(filepath.Join(dir, "link"))
	symlink(t, dir, "link", "dir/sub")
	update := []string{"a", "a.b", "gone/only", "dir/was-file", "dir/was-file/now-dir.txt", "dir/was-dir/inner/x",
		"dir/was-dir", "a0", "a-c/new.txt", "untracked/one/two/three.txt", "link", "a-b/x", "z/empty"}
	if cache == "none" {
		update = []string{"a", "a.b", "a0", "a-c/new.txt", "link", "a-b/x"}
	}
	// Enough new files that several readers share them (readFiles), some
	// executable, one big enough to be compressed.
	for i := range 150 {
		name, mode := fmt.Sprintf("many/%03d.txt", i), os.FileMode(0o644)
		if i%7 == 0 {
			mode = 0o755
		}
		writeFile(t, dir, name, strings.Repeat(fmt.Sprintf("line of file %d\n", i), 1+i*i%97), mode)
		update = append(update, name)
	}

	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.storing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o, err := w.objects()
	if err != nil {
		t.Fatal(err)
	}
	idx, known := w.readIndex(filepath.Join(dir, ".git", "index"))
	if !known || !idx.usable() {
		t.Fatalf("index version %s (%s) not read: known %v", version, format, known)
	}
	if _, ok := idx.trees[""]; ok != (cache == "whole") {
		t.Fatalf("cache tree whole = %v, want %v", ok, cache == "whole")
	}
	p := o.pack()
	indexTree, err := indexTreeInGo(idx, p)
	if err != nil {
		t.Fatal(err)
	}
	workTree, ok, err := w.workTreeInGo(idx, update, p)
	if err != nil || !ok {
		t.Fatalf("workTreeInGo: ok %v, %v", ok, err)
	}
	if p.len() == 0 {
		t.Fatal("nothing was written")
	}
	if err := p.write(); err != nil {
		t.Fatal(err)
	}

	// git's own, from a copy of the index, into the repository.
	tmp := filepath.Join(t.TempDir(), "index")
	if _, err := copyFile(filepath.Join(dir, ".git", "index"), tmp); err != nil {
		t.Fatal(err)
	}
	gitIndex := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_INDEX_FILE="+tmp)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if want := gitIndex("", "write-tree"); indexTree != want {
		t.Errorf("index tree %s, git write-tree %s", indexTree, want)
	}
	gitIndex(strings.Join(update, "\x00")+"\x00", "update-index", "-z", "--add", "--remove", "--replace", "--stdin")
	if want := gitIndex("", "write-tree"); workTree != want {
		t.Errorf("work tree %s, git %s\ngit's:\n%s\nours:\n%s", workTree, want,
			testkit.Git(t, dir, "ls-tree", "-r", "-t", want), testkit.Git(t, dir, "--git-dir="+w.keepDir(), "ls-tree", "-r", "-t", workTree))
	}
	store := w.keepDir()
	packs, _ := filepath.Glob(filepath.Join(store, "objects", "pack", "*.idx"))
	if len(packs) != 1 {
		t.Fatalf("packs in the store: %v, want one", packs)
	}
	if out, err := exec.Command("git", "--git-dir="+store, "verify-pack", "-v", packs[0]).CombinedOutput(); err != nil {
		t.Fatalf("git verify-pack: %v\n%s", err, out)
	}
	// What git wrote in the repository, gone, so that fsck reads ours.
	testkit.Git(t, dir, "prune", "--expire=now")
	for _, tree := range []string{indexTree, workTree} {
		testkit.Git(t, dir, "--git-dir="+store, "ls-tree", "-r", tree)
	}
	if out, err := exec.Command("git", "--git-dir="+store, "fsck", "--strict", "--no-dangling").CombinedOutput(); err != nil {
		t.Fatalf("git fsck of the store: %v\n%s", err, out)
	}
}

// TestModesReadAlongsideStatus: the modes are read while git status runs,
// before it says what is skipped (see walkFrom's early walk). A tracked
// directory named like a reinstallable tree, and an untracked one that
// git does not ignore, are deferred and then read: their modes come back
// on restore. An ignored reinstallable tree and a nested repository are
// never read: their modes are not in the snapshot.
func TestModesReadAlongsideStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, ".gitignore", "node_modules/\n", 0o644)
	writeFile(t, dir, "target/keep.txt", "tracked in a directory named target\n", 0o640)
	writeFile(t, dir, "src/a.go", "package a\n", 0o644)
	commitAll(t, dir, "one")
	writeFile(t, dir, "venv/notes.txt", "untracked, not ignored\n", 0o600)
	writeFile(t, dir, "node_modules/pkg/index.js", "ignored, reinstallable\n", 0o644)
	testkit.Git(t, dir, "init", "-q", filepath.Join(dir, "vendor", "lib"))
	writeFile(t, dir, "vendor/lib/inner.txt", "a nested repository\n", 0o604)
	for p, m := range map[string]os.FileMode{"target": 0o750, "venv": 0o700} {
		if err := os.Chmod(filepath.Join(dir, p), m); err != nil {
			t.Fatal(err)
		}
	}
	before := manifest(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/modes/one", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fetchSnapshots(ctx, snap); err != nil {
		t.Fatal(err)
	}
	m, err := r.readMeta(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"target/keep.txt", "venv/notes.txt"} {
		if _, ok := m.files[p]; !ok {
			t.Errorf("the snapshot has no mode for %s", p)
		}
	}
	for p := range m.files {
		if strings.HasPrefix(p, "node_modules/") || strings.HasPrefix(p, "vendor/lib/") {
			t.Errorf("the snapshot read %s, in a tree it skips", p)
		}
	}
	for _, p := range []string{"target/keep.txt", "venv/notes.txt", "target", "venv"} {
		if err := os.Chmod(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	after, err := r.Snapshot(ctx, "refs/rbflow/modes/_after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after, Force: true}); err != nil {
		t.Fatal(err)
	}
	skip := func(p string) bool { return strings.HasPrefix(p, "vendor/lib/.git") }
	if d := diffManifests(before, manifest(t, dir), false, skip); d != "" {
		t.Errorf("restore differs:\n%s", d)
	}
}

// TestSnapshotKeepsStagedObjects: a snapshot written in Go packs into the
// store exactly the objects of the repository it holds that no ref
// reaches: a staged blob, and the trees git wrote for the staged index
// (git write-tree leaves them in the cache tree, where the snapshot takes
// them). After git gc --prune=now has removed them from the repository,
// the snapshot still restores the staged index and the file.
func TestSnapshotKeepsStagedObjects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRepo(t)
	writeFile(t, dir, "keep/a.txt", "committed\n", 0o644)
	writeFile(t, dir, "other/b.txt", "committed\n", 0o644)
	commitAll(t, dir, "one")
	staged := "staged only, in no commit\n"
	writeFile(t, dir, "keep/deep/new.txt", staged, 0o644)
	testkit.Git(t, dir, "add", "keep/deep/new.txt")
	stagedTree := strings.TrimSpace(testkit.Git(t, dir, "write-tree")) // primes the cache tree
	writeFile(t, dir, "keep/deep/new.txt", "then changed on disk\n", 0o644)
	before := manifest(t, dir)
	st := readState(t, dir)

	snap, err := r.Snapshot(ctx, "refs/rbflow/staged/one", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	if snap.IndexTree != stagedTree {
		t.Fatalf("index tree %s, git write-tree %s", snap.IndexTree, stagedTree)
	}
	dropAndRestore(t, r, snap, before, st, func() {
		if _, err := exec.Command("git", "-C", dir, "cat-file", "-e", stagedTree).CombinedOutput(); err == nil {
			t.Fatal("git gc kept the staged tree in the repository: the test proves nothing")
		}
	})
	if got := testkit.Git(t, dir, "show", ":keep/deep/new.txt"); got != staged {
		t.Errorf("staged content %q, want %q", got, staged)
	}
	testkit.Git(t, dir, "fsck", "--no-dangling", "--no-progress")
}
