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

// TestSnapshotManyFiles: with packedBlobsMin changed files or more, a
// snapshot writes the blobs itself, in one pack in rbflow's store. Its work
// tree must be the very tree `git add -A` makes of the same files (modes,
// symbolic links, deletions, a file replaced by a directory and back, odd
// names), the store must hold a pack rather than one loose object per
// file, a blob only the index holds must survive git gc --prune=now of the
// repository, and the restore must be exact. Two ways: an index the
// snapshot reads itself (workTreeInGo), and one with an assume-unchanged
// entry, which sends it to git (writeBlobs, git fast-import).
func TestSnapshotManyFiles(t *testing.T) {
	t.Parallel()
	for _, flagged := range []bool{false, true} {
		t.Run(map[bool]string{false: "in-go", true: "flagged-index"}[flagged], func(t *testing.T) {
			t.Parallel()
			snapshotManyFiles(t, flagged)
		})
	}
}

func snapshotManyFiles(t *testing.T, flagged bool) {
	ctx := context.Background()
	dir := testkit.GitRepo(t, nil)
	files := 600
	if flagged {
		files = 400 // over 100 blobs: fast-import unpacks fewer into loose objects
	}
	for i := 0; i < files; i++ {
		writeFile(t, dir, fmt.Sprintf("d%d/f%03d.txt", i%7, i), fmt.Sprintf("file %d\n", i), 0o644)
	}
	writeFile(t, dir, "becomes-dir", "a file\n", 0o644)
	writeFile(t, dir, "was-dir/inner.txt", "inside\n", 0o644)
	commitAll(t, dir, "base")
	for i := 0; i < files; i += 2 {
		p := fmt.Sprintf("d%d/f%03d.txt", i%7, i)
		switch i % 10 {
		case 0:
			writeFile(t, dir, p, fmt.Sprintf("changed %d\n", i), 0o755)
		case 2:
			if err := os.Remove(filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		case 4:
			os.Remove(filepath.Join(dir, p))
			symlink(t, dir, p, "../elsewhere")
		case 6:
			if err := os.Chmod(filepath.Join(dir, p), 0o700); err != nil {
				t.Fatal(err)
			}
		default:
			writeFile(t, dir, p, fmt.Sprint("no newline ", i), 0o644)
		}
	}
	for i, name := range []string{"new/plain.txt", "new/exec.sh", "new/with space.txt", "new/üñí.txt", "new/line\nbreak.txt", "new/\"quoted\".txt"} {
		writeFile(t, dir, name, fmt.Sprintf("new %d\n", i), 0o640|os.FileMode(i%2)*0o111)
	}
	symlink(t, dir, "new/link", "plain.txt")
	os.Remove(filepath.Join(dir, "becomes-dir"))
	writeFile(t, dir, "becomes-dir/now.txt", "a directory now\n", 0o644)
	os.RemoveAll(filepath.Join(dir, "was-dir"))
	writeFile(t, dir, "was-dir", "a file now\n", 0o644)
	const stagedOnly = "STAGED-ONLY-4e1c"
	writeFile(t, dir, "staged.txt", stagedOnly+"\n", 0o644)
	testkit.Git(t, dir, "add", "staged.txt")
	writeFile(t, dir, "staged.txt", "changed again after git add\n", 0o644)
	if flagged {
		testkit.Git(t, dir, "update-index", "--assume-unchanged", "d1/f001.txt")
	}

	// The tree git add -A makes of the same files, in a copy.
	ref := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", dir, ref).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	testkit.Git(t, ref, "add", "-A")
	want := strings.TrimSpace(testkit.Git(t, ref, "write-tree"))

	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	before, st := manifest(t, dir), readState(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/many/s", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.WorkTree != want {
		t.Errorf("snapshot work tree %s, git add -A makes %s:\n%s", snap.WorkTree, want,
			testkit.Git(t, dir, "--git-dir="+r.KeepDir(), "diff-tree", "-r", snap.WorkTree, want))
	}
	loose, _ := filepath.Glob(filepath.Join(r.KeepDir(), "objects", "??", "*"))
	var ids strings.Builder
	for _, p := range loose {
		ids.WriteString(filepath.Base(filepath.Dir(p)) + filepath.Base(p) + "\n")
	}
	types := testkit.GitInput(t, dir, []byte(ids.String()), "--git-dir="+r.KeepDir(), "cat-file", "--batch-check=%(objecttype)")
	// The meta commit's few blobs (index, modes, refs, the empty blob) are
	// loose; the changed files' are not (in a pack of rbflow's, or of
	// fast-import, which unpacks fewer than 100).
	if n := strings.Count(types, "blob"); n > 8 {
		t.Errorf("the store has %d loose blobs: the files were not written as a pack", n)
	}

	dropAndRestore(t, r, snap, before, st, func() {
		if out := testkit.GitInput(t, dir, nil, "cat-file", "--batch-all-objects", "--batch"); strings.Contains(out, stagedOnly) {
			t.Fatal("git gc kept the staged blob in the repository: the test proves nothing")
		}
	})
	testkit.Git(t, dir, "fsck", "--no-dangling", "--no-progress")
}

// dropAndRestore empties the repository of r, as far as its refs allow:
// the work tree cleaned, the index reset, every object no ref reaches
// pruned; check then makes sure what the test needs gone is gone. It then
// restores snap and wants the tree (manifest) and the repository state as
// they were before.
func dropAndRestore(t *testing.T, r *Repo, snap *Snapshot, before map[string]fileState, st repoState, check func()) {
	t.Helper()
	ctx := context.Background()
	dir := r.Dir
	testkit.Git(t, dir, "reset", "-q", "--hard")
	testkit.Git(t, dir, "clean", "-q", "-fdx")
	testkit.Git(t, dir, "reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all")
	testkit.Git(t, dir, "gc", "-q", "--prune=now")
	check()
	after, err := r.Snapshot(ctx, snap.Ref+"-after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), false, nil); d != "" {
		t.Errorf("restore differs:\n%s", d)
	}
	if got := readState(t, dir); got != st {
		t.Errorf("restore: repository\n got %q\nwant %q", got, st)
	}
}
