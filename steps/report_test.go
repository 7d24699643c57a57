package steps

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// reportProcedure fails at boom when params.fail is set, and writes every
// built-in report in finally.
const reportProcedure = `version: 1
name: sprint-rollback
description: Roll a failed sprint back
severity: high
target: 15m
contacts:
  - {role: Technical Lead, name: Ada, reach: ada@example.com}
  - {role: DevOps, name: "", reach: "#ops"}
params:
  sprint: {type: int, default: 7}
  baseline: {type: string, default: main}
  token: {type: string, default: hunter2-secret, secret: true}
  fail: {type: bool, default: false}
steps:
  - id: save
    description: Saved the failed state
    run: echo "saved with ${{ params.token }}"; echo "ref=refs/rbflow/x" >> "$RBFLOW_OUTPUT"
  - id: tests
    test: |
      printf 'TAP version 13\n1..3\nok 1 - reset\nnot ok 2 - health\n  ---\n  message: returned 503\n  ...\nok 3 - tag # SKIP no tags\n'
    with: {format: tap}
    continue_on_error: true
  - id: boom
    if: params.fail
    run: echo "boom ${{ params.token }}" >&2; exit 3
  - id: wait
    if: env_or("SLOW", "") != ""
    run: touch "$SLOW"; sleep 30
on_failure:
  - id: tell
    report: "-"
    with: {template: "Rollback failed at {{ .Run.FailedStep }} ({{ .Run.Status }})"}
finally:
  - id: summary
    report: reports/summary.md
  - id: failure
    report: rollbacks/sprint-${{ params.sprint }}/report.md
    with: {kind: failure, data: {reason: "health checks red", token: "${{ params.token }}"}}
  - id: analysis
    report: "${{ run.dir }}/analysis.md"
    with: {kind: analysis}
  - id: notification
    report: "-"
    with: {kind: notification, data: {impact: Development only}}
  - id: json
    report: out/run.json
    with: {kind: json, data: {note: "token ${{ params.token }}"}}
`

// reportRepo has a main branch and two files changed since.
func reportRepo(t *testing.T) string {
	t.Helper()
	repo := testkit.GitRepo(t, map[string]string{"app.py": "v = 1\n", "README.md": "x\n"})
	testkit.Git(t, repo, "switch", "-q", "-c", "sprint-7")
	testkit.WriteFiles(t, repo, map[string]string{"app.py": "v = 2\n", "new.py": "n = 1\n"})
	testkit.Git(t, repo, "add", "app.py")
	testkit.Git(t, repo, "commit", "-q", "-m", "sprint 7")
	return repo
}

func readReport(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2-secret") {
		t.Errorf("%s holds the secret:\n%s", path, b)
	}
	return string(b)
}

var (
	ganttTaskRE = regexp.MustCompile(`^    ([a-z][a-z0-9_]*) ([a-z]+) :(?:(?:done|crit|active), )?s_([a-z][a-z0-9_]*), \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$`)
	ganttTagRE  = regexp.MustCompile(`:(done|crit|active), s_`)
)

// checkGantt checks the shape of the Mermaid block in a report: a fenced
// mermaid gantt with a dateFormat, sections, and one task line per step
// that ran, tagged by its status. It returns each step's tag.
func checkGantt(t *testing.T, report string, ran []string) map[string]string {
	t.Helper()
	start := strings.Index(report, "```mermaid\n")
	if start < 0 {
		t.Fatalf("no ```mermaid block in:\n%s", report)
	}
	block := report[start+len("```mermaid\n"):]
	end := strings.Index(block, "\n```")
	if end < 0 {
		t.Fatalf("mermaid block not closed:\n%s", report)
	}
	lines := strings.Split(block[:end], "\n")
	if lines[0] != "gantt" {
		t.Errorf("first line %q, want gantt", lines[0])
	}
	tags := map[string]string{}
	var dateFormat, sections int
	for _, l := range lines[1:] {
		switch {
		case strings.HasPrefix(l, "    dateFormat "):
			dateFormat++
		case strings.HasPrefix(l, "    section "):
			sections++
		case strings.HasPrefix(l, "    title "), strings.HasPrefix(l, "    axisFormat "), l == "    todayMarker off":
		default:
			m := ganttTaskRE.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("mermaid line %q is not a task line", l)
				continue
			}
			if m[1] != m[3] {
				t.Errorf("task %q has id s_%s", m[1], m[3])
			}
			if _, dup := tags[m[1]]; dup {
				t.Errorf("step %s has two task lines", m[1])
			}
			tags[m[1]] = ""
			if tm := ganttTagRE.FindStringSubmatch(l); tm != nil {
				tags[m[1]] = tm[1]
			}
		}
	}
	if dateFormat != 1 || sections == 0 {
		t.Errorf("%d dateFormat lines and %d sections, want 1 and some", dateFormat, sections)
	}
	for _, id := range ran {
		if _, ok := tags[id]; !ok {
			t.Errorf("no task line for step %s in:\n%s", id, block[:end])
		}
	}
	if len(tags) != len(ran) {
		t.Errorf("%d task lines, want %d (%v)", len(tags), len(ran), ran)
	}
	return tags
}

