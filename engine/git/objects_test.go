package git

import (
	"bytes"
	"compress/zlib"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestObjectsAsGitWritesThem writes blobs, nested trees and a commit with
// objects and checks that git makes the same ids of the same content
// (hash-object, mktree, commit-tree with the same date), that git reads
// them back, and that git fsck finds the store whole, in both object
// formats. A snapshot of a SHA-256 repository failed before ("not a valid
// SHA1"): the store was made in SHA-1.
func TestObjectsAsGitWritesThem(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			testkit.Git(t, dir, "init", "-q", "-b", "main", "--object-format="+format)
			writeFile(t, dir, "a.txt", "a\n", 0o644)
			commitAll(t, dir, "one")
			r, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if format == "sha256" {
				// The store an older rbflow made: SHA-1 whatever the
				// repository's format, and so never able to hold a ref.
				old := r.keepDir()
				testkit.Git(t, dir, "init", "-q", "--bare", "--object-format=sha1", old)
				testkit.WriteFile(t, filepath.Join(old, "objects", "info", "alternates"), filepath.Join(dir, ".git", "objects")+"\n")
			}
			w, err := r.storing(ctx)
			if err != nil {
				t.Fatal(err)
			}
			head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
			o, err := w.objects()
			if err != nil {
				t.Fatal(err)
			}
			store := w.keepDir()
			gitStore := func(stdin string, args ...string) string {
				t.Helper()
				return strings.TrimSpace(testkit.GitInput(t, dir, []byte(stdin), append([]string{"--git-dir=" + store}, args...)...))
			}
			fsck := func(when string) {
				t.Helper()
				if out, err := exec.Command("git", "--git-dir="+store, "fsck", "--strict", "--no-dangling").CombinedOutput(); err != nil {
					t.Fatalf("git fsck of the store %s: %v\n%s", when, err, out)
				}
			}

			contents := map[string][]byte{
				"index":                   []byte("DIRC\x00\x00\x00\x02 binary \x00\xff"),
				"state/MERGE_MSG":         []byte("Merge branch 'x'\n"),
				"state/rebase-merge/done": []byte("pick 1\n"),
				"state/rebase-merge-x":    []byte("a file named like the directory, plus a suffix\n"),
				"refs":                    nil,
			}
			files := map[string]entry{}
			for name, b := range contents {
				id, err := o.write("blob", b)
				if err != nil {
					t.Fatal(err)
				}
				tmp := filepath.Join(t.TempDir(), "blob")
				if err := os.WriteFile(tmp, b, 0o600); err != nil {
					t.Fatal(err)
				}
				if want := gitStore("", "hash-object", "--no-filters", tmp); id != want {
					t.Errorf("blob %s: id %s, git makes %s", name, id, want)
				}
				if got := gitStore("", "cat-file", "blob", id); got != strings.TrimSpace(string(b)) {
					t.Errorf("blob %s reads back as %q", name, got)
				}
				files[name] = entry{id: id}
			}
			files["exec.sh"] = entry{mode: "100755", id: files["refs"].id}
			tree, err := o.tree(files)
			if err != nil {
				t.Fatal(err)
			}
			// git builds the same tree from the same entries, level by level.
			mk := func(lines ...string) string { return gitStore(strings.Join(lines, "\n")+"\n", "mktree") }
			rebase := mk("100644 blob " + files["state/rebase-merge/done"].id + "\tdone")
			state := mk("100644 blob "+files["state/MERGE_MSG"].id+"\tMERGE_MSG",
				"040000 tree "+rebase+"\trebase-merge",
				"100644 blob "+files["state/rebase-merge-x"].id+"\trebase-merge-x")
			top := mk("100755 blob "+files["exec.sh"].id+"\texec.sh",
				"100644 blob "+files["index"].id+"\tindex",
				"100644 blob "+files["refs"].id+"\trefs",
				"040000 tree "+state+"\tstate")
			if tree != top {
				t.Fatalf("tree %s, git makes %s:\n%s", tree, top, gitStore("", "ls-tree", "-r", tree))
			}

			commit, err := o.commit(tree, []string{head}, "rbflow snapshot: a message\n")
			if err != nil {
				t.Fatal(err)
			}
			raw := gitStore("", "cat-file", "commit", commit)
			var when string
			for _, line := range strings.Split(raw, "\n") {
				if strings.HasPrefix(line, "committer ") {
					f := strings.Fields(line)
					when = f[len(f)-2] + " " + f[len(f)-1]
				}
			}
			ct := exec.Command("git", "--git-dir="+store, "commit-tree", "--no-gpg-sign", "-p", head, tree)
			ct.Env = append(os.Environ(), "GIT_AUTHOR_NAME=rbflow", "GIT_AUTHOR_EMAIL=rbflow@localhost", "GIT_AUTHOR_DATE="+when,
				"GIT_COMMITTER_NAME=rbflow", "GIT_COMMITTER_EMAIL=rbflow@localhost", "GIT_COMMITTER_DATE="+when)
			ct.Stdin = strings.NewReader("rbflow snapshot: a message\n")
			out, err := ct.Output()
			if err != nil {
				t.Fatalf("git commit-tree: %v", err)
			}
			want := strings.TrimSpace(string(out))
			if commit != want {
				t.Fatalf("commit %s, git's commit-tree makes %s:\n%s", commit, want, raw)
			}
			if err := w.Keep(ctx, "refs/rbflow/objects/test", commit); err != nil {
				t.Fatal(err)
			}
			fsck("after Keep")

			// A snapshot of this format reads back and restores.
			writeFile(t, dir, "a.txt", "changed\n", 0o600)
			writeFile(t, dir, "new.txt", "new\n", 0o755)
			before := manifest(t, dir)
			snap, err := r.Snapshot(ctx, "refs/rbflow/run/"+format, SnapshotOptions{IncludeIgnored: true})
			if err != nil {
				t.Fatal(err)
			}
			testkit.Git(t, dir, "reset", "-q", "--hard")
			testkit.Git(t, dir, "clean", "-q", "-fdx")
			if err := r.Restore(ctx, snap, RestoreOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			if d := diffManifests(before, manifest(t, dir), false, nil); d != "" {
				t.Errorf("restore of a %s snapshot:\n%s", format, d)
			}
			fsck("after a snapshot")
		})
	}
}

// TestStoredBlocks: what a pack stores uncompressed (small objects and
// every tree) is a zlib stream that inflates to the bytes, whatever their
// length: none, one, and around and past a stored deflate block's 65,535.
func TestStoredBlocks(t *testing.T) {
	for _, n := range []int{0, 1, 1023, 65534, 65535, 65536, 65535*3 + 7} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i*7 + i/251)
		}
		var b bytes.Buffer
		stored(&b, body)
		zr, err := zlib.NewReader(&b)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, body) {
			t.Errorf("%d bytes: inflated %d bytes, %v", n, len(got), err)
		}
	}
}
