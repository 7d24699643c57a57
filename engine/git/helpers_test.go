package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestMain makes git independent of the machine's configuration.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "rbflow-git-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": home, "GIT_CONFIG_NOSYSTEM": "1",
		"GIT_CONFIG_GLOBAL": filepath.Join(home, "gitconfig"),
		"GIT_AUTHOR_NAME":   "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
		"GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
		"LC_ALL": "C",
	} {
		os.Setenv(k, v)
	}
	// No background maintenance after each of the tests' thousands of commits.
	if err := os.WriteFile(filepath.Join(home, "gitconfig"), []byte("[maintenance]\n\tauto = false\n[gc]\n\tauto = 0\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	removeBenchDirs()
	os.RemoveAll(home)
	os.Exit(code)
}

// newRepo makes an empty repository on branch main and opens it.
func newRepo(t testing.TB) (*Repo, string) {
	t.Helper()
	dir := t.TempDir()
	testkit.Git(t, dir, "init", "-q", "-b", "main")
	r, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func writeFile(t testing.TB, dir, rel, content string, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, dir, rel, target string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func commitAll(t testing.TB, dir, msg string) {
	t.Helper()
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
}

// fileState is what a manifest records for one file or symlink.
type fileState struct {
	Kind  string // "file" or "symlink"
	Exec  bool
	Hash  string // of the content or the link target
	MTime time.Time
}

// manifest lists every file and symlink under dir, except .git at the top.
// Directories are not listed: git does not track them.
func manifest(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var st fileState
		st.MTime = fi.ModTime()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			st.Kind, st.Hash = "symlink", target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			st.Kind, st.Hash, st.Exec = "file", hex.EncodeToString(sum[:8]), fi.Mode()&0o100 != 0
		default:
			st.Kind = "special"
		}
		m[rel] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// diffManifests describes the differences between want and got, ignoring
// mtimes unless withTimes, and paths for which skip returns true.
func diffManifests(want, got map[string]fileState, withTimes bool, skip func(string) bool) string {
	var out []string
	for p, w := range want {
		if skip != nil && skip(p) {
			continue
		}
		g, ok := got[p]
		if !withTimes {
			w.MTime, g.MTime = time.Time{}, time.Time{}
		}
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("missing %q (%+v)", p, w))
		case g != w:
			out = append(out, fmt.Sprintf("changed %q: want %+v, got %+v", p, w, g))
		}
	}
	for p, g := range got {
		if skip != nil && skip(p) {
			continue
		}
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("extra %q (%+v)", p, g))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// repoState is what must survive a snapshot and a restore besides files:
// the index exactly, and git status with HEAD and the branch.
type repoState struct {
	Index, Status string
}

func readState(t testing.TB, dir string) repoState {
	t.Helper()
	return repoState{Index: testkit.Git(t, dir, "ls-files", "-s", "-z"), Status: readStatus(t, dir)}
}

func readStatus(t testing.TB, dir string) string {
	t.Helper()
	return testkit.Git(t, dir, "--no-optional-locks", "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--no-renames")
}

func fileBytes(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mtime(t testing.TB, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}
