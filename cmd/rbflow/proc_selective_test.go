package main

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// This file holds the tests of the built-in selective procedure and the
// helpers that the tests of the other built-ins (recover, validate) share.

// goShopTest is the test of package pkg in goShop: it leaves a mark named
// after the package in the repository's .git/test-marks (out of the work
// tree) when it runs, then checks the package.
const goShopTest = `package %[1]s

import (
	"os"
	"path/filepath"
	"testing"
)

func Test%[2]s(t *testing.T) {
	dir := filepath.Join("..", ".git", "test-marks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "%[1]s"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	%[3]s
}
`

// goShop builds a Go module shaped like the seed's project: packages calc,
// api, store and util with tests, a baseline branch, and the failed branch
// sprint checked out with two commits ("Sprint: calc rewritten" breaks
// calc's test, "Sprint: api v2" adds api/v2.go), an uncommitted edit of
// store/store.go, an untracked notes.txt and an ignored .env.
func goShop(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	dir := filepath.Join(t.TempDir(), "shop")
	testkit.Git(t, t.TempDir(), "init", "-q", "-b", "baseline", dir)
	files := map[string]string{
		"go.mod":       "module example.com/shop\n\ngo 1.21\n",
		".gitignore":   ".env\n",
		"calc/calc.go": "package calc\n\n// Add returns a + b.\nfunc Add(a, b int) int { return a + b }\n",
		"calc/calc_test.go": fmt.Sprintf(goShopTest, "calc", "Add",
			`if got := Add(2, 3); got != 5 {
		t.Fatalf("Add(2, 3) = %d, want 5", got)
	}`),
		"api/api.go":             "package api\n\n// Route is the API's path.\nfunc Route() string { return \"/v1\" }\n",
		"api/api_test.go":        fmt.Sprintf(goShopTest, "api", "Route", `if Route() != "/v1" { t.Fatal(Route()) }`),
		"store/store.go":         "package store\n\n// Name is the store's name.\nconst Name = \"shop\"\n",
		"store/store_test.go":    fmt.Sprintf(goShopTest, "store", "Name", `if Name != "shop" { t.Fatal(Name) }`),
		"util/util.go":           "package util\n\n// Twice doubles n.\nfunc Twice(n int) int { return 2 * n }\n",
		"util/util_test.go":      fmt.Sprintf(goShopTest, "util", "Twice", `if Twice(2) != 4 { t.Fatal(Twice(2)) }`),
		"README.md":              "# shop\n",
		"docs/rollback-notes.md": "nothing yet\n",
	}
	testkit.WriteFiles(t, dir, files)
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "Baseline: the shop")
	testkit.Git(t, dir, "switch", "-q", "-c", "sprint")
	testkit.Commit(t, dir, "Sprint: calc rewritten", map[string]string{
		"calc/calc.go": "package calc\n\n// Add returns a + b (rewritten).\nfunc Add(a, b int) int { return a - b }\n"})
	testkit.Commit(t, dir, "Sprint: api v2", map[string]string{
		"api/v2.go": "package api\n\n// RouteV2 is the new API's path.\nfunc RouteV2() string { return \"/v2\" }\n"})
	testkit.WriteFile(t, filepath.Join(dir, "store/store.go"), "package store\n\n// Name is the store's name.\nconst Name = \"shop\"\n\n// TODO: a second store\n")
	testkit.WriteFile(t, filepath.Join(dir, "notes.txt"), "untracked work in progress\n")
	testkit.WriteFile(t, filepath.Join(dir, ".env"), "TOKEN=not-a-secret\n")
	return dir
}

// testMarks lists the goShop packages whose tests ran, and forgets them.
func testMarks(t *testing.T, dir string) []string {
	t.Helper()
	marks := filepath.Join(dir, ".git", "test-marks")
	entries, _ := os.ReadDir(marks)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	if err := os.RemoveAll(marks); err != nil {
		t.Fatal(err)
	}
	return out
}

// cloneRepo copies a repository with its .git, so that two runs start
// from the same commits.
func cloneRepo(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(dir))
	if out, err := exec.Command("cp", "-a", dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	return dst
}

// newestRun returns the newest run of the repository and its steps.
func newestRun(t *testing.T, dir string) (*engine.Run, map[string]*engine.StepRecord) {
	t.Helper()
	run, recs := stepRecords(t, filepath.Join(dir, ".git", "rbflow"))
	if run == nil {
		t.Fatalf("no run in %s", dir)
	}
	return run, recs
}

