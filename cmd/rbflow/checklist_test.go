package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/steps"
)

// checkMarks reads the items' marks from rbflow checklist's output.
func checkMarks(t *testing.T, out string) map[string]bool {
	t.Helper()
	marks := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\[([ x])\] (\w+)`).FindAllStringSubmatch(out, -1) {
		marks[m[2]] = m[1] == "x"
	}
	if len(marks) != len(steps.ChecklistItems) {
		t.Fatalf("checklist shows %d items, want %d:\n%s", len(marks), len(steps.ChecklistItems), out)
	}
	return marks
}

func TestChecklist(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	testkit.WriteFile(t, filepath.Join(aux, "rollback.yaml"), fmt.Sprintf(`version: 1
name: emergency
steps:
  - id: up
    wait: tcp
    with: {address: %q, timeout: 5s}
  - id: tag
    record: rollback
    with: {cause: dependency, severity: critical}
`, l.Addr().String()))
	if out, errOut, code := rbflow(t, repo, "run", filepath.Join(aux, "rollback.yaml")); code != 0 {
		t.Fatalf("run exit %d\n%s%s", code, out, errOut)
	}
	out, _, code := rbflow(t, repo, "checklist")
	if code != 0 {
		t.Fatalf("checklist exit %d", code)
	}
	want := map[string]bool{"services": true, "users": false, "analysis": false, "recovery": false, "metrics": true, "lessons": false, "improvements": false, "next": false}
	if got := checkMarks(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("checklist after the run = %v, want %v\n%s", got, want, out)
	}
	for _, s := range []string{"Services restored and verified", "auto: step up: tcp wait succeeded", "auto: step tag: recorded rollback", "Next attempt planned", "2 of 8 done"} {
		if !strings.Contains(out, s) {
			t.Errorf("checklist lacks %q:\n%s", s, out)
		}
	}
	runID := regexp.MustCompile(`of run (\S+) \(emergency, succeeded\)`).FindStringSubmatch(out)
	if runID == nil {
		t.Fatalf("checklist does not name the run:\n%s", out)
	}

	// Ticks by hand are kept.
	out, _, _ = rbflow(t, repo, "checklist", runID[1], "--done", "users", "--done", "lessons")
	want["users"], want["lessons"] = true, true
	if got := checkMarks(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("checklist --done = %v, want %v", got, want)
	}
	stdout, _, _ := rbflow(t, repo, "checklist", runID[1], "--json")
	var js struct {
		RunID string             `json:"run_id"`
		Items []steps.CheckState `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil {
		t.Fatal(err)
	}
	if js.RunID != runID[1] || !js.Items[1].Done || !js.Items[1].ByHand || js.Items[1].TickedAt == nil || js.Items[1].ID != "users" {
		t.Errorf("checklist --json item users = %+v, want ticked by hand", js.Items[1])
	}

	// --undo takes a tick by hand back; an item rbflow verified stays ticked.
	out, _, _ = rbflow(t, repo, "checklist", runID[1], "--undo", "users", "--undo", "metrics")
	want["users"] = false
	if got := checkMarks(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("checklist --undo = %v, want %v", got, want)
	}
	if !strings.Contains(out, "note: metrics stays ticked") {
		t.Errorf("no note about the verified item:\n%s", out)
	}

	_, errOut, code := rbflow(t, repo, "checklist", "--done", "user")
	if code != 2 || !strings.Contains(errOut, `no checklist item "user" (did you mean "users"?)`) {
		t.Errorf("--done user: exit %d, %s", code, errOut)
	}

	// A run of the analyze procedure afterwards completes the analysis.
	testkit.WriteFile(t, filepath.Join(aux, "analyze.yaml"), "version: 1\nname: analyze\nsteps:\n  - id: look\n    run: echo looking\n")
	if _, _, code := rbflow(t, repo, "run", filepath.Join(aux, "analyze.yaml")); code != 0 {
		t.Fatalf("analyze exit %d", code)
	}
	out, _, _ = rbflow(t, repo, "checklist", runID[1])
	if got := checkMarks(t, out); !got["analysis"] {
		t.Errorf("analysis not ticked after an analyze run:\n%s", out)
	}
}

