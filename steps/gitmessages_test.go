package steps

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/testkit"
)

const secretToken = "s3cr3t-value-XYZ"

// runWithToken runs the steps of a procedure with a secret param token,
// given on the command line as secretToken.
func runWithToken(t *testing.T, repo, steps string) finished {
	t.Helper()
	return runProcedure(t, repo, "version: 1\nname: p\nparams:\n  token: {type: string, secret: true}\nsteps:\n"+steps,
		runOpts{sets: []string{"token=" + secretToken}})
}

// Commit, tag, stash and snapshot messages get *** for a secret value;
// no object, ref or log of the repository holds it.
func TestSecretsStayOutOfGitMessages(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	f := runWithToken(t, repo, `  - id: snap
    git: snapshot
    with: {message: "before deploy ${{ params.token }}"}
  - id: commit
    git: commit
    with: {message: "deploy ${{ params.token }}", allow_empty: true}
  - id: tag
    git: tag
    with: {name: v1, message: "release ${{ params.token }}"}
  - id: edit
    run: echo edit >> a.txt
  - id: stash
    git: stash
    with: {action: push, message: "stash ${{ params.token }}"}
`)
	mustSucceed(t, f.steps, f.err)
	for _, tt := range []struct{ args, want string }{
		{"log -1 --format=%B HEAD", "deploy ***"},
		{"cat-file tag v1", "release ***"},
		{"stash list", "stash ***"},
		{"log -1 --format=%B " + fmt.Sprint(f.step(t, "snap").Outputs["snapshot"]), "before deploy ***"},
	} {
		gitIn := testkit.Git
		if strings.Contains(tt.args, git.KeptPrefix) {
			gitIn = testkit.KeptGit // snapshots live in rbflow's own store
		}
		if got := gitIn(t, repo, strings.Fields(tt.args)...); !strings.Contains(got, tt.want) {
			t.Errorf("git %s = %q, want it to hold %q", tt.args, got, tt.want)
		}
	}
	if msgs := testkit.Git(t, repo, "log", "--all", "--format=%B"); strings.Contains(msgs, secretToken) {
		t.Errorf("git log --all holds the secret:\n%s", msgs)
	}
	if msgs := testkit.KeptGit(t, repo, "log", "--all", "--format=%B"); strings.Contains(msgs, secretToken) {
		t.Errorf("git log --all of the snapshot store holds the secret:\n%s", msgs)
	}
	// Every object, reachable or not (a superset of git rev-list --all
	// --objects), every ref, reflog and COMMIT_EDITMSG.
	if found := gitHolds(t, repo, secretToken); len(found) > 0 {
		t.Errorf("the git directory holds the secret")
	}
	if log := f.log(t, "commit"); !strings.Contains(log, "the message holds the value of a secret param") {
		t.Errorf("the commit's log does not say the message was masked:\n%s", log)
	}
}

// A branch or tag name made from a secret value is refused before
// anything changes, with an error that names the argument, not the value.
func TestRefNamesNeverHoldSecrets(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	head := testkit.Git(t, repo, "rev-parse", "HEAD")
	for _, tt := range []struct{ step, want string }{
		{`git: branch
    with: {name: "feature/${{ params.token }}"}`, "with.name holds the value of a secret param"},
		{`git: tag
    with: {name: "v-${{ params.token }}", message: "release"}`, "with.name holds the value of a secret param"},
		{`git: tag
    with: {name: "${{ params.token }}", delete: true}`, "with.name holds the value of a secret param"},
		{`git: switch
    with: {ref: "work/${{ params.token }}", create: true}`, "with.ref holds the value of a secret param"},
		{`git: checkout
    with: {ref: "${{ params.token }}", create: true}`, "with.ref holds the value of a secret param"},
	} {
		f := runWithToken(t, repo, "  - id: x\n    "+tt.step+"\n")
		rec := f.step(t, "x")
		if rec.Status != engine.StepFailed || !strings.Contains(rec.Error, tt.want) || !strings.Contains(rec.Error, "nothing was changed") {
			t.Errorf("%s: %s %q, want refused: %s (nothing was changed)", tt.step, rec.Status, rec.Error, tt.want)
		}
		if refs := testkit.Git(t, repo, "for-each-ref", "--format=%(refname)"); strings.Contains(refs, secretToken) || strings.Contains(refs, "***") {
			t.Errorf("%s: a ref was made:\n%s", tt.step, refs)
		}
		if got := testkit.Git(t, repo, "rev-parse", "HEAD"); got != head {
			t.Errorf("%s: HEAD moved to %s", tt.step, got)
		}
		if br := testkit.Git(t, repo, "branch", "--show-current"); br != "main\n" {
			t.Errorf("%s: on branch %q, want main", tt.step, br)
		}
	}
	if found := gitHolds(t, repo, secretToken); len(found) > 0 {
		t.Errorf("the git directory holds the secret")
	}
}
