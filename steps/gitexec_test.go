package steps

import (
	"github.com/rbflow/rbflow/engine/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// git exec passes values from params to git, but never as options: a '-'
// that a value gives is refused (--upload-pack ran a command and --output
// wrote a file); options the author wrote, and any value after a literal
// "--", go through.
func TestGitExecValuesAreNotOptions(t *testing.T) {
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	out := filepath.Join(t.TempDir(), "written")
	canary := filepath.Join(t.TempDir(), "canary")
	const proc = `version: 1
name: p
params:
  v: {type: string}
  l: {type: list}
steps:
  - id: x
    git: exec
    with: {args: ARGS}
`
	for _, tt := range []struct {
		args string
		sets []string
		want string // the step's error; "" when it succeeds
	}{
		{`[log, "${{ params.v }}"]`, []string{"v=--output=" + out}, `an option that comes from a value`},
		{`[fetch, ., "${{ params.v }}"]`, []string{"v=--upload-pack=touch " + canary}, `an option that comes from a value`},
		{`"${{ params.l }}"`, []string{"l=log", "l=--output=" + out}, `with.args item 2 is "--output=`},
		{`[log, "${{ params.v }}", "--", a.txt]`, []string{"v=-p"}, `item 2 is "-p"`},
		{`[log, --oneline, -n, "${{ params.v }}"]`, []string{"v=1"}, ""},
		{`[log, "--format=${{ params.v }}", -n, "1"]`, []string{"v=%H"}, ""},
		{`[log, --oneline, --, "${{ params.v }}"]`, []string{"v=-not-a-file"}, ""},
		// The whole list one expression: the items of its list literals
		// are the author's, what params give is not.
		{`'${{ concat(["log", "-n", "1", "--format=%H"], params.l) }}'`, []string{"l=--output=" + out}, `item 5 is "--output=`},
		{`'${{ concat(["log", "-n", "1", "--"], params.l) }}'`, []string{"l=--output=" + out}, ""},
		{`'${{ concat(["log", "-n"], params.l) }}'`, []string{"l=1"}, ""},
	} {
		f := runProcedure(t, repo, strings.Replace(proc, "ARGS", tt.args, 1), runOpts{sets: tt.sets})
		rec := f.step(t, "x")
		if tt.want == "" {
			if rec.Status != engine.StepSucceeded {
				t.Errorf("args %s with %q: %s %q, want it run", tt.args, tt.sets, rec.Status, rec.Error)
			}
		} else if rec.Status != engine.StepFailed || !strings.Contains(rec.Error, tt.want) {
			t.Errorf("args %s with %q: %s %q, want refused: %s", tt.args, tt.sets, rec.Status, rec.Error, tt.want)
		}
		for _, p := range []string{out, canary} {
			if _, err := os.Stat(p); err == nil {
				t.Fatalf("args %s with %q: %s exists: a value became a git option", tt.args, tt.sets, p)
			}
		}
	}
}

// TestSnapshotRefTakenGoesToTheNext: a destructive step whose snapshot ref
// exists already (kept, never recorded: a step cut off in between) takes
// the next free one and leaves the existing ref as it was; keeping a ref
// refuses atomically, so no lookup comes before the snapshot.
func TestSnapshotRefTakenGoesToTheNext(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	head := strings.TrimSpace(testkit.Git(t, repo, "rev-parse", "HEAD"))
	testkit.WriteFile(t, filepath.Join(repo, "a.txt"), "work in progress\n")
	f := runProcedure(t, repo, `version: 1
name: taken
steps:
  - id: save
    git: snapshot
  - id: take
    needs: [save]
    run: git --git-dir=.git/rbflow/snapshots.git update-ref "refs/rbflow/$RBFLOW_RUN_ID/reset" `+head+`
  - id: reset
    needs: [take]
    git: reset
    with: {to: HEAD, mode: hard}
`, runOpts{})
	if f.err != nil {
		t.Fatal(f.err)
	}
	rec := f.step(t, "reset")
	if want := "refs/rbflow/" + f.run.ID + "/reset.2"; rec.Status != engine.StepSucceeded || rec.Outputs["snapshot"] != want {
		t.Fatalf("reset: %s, snapshot %v, want %s", rec.Status, rec.Outputs["snapshot"], want)
	}
	if got := strings.TrimSpace(testkit.KeptGit(t, repo, "rev-parse", "refs/rbflow/"+f.run.ID+"/reset")); got != head {
		t.Errorf("the ref that was taken now points at %s, want %s as it was", got, head)
	}
	if got := testkit.ReadFile(t, filepath.Join(repo, "a.txt")); got != "a\n" {
		t.Errorf("a.txt = %q after the reset", got)
	}
}
