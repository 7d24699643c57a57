package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestSummaryTestsPerStep (issue 14): the summary's Tests row added
// different test runs together (a sprint's two runs of 589/2 and 589/0 read
// "1178 passed, 2 failed"), and an exit-code suite counted as 1 test. Now
// each test step has its own row, labelled with the branch it ran on, and
// an exit-code suite says it is an exit status only.
func TestSummaryTestsPerStep(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	testkit.Git(t, repo, "branch", "sprint-3")
	proc := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, proc, `version: 1
name: figures
steps:
  - id: on_sprint
    git: checkout
    with: {ref: sprint-3}
  - id: failed_tests
    continue_on_error: true
    test: printf 'ok 1 - a\nnot ok 2 - b\nok 3 - c\n1..3\n'
    with: {format: tap}
  - id: on_main
    git: checkout
    with: {ref: main}
  - id: baseline_tests
    test: printf 'ok 1 - a\nok 2 - b\nok 3 - c\n1..3\n'
    with: {format: tap}
  - id: suite
    test: "true"
    with: {format: exit-code}
finally:
  - id: summary
    report: summary.md
    with: {kind: summary}
`)
	if o, e, code := rbflow(t, repo, "run", proc); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, o, e)
	}
	b, err := os.ReadFile(filepath.Join(repo, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	summary := string(b)
	for _, want := range []string{
		"| Tests | `failed_tests` on sprint-3: 2 passed, 1 failed, 0 skipped, 0 errors |",
		"|  | `baseline_tests` on main: 3 passed, 0 failed, 0 skipped, 0 errors |",
		"|  | `suite` on main: exit code only: the suite passed |",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if regexp.MustCompile(`5 passed|6 passed`).MatchString(summary) {
		t.Errorf("the summary adds the test runs together:\n%s", summary)
	}
}
