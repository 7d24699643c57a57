package git

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var refTests = []struct {
	name string
	ok   bool
}{
	{"main", true},
	{"feature/login-fix", true},
	{"refs/rbflow/20240101-abc/step_1", true},
	{"v1.2.3", true},
	{"ünïcödé", true},
	{"$(id)", true}, // legal in git, and inert: git never runs through a shell
	{"`id`", true},  // likewise
	{"a;b", true},   // likewise
	{"", false},     // empty
	{"-f", false},   // an option
	{"--upload-pack=touch /tmp/x", false},
	{"--output=x", false},
	{"; rm -rf ~", false}, // space, '~'
	{"main\nrefs/heads/evil", false},
	{"tab\there", false},
	{"nul\x00", false},
	{"del\x7f", false},
	{"a..b", false},
	{"a/.hidden", false},
	{".hidden", false},
	{"a.lock", false},
	{"a/b.lock/c", false},
	{"a//b", false},
	{"/a", false},
	{"a/", false},
	{"a.", false},
	{"a@{1}", false},
	{"@", false},
	{"a~1", false},
	{"a^", false},
	{"a:b", false},
	{"a?", false},
	{"a*", false},
	{"a[b", false},
	{`a\b`, false},
	{"with space", false},
}

func TestCheckRef(t *testing.T) {
	t.Parallel()
	for _, tt := range refTests {
		err := CheckRef(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckRef(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "invalid ref name") {
			t.Errorf("CheckRef(%q) = %q: the message should say what is wrong", tt.name, err)
		}
	}
}

// CheckRef must agree with git check-ref-format wherever git can judge (it
// cannot for names that begin with '-', which CheckRef refuses anyway).
func TestCheckRefAgreesWithGit(t *testing.T) {
	t.Parallel()
	for _, tt := range refTests {
		if strings.HasPrefix(tt.name, "-") || strings.ContainsRune(tt.name, 0) {
			continue
		}
		gitOK := exec.Command("git", "check-ref-format", "--allow-onelevel", tt.name).Run() == nil
		if ours := CheckRef(tt.name) == nil; ours != gitOK {
			t.Errorf("CheckRef(%q) ok=%v, git check-ref-format ok=%v", tt.name, ours, gitOK)
		}
	}
}

func FuzzCheckRef(f *testing.F) {
	for _, tt := range refTests {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if strings.HasPrefix(name, "-") || strings.ContainsRune(name, 0) {
			if CheckRef(name) == nil {
				t.Fatalf("CheckRef(%q) accepted it", name)
			}
			return
		}
		gitOK := exec.Command("git", "check-ref-format", "--allow-onelevel", name).Run() == nil
		if ours := CheckRef(name) == nil; ours != gitOK {
			t.Fatalf("CheckRef(%q) ok=%v, git check-ref-format ok=%v", name, ours, gitOK)
		}
	})
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"a.txt", true},
		{"dir/sub/file with space.txt", true},
		{"ünïcödé/ファイル", true},
		{".", true},
		{"a/../b", true},
		{"./-f", true},       // the way to name a file that begins with '-'
		{"./:magic", true},   // likewise for ':'
		{"; rm -rf ~", true}, // a legal file name; inert as an argument
		{"$(id)", true},
		{".gitignore", true},
		{"", false},
		{"-f", false},
		{"--upload-pack=touch /tmp/x", false},
		{":(glob)**", false},
		{":!secret", false},
		{"../../etc/passwd", false},
		{"a/../../b", false},
		{"..", false},
		{"/etc/passwd", false},
		{".git/config", false},
		{"sub/.GIT/hooks/pre-commit", false},
		{"new\nline", false},
		{"cr\r", false},
		{"nul\x00byte", false},
		{"tab\t", false},
	} {
		err := CheckPath(tt.path)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", tt.path, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "invalid path") {
			t.Errorf("CheckPath(%q) = %q: the message should say what is wrong", tt.path, err)
		}
	}
}

// Hostile values given to the API do nothing but fail (or name something
// odd); none is read as an option, and nothing runs through a shell.
func TestHostileValuesAreInert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := dirtyRepo(t)
	pwned := filepath.Join(t.TempDir(), "pwned")
	hostile := []string{
		"--output=" + pwned, "--upload-pack=touch " + pwned, "-o" + pwned,
		"$(touch " + pwned + ")", "`touch " + pwned + "`", "; touch " + pwned, "HEAD\n--output=" + pwned,
	}
	for _, v := range hostile {
		if _, err := r.ResolveCommit(ctx, v); err == nil {
			t.Errorf("ResolveCommit(%q) succeeded", v)
		}
		if _, err := r.ChangedFiles(ctx, v); err == nil {
			t.Errorf("ChangedFiles(%q) succeeded", v)
		}
		if ok, _ := r.RefExists(ctx, v); ok {
			t.Errorf("RefExists(%q) = true", v)
		}
		if _, err := r.ReadSnapshot(ctx, v); err == nil {
			t.Errorf("ReadSnapshot(%q) succeeded", v)
		}
		if _, err := r.Snapshot(ctx, v, SnapshotOptions{}); err == nil {
			t.Errorf("Snapshot(%q) succeeded", v)
		}
	}
	// A legal but odd ref name is just a name.
	snap, err := r.Snapshot(ctx, "refs/rbflow/$(touch_pwned)", SnapshotOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.RefExists(ctx, snap.Ref); !ok || err != nil {
		t.Errorf("RefExists(%q) = %v, %v", snap.Ref, ok, err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a hostile value ran a command")
	}
	if _, err := os.Stat(filepath.Join(dir, "touch_pwned")); err == nil {
		t.Fatal("a hostile value ran a command")
	}
}

func TestGitErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _ := dirtyRepo(t)
	_, err := r.Git(ctx, "rev-parse", "--verify", "no such thing")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode() != 128 {
		t.Fatalf("Git(bad rev) = %v, want a *CommandError with exit code 128", err)
	}
	for _, want := range []string{`git rev-parse --verify "no such thing"`, "exit status 128", "fatal: Needed a single revision"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Git(cctx, "status"); !errors.Is(err, context.Canceled) {
		t.Errorf("Git with a cancelled context = %v, want context.Canceled", err)
	}
}
