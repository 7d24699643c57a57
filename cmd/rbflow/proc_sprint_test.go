package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/steps"
)

// The built-in sprint procedure (the seed's Level 2) on real repositories:
// the seed-shaped one with pytest, and a Go module.

// statusOf returns rbflow status --json of a run.
func statusOf(t *testing.T, dir, id string) runJSON {
	t.Helper()
	out, errOut, code := query(t, dir, "status", id, "--json")
	if code != 0 {
		t.Fatalf("status %s: exit %d\n%s%s", id, code, out, errOut)
	}
	var st runJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// stepOf returns one step of a run's status.
func stepOf(t *testing.T, st runJSON, id string) stepJSON {
	t.Helper()
	for _, s := range st.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("run %s has no step %s", st.ID, id)
	return stepJSON{}
}

// allRuns returns every run of the repository's state folder, child runs
// included, newest first.
func allRuns(t *testing.T, dir string) []runJSON {
	t.Helper()
	out, errOut, code := query(t, dir, "runs", "--all", "--json")
	if code != 0 {
		t.Fatalf("runs --all: exit %d\n%s%s", code, out, errOut)
	}
	var runs []runJSON
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var r runJSON
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("runs --json: %v\n%s", err, out)
		}
		runs = append(runs, r)
	}
	return runs
}

// metricsOf returns rbflow metrics --json.
func metricsOf(t *testing.T, dir string) steps.Metrics {
	t.Helper()
	out, errOut, code := query(t, dir, "metrics", "--json")
	if code != 0 {
		t.Fatalf("metrics: exit %d\n%s%s", code, out, errOut)
	}
	var m steps.Metrics
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("metrics --json: %v\n%s", err, out)
	}
	return m
}

