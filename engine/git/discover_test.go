package git

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// gitRevParse is what Open finds, as git rev-parse tells it in dir.
func gitRevParse(t *testing.T, dir string) (Repo, bool) {
	t.Helper()
	cmd := exec.Command("git", "rev-parse", "--path-format=absolute",
		"--show-toplevel", "--absolute-git-dir", "--git-common-dir", "--git-path", "index", "--show-object-format")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return Repo{}, false
	}
	l := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(l) != 5 {
		return Repo{}, false
	}
	return Repo{Dir: l[0], gitDir: l[1], commonDir: l[2], indexFile: l[3], format: l[4]}, true
}

func sameRepo(a, b Repo) bool {
	return a.Dir == b.Dir && a.gitDir == b.gitDir && a.commonDir == b.commonDir && a.indexFile == b.indexFile && a.format == b.format
}

// TestDiscoverAsGit: Open finds a plain repository from its files, without
// git, and finds what git rev-parse finds, from the top, from deep below
// it, through a symbolic link and inside a nested repository. Every
// other layout is left to git, whose answer or error stands: a linked
// worktree, a .git file, a bare repository, the inside of .git,
// core.worktree, an include, SHA-256 objects, another user's repository
// (git may refuse it), a ceiling directory, no repository at all.
func TestDiscoverAsGit(t *testing.T) {
	base := t.TempDir()
	plain := filepath.Join(base, "plain")
	testkit.Git(t, base, "init", "-q", "-b", "main", plain)
	writeFile(t, plain, "a/b/c/f.txt", "f\n", 0o644)
	commitAll(t, plain, "one")
	nested := filepath.Join(plain, "a", "inner")
	testkit.Git(t, base, "init", "-q", nested)
	if err := os.MkdirAll(filepath.Join(nested, "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(filepath.Join(plain, "a", "b"), link); err != nil {
		t.Fatal(err)
	}
	fast := map[string]string{
		"top": plain, "deep below the top": filepath.Join(plain, "a", "b", "c"),
		"through a symbolic link": link, "in a nested repository": filepath.Join(nested, "deep"),
	}

	wt := filepath.Join(base, "wt")
	testkit.Git(t, plain, "worktree", "add", "-q", "--detach", wt)
	bare := filepath.Join(base, "bare.git")
	testkit.Git(t, base, "init", "-q", "--bare", bare)
	gitfile := filepath.Join(base, "gitfile")
	writeFile(t, gitfile, ".git", "gitdir: "+filepath.Join(plain, ".git")+"\n", 0o644)
	moved := filepath.Join(base, "moved")
	testkit.Git(t, base, "init", "-q", moved)
	worktree := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(worktree, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, moved, "config", "core.worktree", worktree)
	included := filepath.Join(base, "included")
	testkit.Git(t, base, "init", "-q", included)
	testkit.Git(t, included, "config", "include.path", filepath.Join(base, "extra.cfg"))
	sha256 := filepath.Join(base, "sha256")
	testkit.Git(t, base, "init", "-q", "--object-format=sha256", sha256)
	none := filepath.Join(base, "none")
	if err := os.Mkdir(none, 0o755); err != nil {
		t.Fatal(err)
	}
	slow := map[string]string{
		"linked worktree": wt, "a .git file": gitfile, "bare repository": bare,
		"inside .git": filepath.Join(plain, ".git", "refs"), "core.worktree": moved,
		"an include": included, "SHA-256 objects": sha256, "no repository": none,
	}

	if os.Geteuid() == 0 { // only root can give a repository away
		theirs := filepath.Join(base, "theirs")
		testkit.Git(t, base, "init", "-q", theirs)
		if err := os.Lchown(theirs, 4321, 4321); err != nil {
			t.Fatal(err)
		}
		slow["another user's repository"] = theirs
	}
	for name, dir := range fast {
		want, ok := gitRevParse(t, dir)
		if !ok {
			t.Fatalf("%s: git finds no repository in %s", name, dir)
		}
		got, found := discover(dir)
		if !found || !sameRepo(*got, want) {
			t.Errorf("%s: discover(%s) = %+v, %v; git finds %+v", name, dir, got, found, want)
		}
	}
	for name, dir := range slow {
		if got, found := discover(dir); found {
			t.Errorf("%s: discover(%s) = %+v; want it left to git", name, dir, got)
		}
		want, ok := gitRevParse(t, dir)
		got, err := Open(context.Background(), dir)
		if ok != (err == nil) || ok && !sameRepo(*got, want) {
			t.Errorf("%s: Open(%s) = %+v, %v; git finds %+v (%v)", name, dir, got, err, want, ok)
		}
	}
	t.Setenv("GIT_CEILING_DIRECTORIES", base)
	if got, found := discover(plain); found {
		t.Errorf("with GIT_CEILING_DIRECTORIES: discover = %+v; want it left to git", got)
	}
	os.Unsetenv("GIT_CEILING_DIRECTORIES")

	t.Setenv("PATH", t.TempDir()) // no git from here on
	for name, dir := range fast {
		if r, err := Open(context.Background(), dir); err != nil || r.Dir == "" {
			t.Errorf("%s: Open without git = %+v, %v", name, r, err)
		}
	}
}
