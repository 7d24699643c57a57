package main

import (
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// recoveredState is what recover leaves that two runs can share: the
// files (the branch's run id and the new commits' ids differ), the tree of
// HEAD, the commits on the recovery branch and where they came from.
func recoveredState(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(manifest(t, dir), "\n") {
		if !strings.HasPrefix(l, "HEAD ") && !strings.HasPrefix(l, "BRANCH ") {
			lines = append(lines, l)
		}
	}
	branch := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current"))
	lines = append(lines,
		"BRANCH "+strings.SplitN(branch, "/", 2)[0],
		"TREE "+testkit.Git(t, dir, "rev-parse", "HEAD^{tree}"),
		"LOG "+testkit.Git(t, dir, "log", "--format=%s%n%b", "baseline..HEAD"))
	return strings.Join(lines, "\n")
}

// TestRecoverSeed recovers both commits of the seed's failed sprint,
// chosen at the prompt (answered with --answer on resume): a recovery
// branch named after the run starts from the baseline and holds each
// commit once, oldest first; the failing tests are reported without
// failing the recovery; undo brings back the failed branch with its
// uncommitted and untracked work.
func TestRecoverSeed(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	dir := seedRepo(t)
	before := manifest(t, dir)
	tax := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "refactor/sprint-3"))
	percent := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "refactor/sprint-3~1"))

	o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=refactor/sprint-3", "--set", "discard_changes=true",
		"--set", "test_command="+pytest)
	if code != 4 || !strings.Contains(e, "--answer ask=") || !strings.Contains(e, tax[:12]+" Sprint 3: tax helper") {
		t.Fatalf("recover without commits: exit %d, want 4 asking which commits (listed with their subjects)\n%s%s", code, o, e)
	}
	if b := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); b != "refactor/sprint-3" {
		t.Fatalf("waiting for the answer, the run already switched to %s", b)
	}
	// Answered newest first: they are picked oldest first all the same.
	if o, e, code := rbflow(t, dir, "resume", "--answer", "ask="+tax+","+percent); code != 0 {
		t.Fatalf("resume with the answer: exit %d\n%s%s", code, o, e)
	}
	run, recs := newestRun(t, dir)
	if b, want := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")), "recovery/"+run.ID[:15]; b != want {
		t.Errorf("on branch %s, want %s", b, want)
	}
	if base, mb := testkit.Git(t, dir, "rev-parse", "baseline"), testkit.Git(t, dir, "merge-base", "HEAD", "baseline"); base != mb {
		t.Errorf("the recovery branch does not start from the baseline")
	}
	if got, want := testkit.Git(t, dir, "log", "--format=%s", "baseline..HEAD"), "Sprint 3: tax helper\nSprint 3: discounts in percent\n"; got != want {
		t.Errorf("recovery branch log %q, want %q (each commit once, oldest first)", got, want)
	}
	for _, c := range []string{tax, percent} {
		if n := strings.Count(testkit.Git(t, dir, "log", "--format=%b", "baseline..HEAD"), "(cherry picked from commit "+c+")"); n != 1 {
			t.Errorf("commit %s picked %d times, want once", c[:12], n)
		}
	}
	if got := readFile(t, filepath.Join(dir, "backend/app/tax.py")); got != gitShow(t, dir, tax, "backend/app/tax.py") {
		t.Errorf("tax.py was not recovered: %q", got)
	}
	if got, want := outputList(recs["pick"], "applied"), []string{percent, tax}; !reflect.DeepEqual(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if r := recs["tests"]; r.Outcome != engine.StepFailed || r.Conclusion != engine.StepSucceeded || counts(r) != "1 passed, 1 failed, 2 total" {
		t.Errorf("tests: outcome %s, conclusion %s, %s; want failed, succeeded (continue_on_error), 1 passed, 1 failed", r.Outcome, r.Conclusion, counts(r))
	}
	if run.Status != engine.RunSucceeded {
		t.Errorf("run %s, want succeeded: failing tests do not undo a recovery", run.Status)
	}
	summary := summaryOf(t, dir, run.ID)
	for _, want := range []string{
		"- Recovery branch: recovery/" + run.ID[:15] + "\n",
		"- Commits applied: " + percent + ", " + tax + "\n",
		"- Tests: Tests failing, review recovered changes\n",
		": 1 passed, 1 failed, 0 skipped, 0 errors |",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if o, e, code := rbflow(t, dir, "undo", run.ID); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- before\n%s\n--- after\n%s", before, got)
	}
}