// treeState is manifest() with HEAD given as its tree: repositories built
// by the same script at different times hold the same trees under other
// commit ids. Paths under the prefixes in skip are left out.
func treeState(t *testing.T, dir string, skip ...string) string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(manifest(t, dir), "\n") {
		if strings.HasPrefix(l, "HEAD ") {
			l = "TREE " + strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD^{tree}"))
		}
		keep := true
		for _, s := range skip {
			keep = keep && !strings.HasPrefix(l, `F "`+s)
		}
		if keep {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var commitIDRE = regexp.MustCompile(`\b[0-9a-f]{7,40}\b`)

var backupTimeRE = regexp.MustCompile(`^(backup/sprint-\d+-)(\d{8}_\d{6})$`)

// sprintOutcome describes what a sprint rollback left, in terms that do
// not depend on when it ran: the branches with their trees and tip
// subjects, the work tree (reports aside) and the report's figures.
func sprintOutcome(t *testing.T, dir string, sprint int) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "on %s\n", strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")))
	for _, l := range strings.Split(strings.TrimSpace(testkit.Git(t, dir, "for-each-ref", "--format=%(refname:short)", "refs/heads")), "\n") {
		name := backupTimeRE.ReplaceAllString(l, "${1}TIME")
		fmt.Fprintf(&b, "branch %s tree %s: %s", name, strings.TrimSpace(testkit.Git(t, dir, "rev-parse", l+"^{tree}")), testkit.Git(t, dir, "log", "-1", "--format=%s", l))
	}
	b.WriteString(treeState(t, dir, "rollbacks/"))
	reports := filepath.Join(dir, "rollbacks", fmt.Sprintf("sprint-%d", sprint))
	entries, _ := os.ReadDir(reports)
	for _, e := range entries {
		fmt.Fprintf(&b, "\nreport file %s", e.Name())
	}
	report, _ := os.ReadFile(filepath.Join(reports, "report.md"))
	for _, l := range strings.Split(string(report), "\n") {
		if strings.Contains(l, "Tests failing") || strings.HasPrefix(l, "  - `tests`") || strings.Contains(l, "files modified") || strings.HasPrefix(l, "Branch:") || strings.HasPrefix(l, "Reason:") {
			fmt.Fprintf(&b, "\nreport: %s", commitIDRE.ReplaceAllString(l, "COMMIT"))
		}
	}
	return b.String()
}

// pytestCounts runs a pytest command in dir and returns its failed and
// passed counts, as the test's own reference.
func pytestCounts(t *testing.T, dir, command string) (failed, passed int) {
	t.Helper()
	out, _ := shell(dir, command+" -p no:cacheprovider")
	m := regexp.MustCompile(`(\d+) failed, (\d+) passed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no pytest summary in\n%s", command, out)
	}
	failed, _ = strconv.Atoi(m[1])
	passed, _ = strconv.Atoi(m[2])
	return failed, passed
}

// shell runs a script in dir, leaving no Python bytecode behind.
func shell(dir, script string) (string, error) {
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSprintRollbackSeedRepo(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	dir := seedRepo(t)
	before := manifest(t, dir)
	oldHead := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD"))
	baseline := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "baseline"))
	changed := len(strings.Fields(testkit.Git(t, dir, "diff", "--name-only", "baseline")))
	// The report counts untracked files too (git.ChangedFiles); git diff
	// --stat, in changes.txt, does not.
	untracked := len(strings.Fields(testkit.Git(t, dir, "ls-files", "--others", "--exclude-standard")))
	failed, passed := pytestCounts(t, dir, pytest)

	out, errOut, code := rbflow(t, dir, "run", "sprint", "--set", "sprint=3", "--set", "reason=discounts in percent broke pricing",
		"--set", "test_command="+pytest)
	if code != 0 {
		t.Fatalf("run sprint: exit %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, dir)
	stamp := strings.ReplaceAll(id[:15], "-", "_")
	backup := "backup/sprint-3-" + stamp

	// Git: on the retry branch at the baseline; the failed branch and the
	// backup hold the work in progress, untracked files too, .env not.
	if br := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); br != "refactor/sprint-3-retry" {
		t.Errorf("on branch %q, want refactor/sprint-3-retry", br)
	}
	if head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD")); head != baseline {
		t.Errorf("HEAD %s, want the baseline %s", head, baseline)
	}
	wip := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", backup))
	if tip := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "refactor/sprint-3")); tip != wip {
		t.Errorf("refactor/sprint-3 at %s, backup %s at %s: want both at the WIP commit", tip, backup, wip)
	}
	if msg := strings.TrimSpace(testkit.Git(t, dir, "log", "-1", "--format=%s%n%P", wip)); msg != "WIP: Sprint 3 before rollback\n"+oldHead {
		t.Errorf("WIP commit %q, want the WIP message on top of %s", msg, oldHead)
	}
	if got := testkit.Git(t, dir, "show", wip+":backend/app/notes.py"); !strings.Contains(got, "untracked work in progress") {
		t.Errorf("the untracked notes.py is not in the WIP commit: %q", got)
	}
	if got := testkit.Git(t, dir, "show", wip+":backend/app/pricing.py"); !strings.Contains(got, "TODO: migrate callers") {
		t.Errorf("the uncommitted edit of pricing.py is not in the WIP commit: %q", got)
	}
	if files := testkit.Git(t, dir, "ls-tree", "-r", "--name-only", wip); strings.Contains(files, ".env") {
		t.Errorf("the ignored .env was committed:\n%s", files)
	}
	if _, err := os.Stat(filepath.Join(dir, ".env")); err != nil {
		t.Errorf("the ignored .env is gone from the work tree: %v", err)
	}

	// Reports: in the run folder and, last, in rollbacks/sprint-3, with the
	// real figures.
	st := statusOf(t, dir, id)
	report := filepath.Join(dir, "rollbacks", "sprint-3", "report.md")
	text, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	// The copy in the tree is final: written after the rollback's last
	// change, it says how the run ended and that every step ran (the
	// copy made mid-run said "running", the later steps "not run").
	runCopy, err := os.ReadFile(filepath.Join(dir, ".git", "rbflow", "runs", id, "keep_report.md"))
	if err != nil || string(runCopy) != string(text) {
		t.Errorf("the run folder's copy of the kept report differs from rollbacks/sprint-3/report.md (%v)", err)
	}
	if strings.Contains(string(text), "not run") || strings.Contains(string(text), "running") || !strings.Contains(string(text), ", succeeded, ") {
		t.Errorf("rollbacks/sprint-3/report.md is not final:\n%s", text)
	}
	for _, want := range []string{
		"# Sprint 3 Rollback Report",
		"Branch: refactor/sprint-3\n",
		"Reason: discounts in percent broke pricing",
		fmt.Sprintf("- [x] Tests failing\n  - `tests` on refactor/sprint-3: %d passed, %d failed", passed, failed),
		fmt.Sprintf("%d files changed since `baseline`", changed+untracked),
		"test_discount",
		"kept on " + backup,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("report.md lacks %q:\n%s", want, text)
		}
	}
	evidence := map[string]string{
		"git_log.txt":       "Sprint 3: discounts in percent",
		"changes.txt":       fmt.Sprintf("%d files changed", changed),
		"test_failures.txt": fmt.Sprintf("%d failed, %d passed", failed, passed),
	}
	for name, want := range evidence {
		b, err := os.ReadFile(filepath.Join(dir, "rollbacks", "sprint-3", name))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("rollbacks/sprint-3/%s lacks %q (%v):\n%s", name, want, err, b)
		}
	}
	if n := len(readLines(t, filepath.Join(dir, "rollbacks", "sprint-3", "git_log.txt"))); n == 0 {
		t.Errorf("git_log.txt is empty")
	}
	if status := strings.TrimSpace(testkit.Git(t, dir, "status", "--porcelain")); status != "" {
		t.Errorf("git status after the rollback: %q, want clean: the reports under rollbacks/ are excluded (.git/info/exclude)", status)
	}
	if out := stepOf(t, st, "retry_tests").Outputs; out["failed"] != 0.0 || out["passed"] != float64(failed+passed) {
		t.Errorf("tests on the retry branch: %v, want all %d passed", out, failed+passed)
	}
	if m := metricsOf(t, dir); m.ByLevel["sprint"] != 1 || m.ByCause["discounts in percent broke pricing"] != 1 {
		t.Errorf("metrics: %+v, want the rollback counted with its cause and level", m)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "rbflow", "runs", id, "summary.md")); err != nil {
		t.Errorf("no summary in the run folder: %v", err)
	}

	// Nothing is lost: undo brings back the tree from before the run.
	if o, e, code := rbflow(t, dir, "undo", id); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
}

// goSprintRepo makes a Go module with a baseline whose tests pass and the
// failed branch refactor/sprint-7 checked out: a broken function
// committed, an uncommitted edit, an untracked file and an ignored one.
func goSprintRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "calc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "init", "-q", "-b", "baseline")
	testkit.WriteFile(t, filepath.Join(dir, "go.mod"), "module example.com/calc\n\ngo 1.21\n")
	testkit.WriteFile(t, filepath.Join(dir, ".gitignore"), "*.out\n")
	testkit.WriteFile(t, filepath.Join(dir, "calc", "calc.go"), "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Mul(a, b int) int { return a * b }\n")
	testkit.WriteFile(t, filepath.Join(dir, "calc", "calc_test.go"), `package calc

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

func TestMulZero(t *testing.T) {
	if got := Mul(0, 3); got != 0 {
		t.Fatalf("Mul(0, 3) = %d, want 0", got)
	}
}
`)
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "Baseline: calc")
	testkit.Git(t, dir, "switch", "-q", "-c", "refactor/sprint-7")
	testkit.WriteFile(t, filepath.Join(dir, "calc", "calc.go"), "package calc\n\nfunc Add(a, b int) int { return a + b }\n\n// Mul is faster now.\nfunc Mul(a, b int) int { return a*b + 1 }\n")
	testkit.Git(t, dir, "commit", "-q", "-am", "Sprint 7: faster Mul")
	testkit.WriteFile(t, filepath.Join(dir, "calc", "calc.go"), "package calc\n\nfunc Add(a, b int) int { return a + b }\n\n// Mul is faster now.\nfunc Mul(a, b int) int { return a*b + 1 } // TODO: fix\n")
	testkit.WriteFile(t, filepath.Join(dir, "calc", "div.go"), "package calc\n\n// Div is work in progress.\nfunc Div(a, b int) int { return a / b }\n")
	testkit.WriteFile(t, filepath.Join(dir, "cover.out"), "mode: set\n")
	return dir
}

func TestSprintRollbackGoRepo(t *testing.T) {
	t.Parallel()
	dir := goSprintRepo(t)
	before := manifest(t, dir)
	baseline := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "baseline"))

	// No test_command: go.mod makes it go test -json ./..., read per test.
	out, errOut, code := rbflow(t, dir, "run", "sprint", "--set", "sprint=7")
	if code != 0 {
		t.Fatalf("run sprint: exit %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, dir)
	st := statusOf(t, dir, id)
	if br := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); br != "refactor/sprint-7-retry" {
		t.Errorf("on branch %q, want refactor/sprint-7-retry", br)
	}
	if head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD")); head != baseline {
		t.Errorf("HEAD %s, want the baseline %s", head, baseline)
	}
	backup := "backup/sprint-7-" + strings.ReplaceAll(id[:15], "-", "_")
	if got := testkit.Git(t, dir, "show", backup+":calc/div.go"); !strings.Contains(got, "work in progress") {
		t.Errorf("%s lacks the untracked div.go: %q", backup, got)
	}
	tests := stepOf(t, st, "tests")
	if tests.Outputs["format"] != "go-json" || tests.Outputs["failed"] != 2.0 || tests.Outputs["passed"] != 1.0 {
		t.Errorf("tests on the failed branch: %v, want go-json with TestMul and TestMulZero failed, TestAdd passed", tests.Outputs)
	}
	retry := stepOf(t, st, "retry_tests")
	if retry.Status != "succeeded" || retry.Outputs["passed"] != 3.0 || retry.Outputs["failed"] != 0.0 {
		t.Errorf("tests on the retry branch: %s %v, want 3 passed", retry.Status, retry.Outputs)
	}
	text, err := os.ReadFile(filepath.Join(dir, "rollbacks", "sprint-7", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- [x] Tests failing\n  - `tests` on refactor/sprint-7: 1 passed, 2 failed", "  - `retry_tests` on refactor/sprint-7-retry: 3 passed, 0 failed", "2 files changed since `baseline`", "- calc/calc.go\n- calc/div.go\n", "TestMulZero", "Reason: [FILL IN]"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("report.md lacks %q:\n%s", want, text)
		}
	}
	if o, e, code := rbflow(t, dir, "undo", id); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
}

// The sprint procedure refuses to commit work in progress to the baseline
// and changes nothing when it does.
func TestSprintRefusesTheBaseline(t *testing.T) {
	t.Parallel()
	dir := goSprintRepo(t)
	testkit.Git(t, dir, "stash", "-q", "-u")
	testkit.Git(t, dir, "switch", "-q", "baseline")
	before := manifest(t, dir)
	out, errOut, code := rbflow(t, dir, "run", "sprint", "--set", "sprint=7")
	if code != 1 || !strings.Contains(out+errOut, "never to the baseline") {
		t.Fatalf("sprint on the baseline: exit %d, want 1 and the refusal\n%s%s", code, out, errOut)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("the refused run changed the tree")
	}
	if refs := testkit.Git(t, dir, "for-each-ref", "refs/heads", "refs/rbflow"); strings.Contains(refs, "backup/") || strings.Contains(refs, "retry") || strings.Contains(refs, "refs/rbflow/") {
		t.Errorf("the refused run left refs:\n%s", refs)
	}
	if kept := keptRefs(t, dir); kept != "" {
		t.Errorf("the refused run kept snapshots:\n%s", kept)
	}
	if _, errOut, code := rbflow(t, dir, "run", "sprint"); code != 2 || !strings.Contains(errOut, "sprint") {
		t.Errorf("sprint without a sprint number: exit %d, want 2 naming the param: %s", code, errOut)
	}
}

// A sprint rollback killed with SIGKILL while its tests run is finished by
// rbflow resume --yes, with the outcome of a run that was not cut off.
func TestSprintKilledDuringTestsResumes(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	aux := t.TempDir()
	flag := filepath.Join(aux, "slow-once")
	slow := fmt.Sprintf("if [ ! -f %[1]q ]; then touch %[1]q; sleep 60; fi; %s", flag, pytest)

	want := seedRepo(t)
	testkit.WriteFile(t, flag+".ref", "")
	ref := fmt.Sprintf("if [ ! -f %[1]q ]; then touch %[1]q; sleep 60; fi; %s", flag+".ref", pytest)
	if o, e, code := rbflow(t, want, "run", "sprint", "--set", "sprint=3", "--set", "test_command="+ref); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}

	dir := seedRepo(t)
	cmd := rbflowCmd(t, dir, "run", "sprint", "--set", "sprint=3", "--set", "test_command="+slow)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testkit.WaitFor(t, 30*time.Second, "the slow test step", func() bool { _, err := os.Stat(flag); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	run, recs := stepRecords(t, filepath.Join(dir, ".git", "rbflow"))
	if run.Status != engine.RunRunning || recs["tests"] == nil || recs["tests"].Status != engine.StepRunning || recs["wip"] != nil {
		t.Fatalf("after the kill: run %s, tests %+v, wip %+v; want the run cut off in its tests\n%s", run.Status, recs["tests"], recs["wip"], out.String())
	}
	if o, e, code := rbflow(t, dir, "resume", "--yes"); code != 0 {
		t.Fatalf("resume --yes: exit %d\n%s%s", code, o, e)
	}
	if got, want := sprintOutcome(t, dir, 3), sprintOutcome(t, want, 3); got != want {
		t.Errorf("killed and resumed, the outcome differs from an uninterrupted run\n--- want\n%s\n--- got\n%s", want, got)
	}
	st := statusOf(t, dir, run.ID)
	if st.Status != "succeeded" || stepOf(t, st, "wip").Outputs["committed"] != true {
		t.Errorf("resumed run %s, wip %v; want succeeded with the WIP committed once", st.Status, stepOf(t, st, "wip").Outputs)
	}
}

// A sprint rollback killed at random points, again and again, each time
// resumed with --yes, ends as an uninterrupted run does, and undo still
// brings back the tree from before it.
func TestSprintKilledAtRandomResumes(t *testing.T) {
	t.Parallel()
	want := goSprintRepo(t)
	args := []string{"run", "sprint", "--set", "sprint=7", "--set", "test_command=go vet ./..."}
	if o, e, code := rbflow(t, want, args...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}
	dir := goSprintRepo(t)
	before := manifest(t, dir)
	out, code := killAndResume(t, dir, killer{kills: sweep(4), delay: randomDelay(rand.New(rand.NewSource(7)))}, args...)
	if code != 0 {
		t.Fatalf("the resumed run: exit %d, want 0\n%s", code, out)
	}
	if got, want := sprintOutcome(t, dir, 7), sprintOutcome(t, want, 7); got != want {
		t.Errorf("killed and resumed, the outcome differs from an uninterrupted run\n--- want\n%s\n--- got\n%s", want, got)
	}
	branches := strings.Fields(testkit.Git(t, dir, "for-each-ref", "--format=%(refname:short)", "refs/heads/backup"))
	sort.Strings(branches)
	if len(branches) != 1 {
		t.Errorf("backup branches %v, want one", branches)
	}
	if o, e, code := rbflow(t, dir, "undo", lastRunID(t, dir)); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("killed, resumed and undone, the tree differs from before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
}