// outputList returns a list output of a step as strings.
func outputList(rec *engine.StepRecord, key string) []string {
	if rec == nil {
		return nil
	}
	l, _ := rec.Outputs[key].([]any)
	out := []string{}
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// counts sums up a test step's outputs.
func counts(rec *engine.StepRecord) string {
	if rec == nil {
		return "(no step)"
	}
	o := rec.Outputs
	return fmt.Sprintf("%v passed, %v failed, %v total", o["passed"], o["failed"], o["total"])
}

// summaryOf reads the summary report of a run from its folder.
func summaryOf(t *testing.T, dir, runID string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".git", "rbflow", "runs", runID, "summary.md"))
	if err != nil {
		t.Fatalf("summary report: %v", err)
	}
	return string(b)
}

// treeFiles returns the file lines of manifest by path.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(manifest(t, dir), "\n") {
		if strings.HasPrefix(l, "F ") || strings.HasPrefix(l, "L ") {
			var p string
			fmt.Sscanf(l[2:], "%q", &p)
			out[p] = l
		}
	}
	return out
}

// sameExcept reports the paths of before and after that differ, but for
// those in except.
func sameExcept(before, after map[string]string, except ...string) []string {
	var diff []string
	for p, l := range before {
		if after[p] != l && !slices.Contains(except, p) {
			diff = append(diff, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && !slices.Contains(except, p) {
			diff = append(diff, p)
		}
	}
	sort.Strings(diff)
	return diff
}

// gitShow returns a file as a commit holds it.
func gitShow(t *testing.T, dir, rev, path string) string {
	t.Helper()
	return testkit.Git(t, dir, "show", rev+":"+path)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	return testkit.ReadFile(t, path)
}

// TestSelectiveSeed rolls back a file of the seed-shaped project: the file
// missing from the baseline is warned about and left alone, the one there
// is restored, its tests (and only those) run, the summary lists the files
// and the figures, and undo brings back the tree from before the run.
func TestSelectiveSeed(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	dir := seedRepo(t)
	before, beforeFiles := manifest(t, dir), treeFiles(t, dir)

	o, e, code := rbflow(t, dir, "run", "selective", "--set", "files=backend/app/pricing.py", "--set", "files=backend/app/tax.py",
		"--set", "test_command="+pytest)
	if code != 0 {
		t.Fatalf("selective: exit %d\n%s%s", code, o, e)
	}
	if !strings.Contains(o, "WARNING: backend/app/tax.py does not exist in baseline") {
		t.Errorf("no warning for the file the baseline lacks:\n%s", o)
	}
	if got, want := readFile(t, filepath.Join(dir, "backend/app/pricing.py")), gitShow(t, dir, "baseline", "backend/app/pricing.py"); got != want {
		t.Errorf("pricing.py = %q, want the baseline's %q", got, want)
	}
	if diff := sameExcept(beforeFiles, treeFiles(t, dir), "backend/app/pricing.py"); len(diff) > 0 {
		t.Errorf("files other than the restored one changed: %v", diff)
	}
	if b := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); b != "refactor/sprint-3" {
		t.Errorf("branch %q, want refactor/sprint-3 (selective changes files, not branches)", b)
	}
	run, recs := newestRun(t, dir)
	if got, want := outputList(recs["restore"], "files"), []string{"backend/app/pricing.py"}; !reflect.DeepEqual(got, want) {
		t.Errorf("restored %v, want %v", got, want)
	}
	tests := recs["tests"]
	if got, want := outputList(tests, "selected"), []string{"backend/tests/unit/test_pricing.py"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tests selected %v, want %v", got, want)
	}
	if counts(tests) != "2 passed, 0 failed, 2 total" {
		t.Errorf("test outputs %v, want 2 passed, 0 failed", tests.Outputs)
	}
	summary := summaryOf(t, dir, run.ID)
	for _, want := range []string{
		"- Restored from the baseline: backend/app/pricing.py\n",
		"- Not in the baseline, left as they were: backend/app/tax.py\n",
		"- Tests run: backend/tests/unit/test_pricing.py\n",
		": 2 passed, 0 failed, 0 skipped, 0 errors |",
		"| Status | ✅ succeeded |",
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

// TestSelectiveGo rolls back a Go file with the detected test command: the
// package's tests run, no other package's.
func TestSelectiveGo(t *testing.T) {
	t.Parallel()
	dir := goShop(t)
	before, beforeFiles := manifest(t, dir), treeFiles(t, dir)
	o, e, code := rbflow(t, dir, "run", "selective", "--set", "files=[calc/calc.go, api/v2.go]")
	if code != 0 {
		t.Fatalf("selective: exit %d\n%s%s", code, o, e)
	}
	if got, want := readFile(t, filepath.Join(dir, "calc/calc.go")), gitShow(t, dir, "baseline", "calc/calc.go"); got != want {
		t.Errorf("calc.go = %q, want the baseline's", got)
	}
	if diff := sameExcept(beforeFiles, treeFiles(t, dir), "calc/calc.go"); len(diff) > 0 {
		t.Errorf("files other than the restored one changed: %v", diff)
	}
	if got, want := testMarks(t, dir), []string{"calc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tests of %v ran, want those of %v", got, want)
	}
	run, recs := newestRun(t, dir)
	if got, want := outputList(recs["tests"], "selected"), []string{"./calc"}; !reflect.DeepEqual(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
	if f := recs["tests"].Outputs["format"]; f != "go-json" {
		t.Errorf("test format %v, want go-json (the detected go test -json)", f)
	}
	if s := summaryOf(t, dir, run.ID); !strings.Contains(s, ": 1 passed, 0 failed") || !strings.Contains(s, "left as they were: api/v2.go") {
		t.Errorf("summary:\n%s", s)
	}
	if o, e, code := rbflow(t, dir, "undo", run.ID); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- before\n%s\n--- after\n%s", before, got)
	}
}

// TestSelectiveNoneInBaseline: when the baseline has none of the files,
// the run fails saying so, before anything changed (no snapshot, HEAD
// where it was); a restore_files step given no files refuses too, rather
// than running git checkout COMMIT --, which would move HEAD.
func TestSelectiveNoneInBaseline(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	before := manifest(t, dir)
	o, e, code := rbflow(t, dir, "run", "selective", "--set", "files=backend/app/notes.py", "--set", "files=-rf")
	if code != 1 || !strings.Contains(o+e, "none of the files exists in baseline: nothing to roll back") {
		t.Fatalf("selective of files the baseline lacks: exit %d, want 1 and a clear reason\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("a failed selective rollback changed the tree")
	}
	if refs := keptRefs(t, dir, "refs/rbflow/"+lastRunID(t, dir)+"/restore"); refs != "" {
		t.Errorf("a snapshot was taken for a restore that never ran: %s", refs)
	}
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: empty
params:
  files: {type: list}
steps:
  - id: restore
    git: restore_files
    with: {files: "${{ params.files }}", from: baseline}
`)
	o, e, code = rbflow(t, dir, "run", procFile)
	if code != 1 || !strings.Contains(o+e, "with.files is empty") {
		t.Fatalf("restore_files with no files: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("restore_files with no files changed the tree (HEAD %s)", testkit.Git(t, dir, "rev-parse", "--abbrev-ref", "HEAD"))
	}
}

// TestSelectiveKilled kills selective with SIGKILL while its tests run,
// then at random moments, resuming each time: it ends as an uninterrupted
// run does, and undo still brings back the tree from before.
func TestSelectiveKilled(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	dir := seedRepo(t)
	twin := cloneRepo(t, dir)
	before := manifest(t, dir)
	slow := func(marker string) string {
		return fmt.Sprintf("touch %s; sleep 1; %s", shellWord(marker), pytest)
	}
	args := func(marker string) []string {
		return []string{"run", "selective", "--set", "files=[backend/app/pricing.py, backend/app/tax.py]", "--set", "test_command=" + slow(marker)}
	}
	if o, e, code := rbflow(t, twin, args(filepath.Join(t.TempDir(), "started"))...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}
	marker := filepath.Join(t.TempDir(), "started")
	out, code := killAndResume(t, dir, killer{kills: sweep(3), first: exists(marker), delay: randomDelay(rnd)}, args(marker)...)
	if code != 0 {
		t.Fatalf("the resumed run: exit %d\n%s", code, out)
	}
	if got, want := manifest(t, dir), manifest(t, twin); got != want {
		t.Errorf("killed and resumed, the tree differs from an uninterrupted run's\n--- uninterrupted\n%s\n--- killed\n%s", want, got)
	}
	run, recs := newestRun(t, dir)
	if run.Status != engine.RunSucceeded || counts(recs["tests"]) != "2 passed, 0 failed, 2 total" {
		t.Errorf("run %s, tests %v; want succeeded with 2 passed", run.Status, recs["tests"].Outputs)
	}
	if o, e, code := rbflow(t, dir, "undo", run.ID); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after kills, resume and undo the tree differs from before the run")
	}
}

// shellWord quotes a word for the shell that eval "$TEST_COMMAND" runs.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