func TestReportSucceeded(t *testing.T) {
	t.Parallel()
	repo := reportRepo(t)
	f := runProcedure(t, repo, reportProcedure, runOpts{})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	summary := readReport(t, filepath.Join(repo, "reports/summary.md"))
	for _, want := range []string{
		// tests failed under continue_on_error: a success with warnings
		// (SPEC §3), never a plain ✅.
		"# sprint-rollback: run " + f.run.ID + " succeeded with warnings\n",
		"\nRoll a failed sprint back\n",
		"| Status | ⚠️ succeeded with warnings: step tests failed (continue_on_error)",
		"against a target of 15m0s: within it |",
		"| Branch | sprint-7 at `",
		"| Uncommitted changes | 1 |",
		"| Tests | on sprint-7: 1 passed, 1 failed, 1 skipped, 0 errors |",
		"| `tests` | test | ❌ failed |",
		"| 1 passed, 1 failed, 1 skipped, 0 errors |",
		"| `boom` | run | ⏭️ skipped |",
		"| `summary` (finally) | report | ▶️ running |",
		"| `json` (finally) | report | · not run |",
		"- `health`, step `tests`: returned 503",
		"| `token` | *** |",
		"| `sprint` | 7 |",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	tags := checkGantt(t, summary, []string{"save", "tests", "boom", "wait", "summary"})
	if tags["save"] != "done" || tags["tests"] != "crit" || tags["summary"] != "active" || tags["boom"] != "" {
		t.Errorf("gantt tags = %v", tags)
	}

	failure := readReport(t, filepath.Join(repo, "rollbacks/sprint-7/report.md"))
	for _, want := range []string{
		"# Sprint 7 Rollback Report\n",
		"Branch: sprint-7\nReason: health checks red\n",
		"- [x] Tests failing\n  - `tests` on sprint-7: 1 passed, 1 failed, 1 skipped, 0 errors",
		"- [ ] Build errors\n",
		"- [ ] Runtime errors\n",
		"- `health`: returned 503",
		"3 files changed since `main` (",
		"\n- app.py\n- new.py\n",
		"uncommitted changes in the work tree",
		"[EXPLAIN WHY ROLLBACK WAS NECESSARY]",
	} {
		if !strings.Contains(failure, want) {
			t.Errorf("failure report lacks %q:\n%s", want, failure)
		}
	}

	analysis := readReport(t, filepath.Join(f.state, "runs", f.run.ID, "analysis.md"))
	for _, want := range []string{
		"# Failure Analysis Report",
		"- Last successful commit: ",
		" init\n- Failed branch: sprint-7",
		"tests on sprint-7: 1 passed, 1 failed, 1 skipped, 0 errors in ",
		"FAILED health - returned 503",
		"[TO BE FILLED AFTER INVESTIGATION]",
	} {
		if !strings.Contains(analysis, want) {
			t.Errorf("analysis lacks %q:\n%s", want, analysis)
		}
	}
	if rec := f.step(t, "analysis"); rec.Outputs["path"] != filepath.Join(f.state, "runs", f.run.ID, "analysis.md") {
		t.Errorf("analysis outputs = %v: written into the run folder, once", rec.Outputs)
	}

	note := f.log(t, "notification")
	for _, want := range []string{
		"## 🚨 Rollback Notification",
		"**Sprint**: 7\n",
		"**Severity**: high\n",
		"**Impact**: Development only\n",
		"- `tests` failed: 1 passed, 1 failed, 1 skipped, 0 errors\n",
		"### Actions Taken\n1. Saved the failed state (`save`)\n\n",
		"- Safe: `main`",
		"- Failed: `sprint-7`",
		"- **Technical Lead**: Ada (ada@example.com)",
		"- **DevOps**: [NAME] (#ops)",
	} {
		if !strings.Contains(note, want) {
			t.Errorf("notification lacks %q:\n%s", want, note)
		}
	}
	if strings.Contains(note, "hunter2-secret") {
		t.Errorf("notification holds the secret")
	}
	rec := f.step(t, "notification")
	if p, _ := rec.Outputs["path"].(string); p != rec.Outputs["run_path"] || filepath.Dir(p) != filepath.Join(f.state, "runs", f.run.ID) {
		t.Errorf("notification outputs = %v, want the run folder's copy", rec.Outputs)
	}

	var data ReportData
	if err := json.Unmarshal([]byte(readReport(t, filepath.Join(repo, "out/run.json"))), &data); err != nil {
		t.Fatal(err)
	}
	if data.Run.Status != "succeeded" || len(data.Steps) != 10 || data.Tests.Failed != 1 || data.Params["token"] != "***" || data.Git.Branch != "sprint-7" || data.Data["note"] != "token ***" {
		t.Errorf("json report: status %s, %d steps, %d failed, token %v, branch %q", data.Run.Status, len(data.Steps), data.Tests.Failed, data.Params["token"], data.Git.Branch)
	}
	if rec := f.step(t, "json"); rec.Outputs["path"] != filepath.Join(repo, "out/run.json") || !strings.HasSuffix(rec.Outputs["run_path"].(string), "/json.json") {
		t.Errorf("json outputs = %v", rec.Outputs)
	}
	fi, err := os.Stat(filepath.Join(f.state, "runs", f.run.ID, "summary.md"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("run folder copy: %v, mode %v; want 0600", err, fi)
	}
}

func TestReportFailed(t *testing.T) {
	t.Parallel()
	repo := reportRepo(t)
	f := runProcedure(t, repo, reportProcedure, runOpts{sets: []string{"fail=true"}})
	if f.run.Status != engine.RunFailed {
		t.Fatalf("run %s, want failed", f.run.Status)
	}
	if log := f.log(t, "tell"); !strings.Contains(log, "Rollback failed at boom (failed)\n") {
		t.Errorf("tell printed %q", log)
	}
	summary := readReport(t, filepath.Join(repo, "reports/summary.md"))
	if !strings.Contains(summary, "run "+f.run.ID+" failed\n") || !strings.Contains(summary, "| Status | ❌ failed at step `boom` |") {
		t.Errorf("summary:\n%s", summary)
	}
	tags := checkGantt(t, summary, []string{"save", "tests", "boom", "wait", "tell", "summary"})
	if tags["boom"] != "crit" || tags["tell"] != "done" {
		t.Errorf("gantt tags = %v", tags)
	}
	failure := readReport(t, filepath.Join(repo, "rollbacks/sprint-7/report.md"))
	if !strings.Contains(failure, "- [x] Runtime errors; `boom`: exit status 3\n") || !strings.Contains(failure, "| `boom` | ❌ failed | ") {
		t.Errorf("failure report:\n%s", failure)
	}
}

// TestReportInterrupted: a run stopped by a signal (its context cancelled,
// as rbflow does on SIGINT) renders its reports from finally, showing the
// step that was cut off and the ones that never ran.
func TestReportInterrupted(t *testing.T) {
	repo := reportRepo(t)
	mark := filepath.Join(t.TempDir(), "slow")
	t.Setenv("SLOW", mark)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(mark); err == nil {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	f := runProcedure(t, repo, reportProcedure, runOpts{ctx: ctx})
	if f.run.Status != engine.RunInterrupted {
		t.Fatalf("run %s (%v), want interrupted", f.run.Status, f.err)
	}
	summary := readReport(t, filepath.Join(repo, "reports/summary.md"))
	if !strings.Contains(summary, "run "+f.run.ID+" interrupted\n") || !strings.Contains(summary, "| `wait` | run | ⏸️ interrupted |") {
		t.Errorf("summary:\n%s", summary)
	}
	tags := checkGantt(t, summary, []string{"save", "tests", "boom", "wait", "summary"})
	if tags["wait"] != "active" {
		t.Errorf("gantt tags = %v, want wait active", tags)
	}
	var data ReportData
	if err := json.Unmarshal([]byte(readReport(t, filepath.Join(repo, "out/run.json"))), &data); err != nil {
		t.Fatal(err)
	}
	if data.Run.Status != "interrupted" {
		t.Errorf("json run status %q, want interrupted", data.Run.Status)
	}
}

func TestReportLoadErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ step, want string }{
		{"report: out.md\n    with:\n      template: |\n        # Run\n        {{ .Run.ID }\n",
			`p.yaml:9:9: step "r": with.template: line 2: unexpected "}" in operand`},
		{"report: out.md\n    with: {template: '{{ nosuch . }}'}\n",
			`p.yaml:6:23: step "r": with.template: line 1: function "nosuch" not defined`},
		{"report: out.md\n    with: {kind: summary, template: x}\n",
			`step "r": with.kind and with.template: give one of kind, template and template_file`},
		{"report: out.md\n    with: {kind: weekly}\n",
			`with.kind: "weekly" is not one of summary, failure, analysis, notification, json`},
		{"report: out.md\n    with: {data: [a]}\n", `with.data must be a map, not a list`},
		{"report: \"\"\n", `report needs a path to write to, or "-" to print it`},
		{"report: out.md\n    with: {templte: x}\n", `unknown argument "templte" for report (did you mean "template"?)`},
	} {
		text := "version: 1\nname: p\nsteps:\n  - id: r\n    " + c.step
		_, err := loadPlan(t, text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q) = %v, want %q", c.step, err, c.want)
		}
	}
}

