package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
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
