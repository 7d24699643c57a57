package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// goRepo makes a Go module on branch baseline whose three tests pass, and a
// branch sprint, checked out, whose change to Mul fails TestMul.
func goRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "calc")
	testkit.WriteFile(t, filepath.Join(dir, "go.mod"), "module example.com/calc\n\ngo 1.22\n")
	testkit.WriteFile(t, filepath.Join(dir, "calc.go"), "package calc\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n\n// Mul multiplies.\nfunc Mul(a, b int) int { return a * b }\n")
	testkit.WriteFile(t, filepath.Join(dir, "calc_test.go"), `package calc

import "testing"

func TestAdd(t *testing.T) {
	if Add(2, 3) != 5 {
		t.Fatal("Add(2, 3) != 5")
	}
}

func TestMul(t *testing.T) {
	if got := Mul(2, 3); got != 6 {
		t.Fatalf("Mul(2, 3) = %d, want 6", got)
	}
}

func TestZero(t *testing.T) {
	if Add(0, 0) != 0 {
		t.Fatal("Add(0, 0) != 0")
	}
}
`)
	testkit.Git(t, dir, "init", "-q", "-b", "baseline")
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "calc: Add and Mul")
	testkit.Git(t, dir, "switch", "-q", "-c", "sprint")
	testkit.WriteFile(t, filepath.Join(dir, "calc.go"), "package calc\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n\n// Mul multiplies, faster.\nfunc Mul(a, b int) int { return a + b }\n")
	testkit.Git(t, dir, "commit", "-q", "-am", "sprint: a faster Mul")
	return dir
}

// analyzeFiles are the files analyze collects in every repository.
var analyzeFiles = []string{"git_reflog.txt", "git_graph.txt", "test_results.txt", "test_summary.txt",
	"coverage.txt", "disk_space.txt", "memory.txt", "analysis.md"}

// checkAnalysis checks that every file is in the run folder and, the same,
// in outDir, and returns the run folder.
func checkAnalysis(t *testing.T, repo, runID, outDir string, files []string) string {
	t.Helper()
	runDir := filepath.Join(repo, ".git", "rbflow", "runs", runID)
	for _, f := range files {
		inRun := readFile(t, filepath.Join(runDir, f))
		if strings.TrimSpace(inRun) == "" {
			t.Errorf("%s is empty in the run folder", f)
		}
		if inOut := readFile(t, filepath.Join(outDir, f)); inOut != inRun {
			t.Errorf("%s in %s differs from the run folder's:\n%s\nwant:\n%s", f, outDir, inOut, inRun)
		}
	}
	return runDir
}