// TestReportRunErrors: a template that fails when it runs, or a missing
// template file, is a step error that says which.
func TestReportRunErrors(t *testing.T) {
	t.Parallel()
	f := runProcedure(t, testkit.GitRepo(t, nil), `version: 1
name: p
steps:
  - id: field
    needs: []
    report: out.md
    with: {template: "{{ .Run.Nope }}"}
  - id: file
    needs: []
    report: out.md
    with: {template_file: templates/missing.tmpl}
  - id: expr
    needs: []
    report: out.md
    with: {template: "${{ run.id }} {{ .Run.ID"}
`, runOpts{})
	for id, want := range map[string]string{
		"field": `render the report: template: with.template:1:7: executing "with.template" at <.Run.Nope>: can't evaluate field Nope`,
		"file":  `with.template_file: open `,
		"expr":  `with.template: line 1: unclosed action`,
	} {
		if rec := f.step(t, id); rec.Status != engine.StepFailed || !strings.Contains(rec.Error, want) {
			t.Errorf("%s: %s %q, want failed with %q", id, rec.Status, rec.Error, want)
		}
	}
}

func TestReportTemplateFile(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"tmpl/short.tmpl": "{{ .Run.Procedure }} {{ .Run.Status }} {{ .Value \"who\" }} {{ len .Steps }}\n"})
	f := runProcedure(t, repo, `version: 1
name: short
params:
  who: {type: string, default: team}
steps:
  - id: r
    report: "-"
    with: {template_file: tmpl/short.tmpl}
`, runOpts{})
	if f.err != nil {
		t.Fatal(f.err)
	}
	if log := f.log(t, "r"); log != "short running team 1\n" {
		t.Errorf("log = %q", log)
	}
}