// TestRecoverGo recovers the good commit of a Go sprint, named by a short
// id: the uncommitted edit that is not in the way goes along (as git
// switch does), and all the tests run and pass on the recovered work.
func TestRecoverGo(t *testing.T) {
	t.Parallel()
	dir := goShop(t)
	before := manifest(t, dir)
	good := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "--short", "sprint"))
	if o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--set", "commits="+good); code != 0 {
		t.Fatalf("recover: exit %d\n%s%s", code, o, e)
	}
	run, recs := newestRun(t, dir)
	if got, want := testkit.Git(t, dir, "log", "--format=%s", "baseline..HEAD"), "Sprint: api v2\n"; got != want {
		t.Errorf("recovery branch log %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "calc/calc.go")); got != gitShow(t, dir, "baseline", "calc/calc.go") {
		t.Errorf("calc.go is not the baseline's: the commit left out came along")
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, "store/store.go")), "TODO: a second store") || readFile(t, filepath.Join(dir, "notes.txt")) == "" {
		t.Errorf("the uncommitted and untracked work did not come along")
	}
	if got, want := testMarks(t, dir), []string{"api", "calc", "store", "util"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tests of %v ran, want all: %v", got, want)
	}
	if r := recs["tests"]; r.Outcome != engine.StepSucceeded || counts(r) != "4 passed, 0 failed, 4 total" {
		t.Errorf("tests: %s, %s; want succeeded, 4 passed", r.Outcome, counts(r))
	}
	if s := summaryOf(t, dir, run.ID); !strings.Contains(s, "- Tests: passing\n") || !strings.Contains(s, "- Recovery branch: recovery/"+run.ID[:15]) {
		t.Errorf("summary:\n%s", s)
	}
	if o, e, code := rbflow(t, dir, "undo", run.ID); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- before\n%s\n--- after\n%s", before, got)
	}

	// A commit that is not one, or none chosen, stops the run before any
	// branch is made.
	branches := testkit.Git(t, dir, "branch", "--list")
	if o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--set", "commits="+good, "--set", "commits=nosuch"); code != 1 || !strings.Contains(o+e, "bad revision 'nosuch'") {
		t.Errorf("recover of a commit that does not exist: exit %d, want 1 naming it\n%s%s", code, o, e)
	}
	if o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--answer", "ask="); code != 1 || !strings.Contains(o+e, "no commits to recover from sprint") {
		t.Errorf("recover with no commit chosen: exit %d, want 1 saying so\n%s%s", code, o, e)
	}
	if got := testkit.Git(t, dir, "branch", "--list"); got != branches || manifest(t, dir) != before {
		t.Errorf("a recovery that stopped early made a branch or changed the tree:\n%s", got)
	}
}

// TestRecoverConflictResumes: the baseline moved on where a sprint commit
// changed the same line; recover stops on the conflict (exit 4) saying
// what to do, stops again while it is unresolved, and once it is resolved
// goes on with the next commit; no commit is applied twice.
func TestRecoverConflictResumes(t *testing.T) {
	t.Parallel()
	dir := goShop(t)
	calc := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "sprint~1"))
	api := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "sprint"))
	testkit.Git(t, dir, "stash", "-q", "-u")
	testkit.Git(t, dir, "switch", "-q", "baseline")
	testkit.WriteFile(t, filepath.Join(dir, "calc/calc.go"), "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int { return b + a }\n")
	testkit.Git(t, dir, "commit", "-q", "-am", "Baseline: calc reworded")
	testkit.Git(t, dir, "switch", "-q", "sprint")
	testkit.Git(t, dir, "stash", "pop", "-q")

	o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--set", "commits="+calc, "--set", "commits="+api,
		"--set", "test_command=go vet ./...")
	if code != 4 || !strings.Contains(e, "conflicts in calc/calc.go") || !strings.Contains(e, "rbflow resume") {
		t.Fatalf("recover over a conflict: exit %d, want 4 naming calc/calc.go and rbflow resume\n%s%s", code, o, e)
	}
	if _, e, code := rbflow(t, dir, "resume"); code != 4 || !strings.Contains(e, "conflicts in calc/calc.go") {
		t.Fatalf("resume with the conflict unresolved: exit %d\n%s", code, e)
	}
	testkit.WriteFile(t, filepath.Join(dir, "calc/calc.go"), "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int { return a + b }\n")
	testkit.Git(t, dir, "add", "calc/calc.go")
	if o, e, code := rbflow(t, dir, "resume"); code != 0 {
		t.Fatalf("resume after resolving: exit %d\n%s%s", code, o, e)
	}
	if got, want := testkit.Git(t, dir, "log", "--format=%s", "baseline..HEAD"), "Sprint: api v2\nSprint: calc rewritten\n"; got != want {
		t.Errorf("recovery branch log %q, want %q: each commit once", got, want)
	}
	run, recs := newestRun(t, dir)
	if run.Status != engine.RunSucceeded || recs["tests"].Status != engine.StepSucceeded {
		t.Errorf("run %s, tests %s; want both succeeded", run.Status, recs["tests"].Status)
	}
	if s := summaryOf(t, dir, run.ID); !strings.Contains(s, "- Commits applied: "+api) {
		t.Errorf("summary does not name the commit applied after the conflict:\n%s", s)
	}
}