func TestAnalyzeSeedRepo(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	repo := seedRepo(t)
	// A performance script, which analyze runs because it is there.
	testkit.WriteFile(t, filepath.Join(repo, "scripts", "baseline_performance.py"), "print('requests/s: 1234')\n")

	out, errOut, code := rbflow(t, repo, "run", "analyze", "--set", "test_command="+pytest+" -v", "--set", "test_dir=backend")
	if code != 0 {
		t.Fatalf("rbflow run analyze = %d, want 0\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, repo)
	outDir := filepath.Join(repo, "rollbacks", "analysis-"+id[:15])
	files := append(slices.Clone(analyzeFiles), "performance.txt", "pip_freeze.txt", "npm_list.txt")
	runDir := checkAnalysis(t, repo, id, outDir, files)
	if _, err := os.Stat(filepath.Join(runDir, "go_list.txt")); err == nil {
		t.Errorf("go_list.txt was written in a repository without go.mod")
	}

	// Real figures: the repository's own history and the real test counts.
	if got, want := readFile(t, filepath.Join(runDir, "git_reflog.txt")), testkit.Git(t, repo, "reflog"); got != want {
		t.Errorf("git_reflog.txt =\n%s\nwant git reflog:\n%s", got, want)
	}
	if got, want := readFile(t, filepath.Join(runDir, "git_graph.txt")), testkit.Git(t, repo, "log", "--graph", "--oneline", "--decorate", "-20"); got != want {
		t.Errorf("git_graph.txt =\n%s\nwant:\n%s", got, want)
	}
	summary := readFile(t, filepath.Join(runDir, "test_summary.txt"))
	for _, want := range []string{"tests: 1 passed, 1 failed, 0 skipped, 0 errors", "FAILED tests/unit/test_pricing.py::TotalTest::test_discount"} {
		if !strings.Contains(summary, want) {
			t.Errorf("test_summary.txt lacks %q:\n%s", want, summary)
		}
	}
	if results := readFile(t, filepath.Join(runDir, "test_results.txt")); !strings.Contains(results, "1 failed, 1 passed") || !strings.Contains(results, "test_discount FAILED") {
		t.Errorf("test_results.txt is not pytest -v's output:\n%s", results)
	}
	report := readFile(t, filepath.Join(runDir, "analysis.md"))
	lastGood := strings.TrimSpace(testkit.Git(t, repo, "log", "baseline", "-1", "--format=%h %s"))
	for _, want := range []string{
		"# Failure Analysis Report",
		"- Last successful commit: " + lastGood,
		"- Failed branch: refactor/sprint-3",
		": 1 passed, 1 failed, 0 skipped, 0 errors",
		"FAILED tests/unit/test_pricing.py::TotalTest::test_discount",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("analysis.md lacks %q:\n%s", want, report)
		}
	}
	if perf := readFile(t, filepath.Join(runDir, "performance.txt")); perf != "requests/s: 1234\n" {
		t.Errorf("performance.txt = %q, want the script's output", perf)
	}
	cov := readFile(t, filepath.Join(runDir, "coverage.txt"))
	if exec.Command(strings.Fields(pytest)[0], "-c", "import pytest_cov").Run() == nil {
		if !regexp.MustCompile(`app/pricing\.py +2 +0 +100%`).MatchString(cov) || !strings.Contains(cov, "TOTAL") {
			t.Errorf("coverage.txt lacks pytest-cov's table of backend/:\n%s", cov)
		}
	} else if !strings.HasPrefix(cov, "coverage skipped: ") {
		t.Errorf("coverage.txt without pytest-cov = %q, want the note that it was skipped", cov)
	}
	if disk := readFile(t, filepath.Join(runDir, "disk_space.txt")); !strings.Contains(disk, "Filesystem") {
		t.Errorf("disk_space.txt is not df -h's output:\n%s", disk)
	}
	if mem := readFile(t, filepath.Join(runDir, "memory.txt")); !strings.Contains(mem, "Mem") {
		t.Errorf("memory.txt is not free -m's output:\n%s", mem)
	}
	if npm := readFile(t, filepath.Join(runDir, "npm_list.txt")); !strings.Contains(npm, "demo-frontend@1.0.0") && !strings.Contains(npm, "exited with status") {
		t.Errorf("npm_list.txt is neither npm list's tree nor its failure:\n%s", npm)
	}
	if summary := readFile(t, filepath.Join(runDir, "summary.md")); !strings.Contains(summary, "- Analysis report: "+filepath.Join(outDir, "analysis.md")+"\n") {
		t.Errorf("summary.md does not name the analysis report:\n%s", summary)
	}
	// The user's work in progress is as it was.
	if st := testkit.Git(t, repo, "status", "--porcelain"); !strings.Contains(st, " M backend/app/pricing.py") || !strings.Contains(st, "?? backend/app/notes.py") {
		t.Errorf("git status after analyze =\n%s\nwant the edit and the untracked file still there", st)
	}
}

func TestAnalyzeGoRepo(t *testing.T) {
	t.Parallel()
	repo := goRepo(t)
	outDir := filepath.Join(t.TempDir(), "analysis out")
	out, errOut, code := rbflow(t, repo, "run", "analyze", "--set", "out_dir="+outDir)
	if code != 0 {
		t.Fatalf("rbflow run analyze = %d, want 0\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, repo)
	runDir := checkAnalysis(t, repo, id, outDir, append(slices.Clone(analyzeFiles), "go_list.txt"))
	for _, f := range []string{"pip_freeze.txt", "npm_list.txt", "performance.txt"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err == nil {
			t.Errorf("%s was written in a Go repository without it", f)
		}
	}
	if _, err := os.Stat(filepath.Join(repo, "rollbacks")); err == nil {
		t.Errorf("rollbacks/ was made although out_dir was given")
	}
	for file, want := range map[string]string{
		"test_summary.txt": "tests: 2 passed, 1 failed, 0 skipped, 0 errors\nFAILED example.com/calc.TestMul\n",
		"coverage.txt":     "coverage: 100.0% of statements",
		"go_list.txt":      "example.com/calc",
		"analysis.md":      "FAILED example.com/calc.TestMul - calc_test.go:13: Mul(2, 3) = 5, want 6",
	} {
		if got := readFile(t, filepath.Join(runDir, file)); !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", file, want, got)
		}
	}
	report := readFile(t, filepath.Join(runDir, "analysis.md"))
	if !strings.Contains(report, "- Failed branch: sprint") || !strings.Contains(report, "- Last successful commit: ") || !strings.Contains(report, " calc: Add and Mul") {
		t.Errorf("analysis.md lacks the failed branch or the baseline's last commit:\n%s", report)
	}
}

// TestAnalyzeKilledAndResumed kills rbflow with SIGKILL while the tests run
// and finishes the run with rbflow resume: the result is what an
// uninterrupted run gives.
func TestAnalyzeKilledAndResumed(t *testing.T) {
	t.Parallel()
	repo := goRepo(t)
	// The first attempt of the tests waits long enough to be killed.
	mark := filepath.Join(t.TempDir(), "slept")
	slow := fmt.Sprintf(`if [ ! -e '%[1]s' ]; then touch '%[1]s'; sleep 60; fi; go test -json ./...`, mark)
	cmd := rbflowCmd(t, repo, "run", "analyze", "--set", "test_command="+slow)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, time.Minute, "the tests to start", func() bool {
		_, err := os.Stat(mark)
		return err == nil
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	id := lastRunID(t, repo)
	if st, _, _ := rbflow(t, repo, "status", id, "--json"); !regexp.MustCompile(`^\{[^{]*"status": "interrupted"`).MatchString(st) {
		t.Fatalf("after the kill the run is not interrupted:\n%s\n%s", st, out.String())
	}

	resumed, errOut, code := rbflow(t, repo, "resume", "--yes")
	if code != 0 {
		t.Fatalf("rbflow resume = %d, want 0\n%s%s", code, resumed, errOut)
	}
	files := append(slices.Clone(analyzeFiles), "go_list.txt")
	killedDir := checkAnalysis(t, repo, id, filepath.Join(repo, "rollbacks", "analysis-"+id[:15]), files)

	// An uninterrupted run of the same analysis, for comparison.
	if _, errOut, code := rbflow(t, repo, "run", "analyze", "--set", "test_command="+slow); code != 0 {
		t.Fatalf("second rbflow run analyze = %d, want 0\n%s", code, errOut)
	}
	id2 := lastRunID(t, repo)
	if id2 == id {
		t.Fatalf("no second run")
	}
	plainDir := checkAnalysis(t, repo, id2, filepath.Join(repo, "rollbacks", "analysis-"+id2[:15]), files)
	for _, dir := range []string{killedDir, plainDir} {
		entries, _ := os.ReadDir(filepath.Join(repo, "rollbacks", "analysis-"+filepath.Base(dir)[:15]))
		if len(entries) != len(files) {
			t.Errorf("%s holds %d files, want %d: %v", dir, len(entries), len(files), entries)
		}
	}
	for _, f := range []string{"test_summary.txt", "go_list.txt", "git_graph.txt"} {
		if killed, plain := readFile(t, filepath.Join(killedDir, f)), readFile(t, filepath.Join(plainDir, f)); killed != plain {
			t.Errorf("%s of the killed and resumed run differs from an uninterrupted run's:\n%s\nwant:\n%s", f, killed, plain)
		}
	}
	// test_results.txt holds one whole run of the tests (times differ).
	started := regexp.MustCompile(`"Action":"run"`)
	for _, dir := range []string{killedDir, plainDir} {
		if n := len(started.FindAllString(readFile(t, filepath.Join(dir, "test_results.txt")), -1)); n != 3 {
			t.Errorf("test_results.txt of run %s shows %d tests starting, want 3", filepath.Base(dir), n)
		}
	}
	if report := readFile(t, filepath.Join(killedDir, "analysis.md")); !strings.Contains(report, ": 2 passed, 1 failed, 0 skipped, 0 errors") {
		t.Errorf("analysis.md of the resumed run lacks the test counts:\n%s", report)
	}
}

func TestAnalyzeValidateAndDryRun(t *testing.T) {
	t.Parallel()
	repo := seedRepo(t)
	out, errOut, code := rbflow(t, repo, "validate", "analyze")
	if code != 0 || !strings.Contains(out, "analyze: ok") {
		t.Fatalf("rbflow validate analyze = %d\n%s%s", code, out, errOut)
	}
	before := manifest(t, repo)

	out, errOut, code = rbflow(t, repo, "run", "analyze", "--dry-run")
	if code != 0 {
		t.Fatalf("rbflow run analyze --dry-run = %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"dry run of analyze: nothing will be changed",
		"1. previous (record) — runs",
		"| read the latest rollback of this repository from rbflow's store",
		"2. branches (run) — runs, after previous",
		"3. failed_tree (run) — runs, after branches",
		"4. reflog (run) — runs",
		"| git reflog > \"$RBFLOW_RUN_DIR/git_reflog.txt\"",
		"6. tests (test) — runs, after failed_tree",
		"| eval \"$TEST_COMMAND\"",
		"| # results: pytest (auto), read from standard output",
		"9. performance (run) — skipped (if is false), after coverage",
		"10. pip_freeze (run) — runs",
		"11. npm_list (run) — runs",
		"12. go_list (run) — skipped (if is false)",
		"15. analysis (report) — depends on runtime, after reflog, graph, test_summary, coverage, performance, pip_freeze, npm_list, go_list, disk, memory",
		"/analysis.md (and a copy in the run folder)",
		"| for f in git_reflog.txt git_graph.txt",
		"finally:\n16. remove_failed_tree (run) — runs",
		"19. summary (report) — runs, after publish",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run lacks %q:\n%s", want, out)
		}
	}

	if after := manifest(t, repo); after != before {
		t.Errorf("a dry run changed the repository:\n%s\nwant:\n%s", after, before)
	}
	if _, err := os.Stat(filepath.Join(repo, "rollbacks")); err == nil {
		t.Errorf("a dry run made rollbacks/")
	}
}

// TestReportsExcludedFromGit (issue 14): the reports rbflow keeps under
// rollbacks/ are excluded through .git/info/exclude (added once, the
// user's lines kept), so the tree stays clean and precheck, which refuses
// uncommitted changes, does not fail on them.
func TestReportsExcludedFromGit(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	testkit.Git(t, repo, "branch", "-M", "baseline")
	exclude := filepath.Join(repo, ".git", "info", "exclude")
	testkit.WriteFile(t, exclude, "# mine\n*.log")
	for i := 0; i < 2; i++ {
		if o, e, code := rbflow(t, repo, "run", "analyze", "--set", "test_command=true"); code != 0 {
			t.Fatalf("analyze: exit %d\n%s%s", code, o, e)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(repo, "rollbacks")); len(entries) != 2 {
		t.Fatalf("rollbacks/ holds %d entries, want the two analyses", len(entries))
	}
	if st := testkit.Git(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("git status after analyze:\n%s", st)
	}
	text := readFile(t, exclude)
	if !strings.HasPrefix(text, "# mine\n*.log\n") || strings.Count(text, "/rollbacks/") != 1 {
		t.Errorf(".git/info/exclude =\n%s\nwant the user's lines kept and /rollbacks/ once", text)
	}
	if o, e, code := rbflow(t, repo, "run", "precheck", "--set", "test_command=true"); code != 0 {
		t.Errorf("precheck after analyze: exit %d\n%s%s", code, o, e)
	}
}

// TestAnalyzeAfterSprintRollback (issue 14): after a sprint rollback,
// analyze with no params takes its branches and times from that rollback,
// runs the failed branch's tests in a temporary worktree (not the retry
// branch's, which is checked out), and derives its causes from the data:
// the dependency change, the code changed where the test fails, and what
// the failure says. The checklist without a run id is the rollback's.
func TestAnalyzeAfterSprintRollback(t *testing.T) {
	t.Parallel()
	repo := goRepo(t)
	testkit.Git(t, repo, "switch", "-q", "baseline")
	testkit.WriteFile(t, filepath.Join(repo, "requirements.txt"), "requests==2.31.0\n")
	testkit.Git(t, repo, "add", "requirements.txt")
	testkit.Git(t, repo, "commit", "-q", "-m", "pin requests")
	testkit.Git(t, repo, "switch", "-q", "sprint")
	testkit.Git(t, repo, "merge", "-q", "--no-edit", "baseline")
	testkit.WriteFile(t, filepath.Join(repo, "requirements.txt"), "requests==2.0.0\nflask==3.0.0\n")
	testkit.Git(t, repo, "commit", "-q", "-am", "sprint: older requests, flask")

	// The sprint's own test runs are not what this checks (analyze runs
	// the failed branch's): a quick command stands in for them.
	if out, errOut, code := rbflow(t, repo, "run", "sprint", "--set", "sprint=7", "--set", "reason=Mul broke", "--set", "test_command=true"); code != 0 {
		t.Fatalf("rbflow run sprint = %d\n%s%s", code, out, errOut)
	}
	sprintRun := lastRunID(t, repo)
	if b := strings.TrimSpace(testkit.Git(t, repo, "branch", "--show-current")); b != "refactor/sprint-7-retry" {
		t.Fatalf("after the sprint rollback the branch is %q", b)
	}

	out, errOut, code := rbflow(t, repo, "run", "analyze")
	if code != 0 {
		t.Fatalf("rbflow run analyze = %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, repo)
	report := readFile(t, filepath.Join(repo, ".git", "rbflow", "runs", id, "analysis.md"))
	for _, want := range []string{
		"- Rolled back: run `" + sprintRun + "` of sprint, ",
		"- Failed branch: sprint, 3 commits and 2 files changed since `baseline`",
		// The failed branch's tests, labelled with it: the retry
		// branch (checked out) passes them all.
		"tests on sprint: 2 passed, 1 failed",
		"FAILED example.com/calc.TestMul - calc_test.go:13: Mul(2, 3) = 5, want 6",
		"- **Dependencies changed on sprint**\n  - requirements.txt: +requests==2.0.0; +flask==3.0.0; -requests==2.31.0",
		"- **Code changed where the tests fail**\n  - calc.go (+2 -2)\n- **",
		"- **Behaviour changed (assertions fail) (1 failure)**\n  - example.com/calc.TestMul: calc_test.go:13: Mul(2, 3) = 5, want 6",
		"1. Check the failures against the dependency changes: `git diff baseline...sprint -- requirements.txt`",
		"2. Review these changes first: `git diff baseline...sprint -- .`",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("analysis.md lacks %q:\n%s", want, report)
		}
	}
	for _, template := range []string{"[ ] Dependency conflict", "Check for circular imports", "Failure detected"} {
		if strings.Contains(report, template) {
			t.Errorf("analysis.md still holds the seed's template text %q", template)
		}
	}
	if wt := testkit.Git(t, repo, "worktree", "list"); strings.Count(wt, "\n") != 1 {
		t.Errorf("the temporary worktree was left:\n%s", wt)
	}
	if b := strings.TrimSpace(testkit.Git(t, repo, "branch", "--show-current")); b != "refactor/sprint-7-retry" {
		t.Errorf("analyze changed the checked-out branch to %q", b)
	}

	// Given branches win over the rollback's (the tests are not what
	// this checks: a quick command stands in for them).
	out, errOut, code = rbflow(t, repo, "run", "analyze", "--set", "failed_branch=baseline", "--set", "out_dir="+t.TempDir(),
		"--set", "test_command=test -f calc.go", "--set", "coverage_command=true")
	if code != 0 {
		t.Fatalf("rbflow run analyze --set failed_branch=baseline = %d\n%s%s", code, out, errOut)
	}
	report = readFile(t, filepath.Join(repo, ".git", "rbflow", "runs", lastRunID(t, repo), "analysis.md"))
	if !strings.Contains(report, "tests on baseline: exit code only: the suite passed") || !strings.Contains(report, "- Failed branch: baseline, 0 commits") {
		t.Errorf("analyze --set failed_branch=baseline did not test the baseline:\n%s", report)
	}

	out, errOut, code = rbflow(t, repo, "checklist")
	if code != 0 || !strings.Contains(out, "post-rollback checklist of run "+sprintRun+" (sprint,") {
		t.Errorf("rbflow checklist (no run) = %d, want the sprint rollback's checklist:\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`\[x\][^\n]*Failure analysis completed`).MatchString(out) {
		t.Errorf("the checklist does not tick the analysis that ran:\n%s", out)
	}
}