// Lessons are documented when a report of the run has its lessons section
// written: the seed's placeholder is gone.
func TestChecklistLessonsFromReport(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	seedStore(t, repo, []seeded{{id: "r1", status: engine.RunSucceeded, took: time.Minute, source: `version: 1
name: p
steps:
  - id: analysis
    report: rollbacks/analysis.md
    with: {kind: analysis}
  - id: svc
    service: start
    with: {name: web, command: x, ready: {tcp: "127.0.0.1:1"}}
`}})
	st, err := store.Open(filepath.Join(repo, ".git", "rbflow"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	for _, rec := range []*engine.StepRecord{
		{RunID: "r1", StepID: "analysis", Section: "steps", Status: engine.StepSucceeded, Outcome: engine.StepSucceeded, Conclusion: engine.StepSucceeded, StartedAt: now, EndedAt: now,
			Outputs: map[string]any{"path": "rollbacks/analysis.md"}},
		{RunID: "r1", StepID: "svc", Section: "steps", Status: engine.StepSucceeded, Outcome: engine.StepSucceeded, Conclusion: engine.StepSucceeded, StartedAt: now, EndedAt: now,
			Outputs: map[string]any{"name": "web", "ready": true}},
	} {
		if err := st.SaveStep(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	run, err := st.Run(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(repoRoot(t, repo), "rollbacks", "analysis.md")
	items := func() map[string]string {
		t.Helper()
		reg := engine.NewRegistry()
		steps.Register(reg)
		got, err := steps.Checklist(ctx, st, &engine.Loader{Registry: reg}, run)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, it := range got {
			if it.Done {
				m[it.ID] = it.Auto
			}
		}
		return m
	}
	testkit.WriteFile(t, report, "# Failure Analysis Report\n\n## Lessons Learned\n[TO BE FILLED AFTER INVESTIGATION]\n")
	got := items()
	if got["analysis"] == "" || got["services"] == "" || got["lessons"] != "" {
		t.Errorf("with the placeholder: ticked %v, want analysis and services, not lessons", got)
	}
	testkit.WriteFile(t, report, "# Failure Analysis Report\n\n## Lessons Learned\nPin the dependency versions.\n")
	if got := items(); !strings.Contains(got["lessons"], report) {
		t.Errorf("with lessons written: ticked %v, want lessons from %s", got, report)
	}
	os.Remove(report)
	if got := items(); got["lessons"] != "" {
		t.Errorf("without the report: lessons ticked by %q", got["lessons"])
	}
}

// TestChecklistFromEvidence (issue 14): "users notified" is ticked once
// the notify procedure's webhook answered 2xx, and "analysis" only by an
// analysis whose tests ran: an analyze run that could not run them (no
// results read) does not tick it, one whose tests ran does.
func TestChecklistFromEvidence(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	testkit.Git(t, repo, "branch", "-M", "baseline")
	aux := t.TempDir()
	testkit.WriteFile(t, filepath.Join(aux, "rollback.yaml"), `version: 1
name: sprint
steps:
  - id: tag
    record: rollback
    with: {cause: tests failing, severity: high, level: sprint}
`)
	if o, e, code := rbflow(t, repo, "run", filepath.Join(aux, "rollback.yaml")); code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, o, e)
	}
	id := lastRunID(t, repo)
	marks := func() (map[string]bool, string) {
		t.Helper()
		out, _, code := query(t, repo, "checklist", id)
		if code != 0 {
			t.Fatalf("checklist: exit %d\n%s", code, out)
		}
		return checkMarks(t, out), out
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	if o, e, code := rbflow(t, repo, "run", "notify", "--set", "sprint=1", "--set", "summary=broke", "--set", "webhook="+srv.URL); code != 0 {
		t.Fatalf("notify: exit %d\n%s%s", code, o, e)
	}
	if got, out := marks(); !got["users"] || !strings.Contains(out, "the webhook answered 200") {
		t.Errorf("users not ticked after the webhook answered 200:\n%s", out)
	}

	if o, e, code := rbflow(t, repo, "run", "analyze", "--set", "test_command=pytest --no-such-option-rbflow"); code != 0 {
		t.Fatalf("analyze: exit %d\n%s%s", code, o, e)
	}
	if got, out := marks(); got["analysis"] {
		t.Errorf("analysis ticked by an analysis that could not run its tests:\n%s", out)
	}
	if o, e, code := rbflow(t, repo, "run", "analyze", "--set", "test_command=true"); code != 0 {
		t.Fatalf("analyze: exit %d\n%s%s", code, o, e)
	}
	if got, out := marks(); !got["analysis"] || !strings.Contains(out, "of analyze") {
		t.Errorf("analysis not ticked after an analysis whose tests ran:\n%s", out)
	}
}