// TestRecoverKilled kills recover with SIGKILL at random moments and
// resumes it each time: the recovery branch ends as an uninterrupted
// run's, every commit on it once.
func TestRecoverKilled(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	dir := seedRepo(t)
	twin := cloneRepo(t, dir)
	args := []string{"run", "recover", "--set", "failed_branch=refactor/sprint-3", "--set", "discard_changes=true",
		"--set", "commits=refactor/sprint-3~1", "--set", "commits=refactor/sprint-3",
		"--set", "test_command=sleep 0.3; " + pytest}
	if o, e, code := rbflow(t, twin, args...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}
	out, code := killAndResume(t, dir, killer{kills: sweep(4), delay: randomDelay(rnd)}, args...)
	if code != 0 {
		t.Fatalf("the resumed run: exit %d\n%s", code, out)
	}
	if got, want := recoveredState(t, dir), recoveredState(t, twin); got != want {
		t.Errorf("killed and resumed, recover left another state than an uninterrupted run\n--- uninterrupted\n%s\n--- killed\n%s", want, got)
	}
	run, _ := newestRun(t, dir)
	if b := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); b != "recovery/"+run.ID[:15] {
		t.Errorf("on branch %s, want recovery/%s", b, run.ID[:15])
	}
	if n := strings.Count(testkit.Git(t, dir, "branch", "--list", "recovery/*"), "recovery/"); n != 1 {
		t.Errorf("%d recovery branches, want 1:\n%s", n, testkit.Git(t, dir, "branch"))
	}
}

// TestRecoverMergeCommit: a merge commit of the failed branch is marked as
// one at the prompt; chosen without mainline it is refused with what to
// do before any branch is made (git's "is a merge but no -m option was
// given" came half-way, on a half-made recovery branch); with
// --set mainline=1 it is picked against its first parent.
func TestRecoverMergeCommit(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	testkit.Git(t, dir, "branch", "-M", "baseline")
	testkit.Git(t, dir, "switch", "-q", "-c", "side")
	testkit.Commit(t, dir, "side work", map[string]string{"side.txt": "side\n"})
	testkit.Git(t, dir, "switch", "-q", "-c", "sprint", "baseline")
	testkit.Commit(t, dir, "sprint work", map[string]string{"s.txt": "s\n"})
	testkit.Git(t, dir, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
	merge := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	before := manifest(t, dir)
	branches := testkit.Git(t, dir, "branch", "--list")

	o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--set", "test_command=true")
	if code != 4 || !strings.Contains(e, merge[:12]+" Merge side (merge commit: needs --set mainline=N)") {
		t.Fatalf("recover without commits: exit %d, want 4 listing the merge as one\n%s%s", code, o, e)
	}
	o, e, code = rbflow(t, dir, "resume", "--answer", "ask="+merge)
	if code != 1 || !strings.Contains(o+e, merge[:12]+" is a merge commit") || !strings.Contains(o+e, "mainline=1") || strings.Contains(o+e, "no -m option") {
		t.Errorf("recover of a merge without mainline: exit %d, want 1 saying it is a merge and how to set mainline\n%s%s", code, o, e)
	}
	if got := testkit.Git(t, dir, "branch", "--list"); got != branches || manifest(t, dir) != before {
		t.Errorf("a refused merge made a branch or changed the tree:\n%s", got)
	}

	if o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--set", "commits="+merge, "--set", "mainline=3", "--set", "test_command=true"); code != 1 || !strings.Contains(o+e, "mainline 3 is not one of them") {
		t.Errorf("recover of a merge with mainline 3: exit %d, want 1\n%s%s", code, o, e)
	}
	if got := testkit.Git(t, dir, "branch", "--list"); got != branches {
		t.Errorf("a refused mainline made a branch:\n%s", got)
	}

	if o, e, code := rbflow(t, dir, "run", "recover", "--set", "failed_branch=sprint", "--set", "commits="+merge, "--set", "mainline=1", "--set", "test_command=true"); code != 0 {
		t.Fatalf("recover of a merge with mainline 1: exit %d\n%s%s", code, o, e)
	}
	if got, want := testkit.Git(t, dir, "log", "--format=%s", "baseline..HEAD"), "Merge side\n"; got != want {
		t.Errorf("recovery branch log %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "side.txt")); got != "side\n" {
		t.Errorf("side.txt = %q, want the merged side's", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.txt")); err == nil {
		t.Errorf("s.txt came along: the merge was not picked against its first parent")
	}
}
