package testkit

import (
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/rbflow/rbflow/"

// imports returns the rbflow packages that the Go files under root import,
// by file; test selects test files (true) or the others (false).
func imports(t *testing.T, root string, test bool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") != test {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, module) {
				out[path] = append(out[path], strings.TrimPrefix(p, module))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOnlyTestsImportTestkit: rbflow itself never depends on test helpers.
func TestOnlyTestsImportTestkit(t *testing.T) {
	for file, pkgs := range imports(t, "../..", false) {
		for _, p := range pkgs {
			if p == "engine/testkit" {
				t.Errorf("%s imports engine/testkit; only _test.go files may", file)
			}
		}
	}
	used := false
	for _, pkgs := range imports(t, "../..", true) {
		for _, p := range pkgs {
			used = used || p == "engine/testkit"
		}
	}
	if !used {
		t.Errorf("no test file imports engine/testkit: the walk found nothing")
	}
}

// TestImportsOnlyProc: testkit imports no rbflow package but engine/proc,
// so that the tests of every package above it can import testkit without a
// cycle.
func TestImportsOnlyProc(t *testing.T) {
	for file, pkgs := range imports(t, ".", false) {
		for _, p := range pkgs {
			if p != "engine/proc" {
				t.Errorf("%s imports %s; testkit may import only engine/proc", file, p)
			}
		}
	}
}

func TestGitRepo(t *testing.T) {
	dir := GitRepo(t, map[string]string{"a.txt": "a\n", "sub/b.txt": "b\n"})
	if got := Git(t, dir, "ls-files"); got != "a.txt\nsub/b.txt\n" {
		t.Errorf("GitRepo files: git ls-files = %q, want a.txt and sub/b.txt", got)
	}
	if got := Git(t, dir, "status", "--porcelain", "--branch"); got != "## main\n" {
		t.Errorf("GitRepo: git status = %q, want a clean main", got)
	}
	Commit(t, dir, "second", map[string]string{"a.txt": "a2\n", "c.txt": "c\n"})
	if got := Git(t, dir, "log", "--format=%s", "--name-only"); got != "second\n\na.txt\nc.txt\ninit\n\na.txt\nsub/b.txt\n" {
		t.Errorf("Commit: git log = %q, want second with a.txt and c.txt on init", got)
	}
	if got := GitInput(t, dir, []byte("x\n"), "hash-object", "--stdin"); got != "587be6b4c3f93f93c489c0111bba5596147a26cb\n" {
		t.Errorf("GitInput: git hash-object --stdin of %q = %q", "x\n", got)
	}
}

func TestFreeAddr(t *testing.T) {
	l, err := net.Listen("tcp", FreeAddr(t))
	if err != nil {
		t.Fatalf("listen on FreeAddr(): %v", err)
	}
	l.Close()
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort() = %d, want a port", p)
	}
}
