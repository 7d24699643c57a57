package steps

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/procedures"
)

// gitHolds returns those of texts that the repository's git directory
// holds anywhere: in any object, reachable or not (read through git, as
// objects are compressed), or in any other file (refs, reflogs,
// COMMIT_EDITMSG, ...).
func gitHolds(t *testing.T, repo string, texts ...string) []string {
	t.Helper()
	all := testkit.Git(t, repo, "cat-file", "--batch-all-objects", "--batch")
	gitDir := filepath.Join(repo, ".git")
	err := filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.Name() == "objects" {
				return filepath.SkipDir
			}
			return err
		}
		b, err := os.ReadFile(p)
		all += "\n" + string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, s := range texts {
		if strings.Contains(all, s) {
			found = append(found, s)
		}
	}
	return found
}

// strs turns a list output into strings.
func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// secretLikeFiles are untracked files a WIP commit must leave out, with
// contents found nowhere else.
var secretLikeFiles = map[string]string{
	".env":             "API_KEY=SECRET-ENV-1\n",
	"sub/dir/id_rsa":   "SECRET-RSA-2\n",
	"a.pem":            "SECRET-PEM-3\n",
	"credentials.json": `{"token": "SECRET-CREDS-4"}` + "\n",
	"-lead.key":        "SECRET-DASH-5\n",
	"é/.env.local":     "SECRET-UNICODE-6\n",
}

func secretLikeNames() []string {
	var names []string
	for p := range secretLikeFiles {
		names = append(names, p)
	}
	slices.Sort(names)
	return names
}

func secretLikeContents() []string {
	var texts []string
	for _, text := range secretLikeFiles {
		texts = append(texts, strings.TrimSpace(text))
	}
	return texts
}

// checkSecretLikeFilesKept fails unless every secret-like file is in the
// work tree with its bytes.
func checkSecretLikeFilesKept(t *testing.T, repo string) {
	t.Helper()
	for p, text := range secretLikeFiles {
		if b, err := os.ReadFile(filepath.Join(repo, filepath.FromSlash(p))); err != nil || string(b) != text {
			t.Errorf("%s afterwards: %q, %v; want it untouched", p, b, err)
		}
	}
}

// git: commit with all: true takes every change, untracked files too,
// except untracked files named like secrets: they stay in the work tree,
// out of every object, and the step lists them.
func TestCommitAllLeavesSecretLikeFilesOut(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"README.md": "r\n", "config/app.key": "tracked v1\n"})
	testkit.WriteFiles(t, repo, map[string]string{"config/app.key": "tracked v2\n", "notes.txt": "ordinary work\n"})
	testkit.WriteFiles(t, repo, secretLikeFiles)

	f := runProcedure(t, repo, `version: 1
name: p
steps:
  - id: wip
    git: commit
    with: {message: "WIP: Sprint 3 before rollback", all: true}
`, runOpts{})
	mustSucceed(t, f.steps, f.err)
	rec := f.step(t, "wip")
	if got, want := strs(rec.Outputs["left_out"]), secretLikeNames(); !slices.Equal(got, want) {
		t.Errorf("outputs.left_out = %q, want %q", got, want)
	}
	committed := strings.Split(strings.TrimSuffix(testkit.Git(t, repo, "show", "-z", "--name-only", "--format=", "HEAD"), "\x00"), "\x00")
	if want := []string{"config/app.key", "notes.txt"}; !slices.Equal(committed, want) {
		t.Errorf("the WIP commit holds %q, want %q (the tracked key as usual, the ordinary new file, no secret-like file)", committed, want)
	}
	if log := testkit.Git(t, repo, "log", "--all", "-p"); !strings.Contains(log, "ordinary work") {
		t.Errorf("git log --all -p lacks the ordinary file:\n%s", log)
	}
	if found := gitHolds(t, repo, secretLikeContents()...); len(found) > 0 {
		t.Errorf("the repository holds %q: a secret-like file went into git", found)
	}
	checkSecretLikeFilesKept(t, repo)
	log := f.log(t, "wip")
	for _, p := range secretLikeNames() {
		if !strings.Contains(log, fmt.Sprintf("left out of the commit: %q, untracked and named like a secret", p)) {
			t.Errorf("the step's log does not say that %s stayed out, and why:\n%s", p, log)
		}
	}
}

// The built-in sprint: its WIP commit leaves the untracked secret-like
// files out, its failure report lists them, and they stay in the work
// tree and in the run's snapshot.
func TestSprintWIPCommitLeavesSecretLikeFilesOut(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"app.txt": "v1\n"})
	testkit.Git(t, repo, "branch", "baseline")
	testkit.Git(t, repo, "switch", "-q", "-c", "refactor/sprint-3")
	testkit.Commit(t, repo, "sprint 3", map[string]string{"app.txt": "v2\n"})
	testkit.WriteFiles(t, repo, map[string]string{"notes.txt": "ordinary work\n"})
	testkit.WriteFiles(t, repo, secretLikeFiles)
	sprint, _ := procedures.Builtin("sprint")

	f := runProcedure(t, repo, string(sprint), runOpts{sets: []string{"sprint=3", "test_command=true"}})
	mustSucceed(t, f.steps, f.err)
	want := secretLikeNames()
	if got := strs(f.step(t, "wip").Outputs["left_out"]); !slices.Equal(got, want) {
		t.Errorf("wip outputs.left_out = %q, want %q", got, want)
	}
	wip := strings.Split(strings.TrimSuffix(testkit.Git(t, repo, "show", "-z", "--name-only", "--format=", "refactor/sprint-3"), "\x00"), "\x00")
	if !slices.Equal(wip, []string{"notes.txt"}) {
		t.Errorf("the WIP commit holds %q, want only notes.txt", wip)
	}
	branches := testkit.Git(t, repo, "log", "--branches", "--tags", "-p")
	for _, s := range secretLikeContents() {
		if strings.Contains(branches, s) {
			t.Errorf("the branches' history holds %q", s)
		}
	}
	checkSecretLikeFilesKept(t, repo)
	report, err := os.ReadFile(filepath.Join(repo, "rollbacks", "sprint-3", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range want {
		if !strings.Contains(string(report), "which the WIP commit leaves out") || !strings.Contains(string(report), "\n- "+p+"\n") {
			t.Errorf("the failure report does not list %s as left out of the WIP commit:\n%s", p, report)
		}
	}
	snap, _ := f.step(t, "save_state").Outputs["snapshot"].(string)
	saved := testkit.KeptGit(t, repo, "ls-tree", "-r", "-z", "--name-only", snap)
	for _, p := range want {
		if !strings.Contains("\x00"+saved, "\x00"+p+"\x00") {
			t.Errorf("the snapshot %s does not hold %s", snap, p)
		}
	}
}
