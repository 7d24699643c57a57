package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// checkpoints lists the checkpoint tags of a repository.
func checkpoints(t *testing.T, repo string) []string {
	t.Helper()
	return strings.Fields(testkit.Git(t, repo, "tag", "--list", "checkpoint-*"))
}

// worktrees counts the worktrees git knows of, the main one included.
func worktrees(t *testing.T, repo string) int {
	t.Helper()
	return strings.Count(testkit.Git(t, repo, "worktree", "list", "--porcelain"), "worktree ")
}

// checkCheckpoint checks that the run made exactly one checkpoint tag, the
// annotated checkpoint-<run time> on HEAD, and left no worktree behind.
func checkCheckpoint(t *testing.T, repo, runID string) {
	t.Helper()
	want := "checkpoint-" + runID[:15]
	if tags := checkpoints(t, repo); len(tags) != 1 || tags[0] != want {
		t.Fatalf("checkpoint tags = %v, want [%s]", tags, want)
	}
	if typ := strings.TrimSpace(testkit.Git(t, repo, "cat-file", "-t", want)); typ != "tag" {
		t.Errorf("%s is a %s, want an annotated tag", want, typ)
	}
	if msg := strings.TrimSpace(testkit.Git(t, repo, "tag", "--list", "--format=%(contents)", want)); msg != "Pre-sprint checkpoint" {
		t.Errorf("%s message = %q, want %q", want, msg, "Pre-sprint checkpoint")
	}
	if tagged, head := testkit.Git(t, repo, "rev-parse", want+"^{commit}"), testkit.Git(t, repo, "rev-parse", "HEAD"); tagged != head {
		t.Errorf("%s points at %s, want HEAD %s", want, tagged, head)
	}
	checkNoWorktree(t, repo, runID)
}

// checkNoWorktree checks that the temporary baseline worktree is gone.
func checkNoWorktree(t *testing.T, repo, runID string) {
	t.Helper()
	if n := worktrees(t, repo); n != 1 {
		t.Errorf("git worktree list shows %d worktrees after precheck, want 1:\n%s", n, testkit.Git(t, repo, "worktree", "list"))
	}
	if _, err := os.Stat(filepath.Join(repo, ".git", "rbflow", "runs", runID, "baseline-tree")); err == nil {
		t.Errorf("the baseline worktree's folder is still there")
	}
}

func TestPrecheckSeedRepo(t *testing.T) {
	t.Parallel()
	pytest := needPytest(t)
	repo := seedRepo(t)
	// The sprint's work committed: the tree is clean, the branch's tests
	// fail, the baseline's pass.
	testkit.Git(t, repo, "add", "-A")
	testkit.Git(t, repo, "commit", "-q", "-m", "Sprint 3: work in progress")
	before := manifest(t, repo)

	out, errOut, code := rbflow(t, repo, "run", "precheck", "--set", "test_command="+pytest, "--set", "test_dir=backend", "--set", "install_deps=false")
	if code != 0 {
		t.Fatalf("rbflow run precheck = %d, want 0\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, repo)
	checkCheckpoint(t, repo, id)
	// The baseline's two tests ran (the branch has one failing), in the
	// worktree: the branch and the work tree were not touched.
	for _, want := range []string{"baseline tests passing: 2", "baseline-tree/backend, configfile: pytest.ini", "all safety checks passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("rbflow run precheck output lacks %q:\n%s", want, out)
		}
	}
	if after := manifest(t, repo); after != before {
		t.Errorf("precheck changed the work tree, index or branch:\n%s\nwant:\n%s", after, before)
	}
	summary := readFile(t, filepath.Join(repo, ".git", "rbflow", "runs", id, "summary.md"))
	for _, want := range []string{": 2 passed, 0 failed, 0 skipped, 0 errors |", "- Baseline tests passing: 2\n", "- Checkpoint: checkpoint-" + id[:15] + "\n"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary.md lacks %q:\n%s", want, summary)
		}
	}
}

