package steps

import (
	"github.com/rbflow/rbflow/engine/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// A report path built from a value stays in the repository or the run
// folder, and a value inside with.template is printed, never run as
// template code.
func TestReportValuesAreData(t *testing.T) {
	repo := testkit.GitRepo(t, nil)
	outside := filepath.Join(filepath.Dir(repo), "escaped.md")
	f := runProcedure(t, repo, `version: 1
name: p
params:
  out: {type: string}
  who: {type: string}
steps:
  - id: escape
    continue_on_error: true
    report: "${{ params.out }}"
    with: {template: "hello"}
  - id: inside
    report: "reports/${{ params.who }}.md"
    with: {template: "from ${{ params.who }}: {{ .Run.Procedure }}"}
  - id: literal
    report: ../literal.md
    with: {template: "written where the author said"}
`, runOpts{sets: []string{"out=../escaped.md", "who={{ .Run.ID }}"}})
	if rec := f.step(t, "escape"); rec.Outcome != engine.StepFailed || !strings.Contains(rec.Error, "leads out of the repository and the run folder") {
		t.Errorf("escape: %s %q, want it refused", rec.Outcome, rec.Error)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s was written", outside)
	}
	b, err := os.ReadFile(filepath.Join(repo, "reports", "{{ .Run.ID }}.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != "from {{ .Run.ID }}: p" {
		t.Errorf("report = %q, want the value printed as it is and the author's template code run", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(repo), "literal.md")); err != nil {
		t.Errorf("a literal path outside the repository was refused: %v", err)
	}
}
