package main

import (
	"math/rand"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// TestValidateSeed runs the tests affected by the seed's sprint (committed,
// uncommitted and untracked changes): the pricing tests, which fail, and
// says so; nothing in the tree changes.
func TestValidateSeed(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	dir := seedRepo(t)
	before := manifest(t, dir)
	o, e, code := rbflow(t, dir, "run", "validate", "--set", "test_command="+pytest)
	if code != 1 || !strings.Contains(e, "tests failed: 1 failed, 0 errors, 1 passed") {
		t.Fatalf("validate on the failed sprint: exit %d, want 1 with the failing test\n%s%s", code, o, e)
	}
	run, recs := newestRun(t, dir)
	if got, want := outputList(recs["tests"], "selected"), []string{"backend/tests/unit/test_pricing.py"}; !reflect.DeepEqual(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
	summary := summaryOf(t, dir, run.ID)
	for _, want := range []string{
		"- Files changed since the baseline: 3\n",
		"- Tests run: backend/tests/unit/test_pricing.py\n",
		"- Verdict: incremental validation failed\n",
		": 1 passed, 1 failed, 0 skipped, 0 errors |",
		"TotalTest::test_discount",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("validate changed the tree")
	}
	// The seed's own mapping, given as the map param, selects the same.
	o, e, code = rbflow(t, dir, "run", "validate", "--set", "test_command="+pytest,
		"--set", `map=backend/app/(.*)\.py -> backend/tests/unit/test_$1.py`)
	if _, recs := newestRun(t, dir); code != 1 || !reflect.DeepEqual(outputList(recs["tests"], "selected"), []string{"backend/tests/unit/test_pricing.py"}) {
		t.Errorf("validate with a map: exit %d, selected %v\n%s%s", code, outputList(recs["tests"], "selected"), o, e)
	}
}

// TestValidateGo runs, with the detected go test, the tests of the
// packages the sprint changed and no others; with nothing affected it
// passes with 0 tests, the command not run.
func TestValidateGo(t *testing.T) {
	t.Parallel()
	dir := goShop(t)
	o, e, code := rbflow(t, dir, "run", "validate")
	if code != 1 {
		t.Fatalf("validate: exit %d, want 1 (calc's test fails)\n%s%s", code, o, e)
	}
	if got, want := testMarks(t, dir), []string{"api", "calc", "store"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tests of %v ran, want %v (util did not change)", got, want)
	}
	_, recs := newestRun(t, dir)
	if got, want := outputList(recs["tests"], "selected"), []string{"./api", "./calc", "./store"}; !reflect.DeepEqual(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
	if got := counts(recs["tests"]); got != "2 passed, 1 failed, 3 total" {
		t.Errorf("tests: %s, want 2 passed, 1 failed", got)
	}

	// Only docs changed: no test is affected.
	testkit.Git(t, dir, "stash", "-q", "-u")
	testkit.Git(t, dir, "switch", "-q", "-c", "docs", "baseline")
	testkit.WriteFile(t, filepath.Join(dir, "docs/rollback-notes.md"), "validate before merging\n")
	o, e, code = rbflow(t, dir, "run", "validate")
	if code != 0 {
		t.Fatalf("validate with only docs changed: exit %d\n%s%s", code, o, e)
	}
	if got := testMarks(t, dir); len(got) != 0 {
		t.Errorf("tests of %v ran, want none", got)
	}
	run, recs := newestRun(t, dir)
	if r := recs["tests"]; r.Status != engine.StepSucceeded || counts(r) != "0 passed, 0 failed, 0 total" || r.Outputs["ok"] != true {
		t.Errorf("tests: %s %s ok=%v; want succeeded with total 0 and ok", r.Status, counts(r), r.Outputs["ok"])
	}
	if s := summaryOf(t, dir, run.ID); !strings.Contains(s, "- Tests run: none\n") || !strings.Contains(s, "- Verdict: incremental validation passed\n") {
		t.Errorf("summary:\n%s", s)
	}
}

// TestValidateKilled kills validate with SIGKILL while its tests run and
// resumes it: it ends as an uninterrupted run does.
func TestValidateKilled(t *testing.T) {
	t.Parallel()
	dir := goShop(t)
	twin := cloneRepo(t, dir)
	before := manifest(t, dir)
	args := func(marker string) []string {
		return []string{"run", "validate", "--set", "test_command=touch " + shellWord(marker) + "; sleep 1; go test -json -count=1"}
	}
	if _, _, code := rbflow(t, twin, args(filepath.Join(t.TempDir(), "started"))...); code != 1 {
		t.Fatalf("uninterrupted run: exit %d, want 1", code)
	}
	_, want := newestRun(t, twin)
	marker := filepath.Join(t.TempDir(), "started")
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	out, code := killAndResume(t, dir, killer{kills: 1, first: exists(marker), delay: randomDelay(rnd)}, args(marker)...)
	if code != 1 {
		t.Fatalf("the resumed run: exit %d, want 1\n%s", code, out)
	}
	run, got := newestRun(t, dir)
	if run.Status != engine.RunFailed || run.FailedStep != "tests" {
		t.Errorf("run %s at %q, want failed at tests", run.Status, run.FailedStep)
	}
	if g, w := outputList(got["tests"], "selected"), outputList(want["tests"], "selected"); !reflect.DeepEqual(g, w) || counts(got["tests"]) != counts(want["tests"]) {
		t.Errorf("killed and resumed: selected %v, %s; uninterrupted: %v, %s", g, counts(got["tests"]), w, counts(want["tests"]))
	}
	if manifest(t, dir) != before {
		t.Errorf("validate changed the tree")
	}
}

// TestValidateBuiltinsPlan: the three built-ins load and check clean, and
// --dry-run prints a plan a person can read (the commands as they would
// run, the tests chosen, the snapshots) and changes nothing.
func TestValidateBuiltinsPlan(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	before := manifest(t, dir)
	if o, e, code := rbflow(t, dir, "validate", "selective", "recover", "validate"); code != 0 || strings.Count(o, ": ok") != 3 {
		t.Fatalf("rbflow validate: exit %d\n%s%s", code, o, e)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"selective", "--set", "files=backend/app/pricing.py"}, []string{
			"recovery-time target: 30m0s",
			"| git exec (args=[ls-tree -z --name-only --end-of-options baseline -- backend/app/pricing.py])",
			"| git restore_files (files=[], from=baseline)",
			"| snapshot first: refs/rbflow/<run>/restore",
			`| eval "$TEST_COMMAND"`,
			"| # the shell runs: python3 -m pytest",
			"| write the summary report to",
		}},
		{[]string{"recover", "--set", "failed_branch=refactor/sprint-3"}, []string{
			"| git log (range=baseline..refactor/sprint-3)",
			"| ask (multi): Which commits of refactor/sprint-3 should be recovered onto baseline?",
			"| choices: known only at run time",
			"| git branch (name=recovery/dry-run, from=baseline)",
			"| snapshot first if the work tree has changes: refs/rbflow/<run>/switch",
			"| git cherry_pick",
			"| # the shell runs: python3 -m pytest\n",
		}},
		{[]string{"validate"}, []string{
			`| eval "$TEST_COMMAND" backend/tests/unit/test_pricing.py`,
			"| # the shell runs: python3 -m pytest backend/tests/unit/test_pricing.py",
			"| # select: 1 tests chosen by the 3 files changed since baseline",
		}},
	} {
		o, e, code := rbflow(t, dir, append([]string{"run", c.args[0], "--dry-run"}, c.args[1:]...)...)
		if code != 0 {
			t.Errorf("%s --dry-run: exit %d\n%s%s", c.args[0], code, o, e)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(o, w) {
				t.Errorf("%s --dry-run lacks %q:\n%s", c.args[0], w, o)
			}
		}
	}
	if manifest(t, dir) != before {
		t.Errorf("a dry run changed the tree")
	}
}