func TestPrecheckDirtyTree(t *testing.T) {
	t.Parallel()
	repo := seedRepo(t) // an uncommitted edit and an untracked file
	before := manifest(t, repo)
	out, errOut, code := rbflow(t, repo, "run", "precheck", "--set", "test_command=true", "--set", "install_deps=false")
	if code != 1 {
		t.Fatalf("rbflow run precheck on a dirty tree = %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"uncommitted changes: commit or stash them", " M backend/app/pricing.py", "?? backend/app/notes.py", "clean_tree: failed", "checkpoint: skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("rbflow run precheck output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "failed at step clean_tree") {
		t.Errorf("stderr does not name the failed check:\n%s", errOut)
	}
	if tags := checkpoints(t, repo); len(tags) != 0 {
		t.Errorf("a failed precheck made checkpoint tags %v", tags)
	}
	id := lastRunID(t, repo)
	checkNoWorktree(t, repo, id)
	if after := manifest(t, repo); after != before {
		t.Errorf("precheck changed the work tree:\n%s\nwant:\n%s", after, before)
	}
	if summary := readFile(t, filepath.Join(repo, ".git", "rbflow", "runs", id, "summary.md")); !strings.Contains(summary, "- Checkpoint: none: not every check passed\n") {
		t.Errorf("summary.md does not say there is no checkpoint:\n%s", summary)
	}
}

func TestPrecheckGoRepo(t *testing.T) {
	t.Parallel()
	repo := goRepo(t) // on sprint, whose TestMul fails
	before := manifest(t, repo)
	out, errOut, code := rbflow(t, repo, "run", "precheck")
	if code != 0 {
		t.Fatalf("rbflow run precheck = %d, want 0\n%s%s", code, out, errOut)
	}
	checkCheckpoint(t, repo, lastRunID(t, repo))
	for _, want := range []string{"deps_go: succeeded", "baseline tests passing: 3", "disk: "} {
		if !strings.Contains(out, want) {
			t.Errorf("rbflow run precheck output lacks %q:\n%s", want, out)
		}
	}
	if after := manifest(t, repo); after != before {
		t.Errorf("precheck changed the work tree, index or branch:\n%s\nwant:\n%s", after, before)
	}

	// A baseline whose tests fail gets no checkpoint.
	out, errOut, code = rbflow(t, repo, "run", "precheck", "--set", "baseline=sprint")
	if code != 1 || !strings.Contains(out, "baseline_tests: failed") || !strings.Contains(out, "TestMul") {
		t.Errorf("rbflow run precheck --set baseline=sprint = %d, want 1 with TestMul failing\n%s%s", code, out, errOut)
	}
	if tags := checkpoints(t, repo); len(tags) != 1 {
		t.Errorf("checkpoint tags after the failed run = %v, want only the first run's", tags)
	}
	checkNoWorktree(t, repo, lastRunID(t, repo))

	// A disk that may be 0% used fails, with the figure.
	out, errOut, code = rbflow(t, repo, "run", "precheck", "--set", "max_disk_percent=0")
	if code != 1 {
		t.Fatalf("rbflow run precheck --set max_disk_percent=0 = %d, want 1\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`disk \| low disk space: \d+(\.\d+)?% used, over the limit of 0% \(max_disk_percent\)`).MatchString(out) {
		t.Errorf("the failed disk check does not give the figure:\n%s", out)
	}
	if tags := checkpoints(t, repo); len(tags) != 1 {
		t.Errorf("checkpoint tags after the failed run = %v, want only the first run's", tags)
	}
	checkNoWorktree(t, repo, lastRunID(t, repo))
}

// TestPrecheckKilledAndResumed kills rbflow with SIGKILL while the baseline
// tests run in their worktree, and finishes the run with rbflow resume:
// one checkpoint tag, and the worktree gone.
func TestPrecheckKilledAndResumed(t *testing.T) {
	t.Parallel()
	repo := goRepo(t)
	mark := filepath.Join(t.TempDir(), "slept")
	slow := fmt.Sprintf(`if [ ! -e '%[1]s' ]; then touch '%[1]s'; sleep 60; fi; go test -json ./...`, mark)
	cmd := rbflowCmd(t, repo, "run", "precheck", "--set", "test_command="+slow)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, time.Minute, "the baseline tests to start", func() bool {
		_, err := os.Stat(mark)
		return err == nil
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	id := lastRunID(t, repo)
	if n := worktrees(t, repo); n != 2 {
		t.Fatalf("while the baseline tests ran git knew %d worktrees, want 2 (the temporary one)\n%s", n, out.String())
	}

	resumed, errOut, code := rbflow(t, repo, "resume", "--yes")
	if code != 0 {
		t.Fatalf("rbflow resume = %d, want 0\n%s%s", code, resumed, errOut)
	}
	if !strings.Contains(resumed, "baseline tests passing: 3") {
		t.Errorf("the resumed run does not report the baseline's tests:\n%s", resumed)
	}
	checkCheckpoint(t, repo, id)
}

func TestPrecheckValidateAndDryRun(t *testing.T) {
	t.Parallel()
	repo := seedRepo(t)
	out, errOut, code := rbflow(t, repo, "validate", "analyze", "precheck")
	if code != 0 || !strings.Contains(out, "analyze: ok") || !strings.Contains(out, "precheck: ok") {
		t.Fatalf("rbflow validate analyze precheck = %d\n%s%s", code, out, errOut)
	}
	before := manifest(t, repo)
	out, errOut, code = rbflow(t, repo, "run", "precheck", "--dry-run", "--set", "test_dir=backend")
	if code != 0 {
		t.Fatalf("rbflow run precheck --dry-run = %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"dry run of precheck: nothing will be changed",
		"1. baseline_tree (run) — runs",
		"| RBFLOW_V_1=baseline", // the value, given to the script in a variable
		`| ref="${RBFLOW_V_1}"`,
		`| git worktree add --detach "$BASELINE_TREE" "$commit"`,
		"2. baseline_tests (test) — runs, after baseline_tree",
		"baseline-tree/backend, which does not exist now (an earlier step may make it)",
		"| # results: pytest (auto), read from standard output",
		"3. clean_tree (run) — runs",
		"4. deps_python (run) — runs, after clean_tree",
		"6. deps_go (run) — skipped (if is false), after clean_tree",
		"8. checkpoint (git) — runs, after baseline_tests, clean_tree, deps_python, deps_node, deps_go, disk",
		"| git tag (name=checkpoint-dry-run, message=Pre-sprint checkpoint)",
		"finally:\n10. remove_baseline_tree (run) — runs",
		"11. summary (report) — runs, after remove_baseline_tree",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run lacks %q:\n%s", want, out)
		}
	}
	// The checkpoint tag is made after a snapshot, so that undoing the
	// precheck deletes it; nothing else promises one.
	if strings.Count(out, "snapshot first") != 1 || !strings.Contains(out, "snapshot first: refs/rbflow/<run>/checkpoint") {
		t.Errorf("the dry run does not promise exactly one snapshot, before the checkpoint tag:\n%s", out)
	}
	if after := manifest(t, repo); after != before {
		t.Errorf("a dry run changed the repository:\n%s\nwant:\n%s", after, before)
	}
	if tags := checkpoints(t, repo); len(tags) != 0 || worktrees(t, repo) != 1 {
		t.Errorf("a dry run made tags %v or a worktree", tags)
	}
}
