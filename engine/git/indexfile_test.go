package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestIndexFlags reads the flags of real index files, versions 2, 3 and
// 4, SHA-1 and SHA-256, long and odd names, and agrees with git ls-files -v
// every time: no flag, assume-unchanged, skip-worktree, intent-to-add.
func TestIndexFlags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, format := range []string{"sha1", "sha256"} {
		for _, version := range []string{"2", "3", "4"} {
			for _, flag := range []string{"", "--assume-unchanged", "--skip-worktree", "intent-to-add"} {
				name := fmt.Sprintf("%s/v%s/%s", format, version, strings.TrimPrefix(flag, "--"))
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					dir := t.TempDir()
					testkit.Git(t, dir, "init", "-q", "-b", "main", "--object-format="+format)
					names := []string{"a.txt", "dir/b c.txt", "ünï\tcode.txt", "z"}
					for i, n := range names {
						writeFile(t, dir, n, fmt.Sprintf("file %d\n", i), 0o644)
					}
					commitAll(t, dir, "one")
					// A name longer than the 12 bits of an entry's length
					// (in the index only: no file system takes it).
					blob := strings.TrimSpace(testkit.Git(t, dir, "hash-object", "-w", "a.txt"))
					long := strings.Repeat("directory/", 420) + "f.txt"
					testkit.Git(t, dir, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+long)
					testkit.Git(t, dir, "update-index", "--index-version", version)
					switch flag {
					case "":
					case "intent-to-add":
						writeFile(t, dir, "new.txt", "new\n", 0o644)
						testkit.Git(t, dir, "add", "-N", "new.txt")
					default:
						testkit.Git(t, dir, "update-index", flag, "--", "dir/b c.txt")
					}
					r, err := Open(ctx, dir)
					if err != nil {
						t.Fatal(err)
					}
					flagged, known := r.indexHasFlags(filepath.Join(dir, ".git", "index"))
					if !known {
						t.Fatalf("index version %s (%s) not understood", version, format)
					}
					if want := flag != ""; flagged != want {
						t.Errorf("flagged = %v, want %v; git ls-files -v:\n%s", flagged, want, testkit.Git(t, dir, "ls-files", "-v"))
					}
				})
			}
		}
	}
}

// TestIndexFlagsDamaged: a cut, changed or foreign file is not
// understood, so the caller asks git; a missing index has no entries.
func TestIndexFlagsDamaged(t *testing.T) {
	t.Parallel()
	r, dir := newRepo(t)
	writeFile(t, dir, "a.txt", "a\n", 0o644)
	commitAll(t, dir, "one")
	b, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 11, 12, 40, 70, len(b) - 21} {
		if _, known := indexFlags(b[:n], 20); known {
			t.Errorf("an index cut at %d of %d bytes reads as known", n, len(b))
		}
	}
	changed := append([]byte{}, b...)
	changed[30]++
	if _, known := indexFlags(changed, 20); known {
		t.Error("an index whose checksum does not match reads as known")
	}
	if _, known := indexFlags([]byte("not an index at all, no"), 20); known {
		t.Error("a foreign file reads as an index")
	}
	if flagged, known := r.indexHasFlags(filepath.Join(dir, "no-such-index")); flagged || !known {
		t.Errorf("a missing index: flagged %v known %v, want no flags, known", flagged, known)
	}
}