// TestReportStepErrors: a test step that failed without results (its
// command could not run, its base did not exist) is a runtime error, not a
// failing test.
func TestReportStepErrors(t *testing.T) {
	t.Parallel()
	d := &ReportData{Steps: []ReportStep{
		{ID: "red", Kind: "test", Outcome: "failed", Tests: &TestCounts{Failed: 1, Total: 1}},
		{ID: "broken", Kind: "test", Outcome: "failed", Error: "with.base: resolve"},
		{ID: "boom", Kind: "run", Outcome: "failed"},
		{ID: "cut", Kind: "run", Status: "interrupted", Outcome: "interrupted"},
		{ID: "fine", Kind: "run", Outcome: "succeeded", Status: "succeeded"},
	}}
	var got []string
	for _, s := range d.StepErrors() {
		got = append(got, s.ID)
	}
	if strings.Join(got, " ") != "broken boom cut" {
		t.Errorf("StepErrors() = %v, want broken boom cut", got)
	}
}

func TestGanttKeywordIDs(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	d := &ReportData{Run: ReportRun{Procedure: "p", ID: "r", Status: "succeeded"}, Now: start.Add(time.Minute), Steps: []ReportStep{
		{ID: "section", Section: "steps", Status: "succeeded", Ran: true, StartedAt: start, EndedAt: start.Add(1500 * time.Millisecond)},
		{ID: "deploy", Section: "steps", Status: "running", Ran: true, StartedAt: start.Add(2 * time.Second)},
		{ID: "later", Section: "steps", Status: "not run"},
	}}
	g := d.Gantt()
	for _, want := range []string{
		"    step section succeeded :done, s_section, 2026-01-02 03:04:05.000, 2026-01-02 03:04:06.500\n",
		"    deploy running :active, s_deploy, 2026-01-02 03:04:07.000, 2026-01-02 03:05:05.000\n",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("Gantt() lacks %q:\n%s", want, g)
		}
	}
	if strings.Contains(g, "later") {
		t.Errorf("a step that did not run is in the timeline:\n%s", g)
	}
}
