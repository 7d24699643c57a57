package procedures

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func useTestBuiltins(t *testing.T) {
	t.Helper()
	old := builtins
	builtins = os.DirFS("testdata/builtin")
	t.Cleanup(func() { builtins = old })
}

func TestResolve(t *testing.T) {
	useTestBuiltins(t)
	repo := t.TempDir()
	local := filepath.Join(repo, LocalDir, "alpha.yaml")
	file := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(file, []byte("file"), 0o644); err != nil {
		t.Fatal(err)
	}

	if got := Names(); len(got) != 1 || got[0] != "alpha" {
		t.Fatalf("Names() = %v, want [alpha]", got)
	}
	src, err := Resolve("alpha", repo)
	if err != nil || !src.Builtin || src.Path != "builtin:alpha" || !strings.Contains(string(src.Text), "built-in alpha") {
		t.Errorf("Resolve(alpha) = %+v, %v; want the built-in", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, []byte("local copy"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err = Resolve("alpha", repo)
	if err != nil || src.Builtin || src.Path != local || string(src.Text) != "local copy" {
		t.Errorf("Resolve(alpha) with %s = %+v, %v; want the local copy", local, src, err)
	}
	src, err = Resolve(file, repo)
	if err != nil || src.Path != file || string(src.Text) != "file" {
		t.Errorf("Resolve(%q) = %+v, %v; want the file", file, src, err)
	}
	_, err = Resolve("nosuch", repo)
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "built-ins: alpha") {
		t.Errorf("Resolve(nosuch) = %v, want ErrUnknown listing the built-ins", err)
	}
	if _, err := Resolve("missing/dir.yaml", repo); err == nil || errors.Is(err, ErrUnknown) {
		t.Errorf("Resolve(missing path) = %v, want a read error", err)
	}
}

// A file over the size a procedure may have is refused from its size,
// without reading it.
func TestResolveRefusesHugeFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil { // a sparse terabyte: reading it would take hours
		t.Skip("no sparse files here:", err)
	}
	f.Close()
	_, err = Resolve(p, "")
	if err == nil || !strings.Contains(err.Error(), "over the limit of 16 MiB") {
		t.Errorf("Resolve(1 TiB file) = %v, want it refused for its size", err)
	}
}
