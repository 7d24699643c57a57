package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TreeKinds are the kinds of state DirtyTree makes; a tree has a few of
// them, and tree number i always has TreeKinds[i%len(TreeKinds)], so any
// len(TreeKinds) consecutive trees cover all.
var TreeKinds = []string{
	"eol-attributes", "autocrlf", "modes", "empty-dirs", "intent-to-add", "skip-worktree",
	"assume-unchanged", "merge-conflict", "cherry-pick-conflict", "rebase-conflict",
	"dirty-submodule", "symlinks", "odd-names", "staged-and-untracked", "ignored",
}

// reinstallable are the directory names that snapshots leave out when git
// ignores them (git.DefaultReinstallable, repeated here to keep testkit
// free of engine imports); TreeManifest leaves them out too.
var reinstallable = map[string]bool{"node_modules": true, ".venv": true, "venv": true, "__pycache__": true,
	".pytest_cache": true, ".tox": true, "dist": true, "build": true, "target": true}

// DirtyTree makes a repository with a "baseline" branch and a "main" branch
// two commits ahead, checked out, and leaves it in a random dirty state
// made of kind TreeKinds[i%len] and a few random others. It returns the
// folder and the kinds it holds.
func DirtyTree(t testing.TB, rnd *rand.Rand, i int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	g := &treeGen{t: t, rnd: rnd, dir: dir}
	want := map[string]bool{TreeKinds[i%len(TreeKinds)]: true}
	for _, k := range TreeKinds {
		if rnd.Intn(5) == 0 {
			want[k] = true
		}
	}
	// Only one operation can be in progress at a time.
	ops := []string{"merge-conflict", "cherry-pick-conflict", "rebase-conflict"}
	var op string
	for _, k := range ops {
		if want[k] && op == "" {
			op = k
		} else {
			delete(want, k)
		}
	}
	Git(t, dir, "init", "-q", "-b", "main")
	if want["autocrlf"] {
		Git(t, dir, "config", "core.autocrlf", "true")
	}
	g.write(".gitignore", ".env\n*.log\nlogs/\nnode_modules/\nbuild/\n", 0o644)
	if want["eol-attributes"] {
		g.write(".gitattributes", "*.txt text eol=crlf\n*.dat text\n*.sh text eol=lf\n*.md ident\n", 0o644)
	}
	names := []string{"a.txt", "b.md", "dir/c.txt", "dir/sub/d.dat", "run.sh", "conf.ini"}
	if want["odd-names"] {
		names = append(names, "with space.txt", "ünïcödé/ファイル.txt", "-dash.txt", "new\nline.txt", "star*.txt", "tab\there.md")
	}
	for _, n := range names {
		g.write(n, g.content(), g.mode(n))
	}
	if want["symlinks"] {
		g.symlink("link-a", "a.txt")
		g.symlink("dir/up", "../b.md")
	}
	g.commit("base")
	Git(t, dir, "branch", "baseline")
	for _, n := range g.pick(names, 3) {
		g.write(n, g.content(), g.mode(n))
	}
	g.write("feature.txt", "feature\r\nwork\n", 0o644)
	g.commit("feature one")
	Git(t, dir, "branch", "side", "baseline")
	g.write("conf.ini", "main's conf\n", 0o644)
	g.commit("feature two")
	Git(t, dir, "tag", "-a", "-m", "release", "v1")
	Git(t, dir, "tag", "light")

	if want["dirty-submodule"] {
		sub := t.TempDir()
		Git(t, sub, "init", "-q", "-b", "main")
		g2 := &treeGen{t: t, rnd: rnd, dir: sub}
		g2.write("s.txt", "sub\n", 0o644)
		g2.commit("sub one")
		g2.write("s.txt", "sub two\n", 0o644)
		g2.commit("sub two")
		Git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "mod")
		g.commit("with submodule")
		g.write("mod/s.txt", "changed inside the submodule\n", 0o644)
		g.write("mod/new.txt", "new inside the submodule\n", 0o600)
	}

	switch op {
	case "merge-conflict":
		g.sideChange()
		g.tryGit("merge", "-q", "side")
	case "cherry-pick-conflict":
		g.sideChange()
		g.tryGit("cherry-pick", "side")
	case "rebase-conflict":
		g.sideChange()
		g.tryGit("rebase", "side")
	}

	// The dirty part.
	for _, n := range g.pick(names, 1+rnd.Intn(3)) {
		if op != "" && n == "conf.ini" {
			continue
		}
		g.write(n, g.content(), g.mode(n))
	}
	if want["staged-and-untracked"] || op == "" && rnd.Intn(2) == 0 {
		g.write("staged.txt", "staged\r\n", 0o644)
		Git(t, dir, "add", "--", "staged.txt")
		g.write("staged.txt", "staged then changed\n", 0o644)
		g.write("untracked dir/u.txt", g.content(), 0o644)
		g.write("untracked.dat", g.content(), 0o755)
	}
	if want["modes"] {
		g.write("secret/id_rsa", "-----BEGIN KEY-----\nxyz\n", 0o600)
		os.Chmod(filepath.Join(dir, "secret"), 0o700)
		g.write("readonly.txt", "read only\n", 0o444)
		g.write("group/rw.txt", "group\n", 0o664)
		os.Chmod(filepath.Join(dir, "group"), 0o2775)
		if fi, err := os.Lstat(filepath.Join(dir, "a.txt")); err == nil && fi.Mode().IsRegular() {
			os.Chmod(filepath.Join(dir, "a.txt"), 0o640)
		}
	}
	if want["empty-dirs"] {
		for _, d := range []string{"empty", "nested/empty/deeper", "dir/empty-in-tracked"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.Chmod(filepath.Join(dir, "nested/empty"), 0o711)
	}
	if want["intent-to-add"] {
		g.write("planned.txt", "planned\n", 0o644)
		Git(t, dir, "add", "-N", "--", "planned.txt")
	}
	if want["skip-worktree"] {
		Git(t, dir, "update-index", "--skip-worktree", "--", "b.md")
		g.write("b.md", "local edit hidden by skip-worktree\n", 0o644)
	}
	if want["assume-unchanged"] {
		Git(t, dir, "update-index", "--assume-unchanged", "--", "run.sh")
		g.write("run.sh", "#!/bin/sh\necho local edit\n", 0o755)
	}
	if want["ignored"] {
		g.write(".env", "TOKEN=local\n", 0o600)
		g.write("logs/today.log", g.content(), 0o644)
		g.write("node_modules/pkg/index.js", "reinstallable\n", 0o644)
	}
	if want["symlinks"] {
		g.symlink("dangling", "does/not/exist")
		g.symlink("link-dir", "dir")
	}
	if want["dirty-submodule"] {
		// With this set, a plain git reset --hard or switch would reset
		// the submodule's files too.
		Git(t, dir, "config", "submodule.recurse", "true")
	}
	var kinds []string
	for k := range want {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return dir, kinds
}

type treeGen struct {
	t   testing.TB
	rnd *rand.Rand
	dir string
}

func (g *treeGen) write(rel, content string, mode fs.FileMode) {
	g.t.Helper()
	p := filepath.Join(g.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		g.t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	os.Remove(p)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		g.t.Fatal(err)
	}
}

func (g *treeGen) symlink(rel, target string) {
	g.t.Helper()
	p := filepath.Join(g.dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.RemoveAll(p)
	if err := os.Symlink(target, p); err != nil {
		g.t.Fatal(err)
	}
}

func (g *treeGen) commit(msg string) {
	g.t.Helper()
	Git(g.t, g.dir, "add", "-A")
	Git(g.t, g.dir, "commit", "-q", "--no-verify", "-m", msg)
}

// sideChange commits on branch side a change of conf.ini that conflicts
// with main's.
func (g *treeGen) sideChange() {
	g.t.Helper()
	Git(g.t, g.dir, "switch", "-q", "side")
	g.write("conf.ini", "side's conf\n", 0o644)
	g.write("side-only.txt", "from side\n", 0o644)
	g.commit("side")
	Git(g.t, g.dir, "switch", "-q", "main")
}

// tryGit runs a git command that is expected to stop on a conflict.
func (g *treeGen) tryGit(args ...string) {
	cmd := gitCommand(g.dir, args...)
	if err := cmd.Run(); err == nil {
		g.t.Fatalf("git %q did not stop on a conflict", args)
	}
}

func (g *treeGen) content() string {
	switch g.rnd.Intn(5) {
	case 0: // binary, with NUL, CR and invalid UTF-8
		b := make([]byte, 1+g.rnd.Intn(200))
		g.rnd.Read(b)
		return string(b) + "\r\n"
	case 1:
		return ""
	case 2:
		return fmt.Sprintf("crlf %d\r\nline\r\n", g.rnd.Int())
	case 3:
		return fmt.Sprintf("mixed %d\r\nlf\nno newline at end", g.rnd.Int())
	}
	return fmt.Sprintf("lf %d\n$Id$\n", g.rnd.Int())
}

func (g *treeGen) mode(name string) fs.FileMode {
	if strings.HasSuffix(name, ".sh") {
		return 0o755
	}
	return 0o644
}

func (g *treeGen) pick(names []string, k int) []string {
	perm := g.rnd.Perm(len(names))
	if k > len(names) {
		k = len(names)
	}
	out := make([]string, k)
	for i := range out {
		out[i] = names[perm[i]]
	}
	return out
}

// TreeManifest describes a work tree and its repository exactly: every
// directory, file and symlink (path, type, permission bits, bytes), except
// .git and ignored reinstallable trees; the index with its flags (git
// ls-files -s -v) and what status says of it (intent-to-add); HEAD and the
// branch; the files of an operation in progress; branches and tags; and
// each submodule's HEAD and status.
func TreeManifest(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	var subs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == ".git" || d.IsDir() && reinstallable[d.Name()] {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			lines = append(lines, fmt.Sprintf("L %q -> %q", rel, target))
		case fi.IsDir():
			lines = append(lines, fmt.Sprintf("D %q %v", rel, fi.Mode()))
		default:
			if d.Name() == ".git" {
				subs = append(subs, filepath.Dir(p))
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			lines = append(lines, fmt.Sprintf("F %q %v %s", rel, fi.Mode(), hex.EncodeToString(sum[:8])))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	gitDir := filepath.Join(dir, ".git")
	for _, name := range []string{"MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply", "sequencer"} {
		filepath.WalkDir(filepath.Join(gitDir, name), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(gitDir, p)
				lines = append(lines, fmt.Sprintf("STATE %s %q", rel, b))
			}
			return nil
		})
	}
	head := strings.TrimSpace(gitOut(dir, "rev-parse", "--verify", "-q", "HEAD"))
	lines = append(lines,
		"INDEX "+Git(t, dir, "ls-files", "-s", "-v"),
		"STATUS "+Git(t, dir, "--no-optional-locks", "status", "--porcelain=v2", "--branch", "--untracked-files=all", "--ignore-submodules=none"),
		"HEAD "+head,
		"BRANCH "+Git(t, dir, "branch", "--show-current"),
		"REFS "+Git(t, dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"))
	for _, s := range subs {
		rel, _ := filepath.Rel(dir, s)
		lines = append(lines, "SUBMODULE "+rel+" "+gitOut(s, "rev-parse", "HEAD")+gitOut(s, "status", "--porcelain"))
	}
	return strings.Join(lines, "\n")
}

// gitOut runs git and returns its output, "" when it fails.
func gitOut(dir string, args ...string) string {
	out, _ := gitCommand(dir, args...).Output()
	return string(out)
}

// LineDiff shows the lines only in a (-) and only in b (+), for comparing
// manifests.
func LineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
