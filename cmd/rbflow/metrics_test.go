package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/steps"
)

// seeded is a run put straight into the store, with the rollback tags
// recorded for it.
type seeded struct {
	id, parent string
	status     engine.RunStatus
	ago, took  time.Duration
	target     time.Duration
	tags       []map[string]any
	otherRepo  bool
	procedure  string
	source     string
}

// repoRoot is the repository root as rbflow finds it.
func repoRoot(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func seedStore(t *testing.T, repo string, runs []seeded) {
	t.Helper()
	root := repoRoot(t, repo)
	st, err := store.Open(filepath.Join(repo, ".git", "rbflow"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	for _, s := range runs {
		r := &engine.Run{
			ID: s.id, Procedure: "p", Source: "version: 1\nname: p\nsteps: []\n", SourcePath: "p.yaml", Hash: "h",
			Params: map[string]any{}, Repo: root, Status: s.status, StartedAt: now.Add(-s.ago),
			ParentRun: s.parent, Target: s.target, Generation: 1,
		}
		if s.procedure != "" {
			r.Procedure = s.procedure
		}
		if s.source != "" {
			r.Source = s.source
		}
		if s.otherRepo {
			r.Repo = "/elsewhere"
		}
		if r.Status.Finished() {
			r.EndedAt = r.StartedAt.Add(s.took)
		}
		if err := st.CreateRun(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		for _, tag := range s.tags {
			if err := st.AddEvent(ctx, s.id, "rollback", tag); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func tagOf(cause, severity, level string) map[string]any {
	return map[string]any{"cause": cause, "severity": severity, "level": level}
}

// The runs behind the expected figures. Within the last 7 days:
//
//	r1 succeeded  4m, target 5m, dependency/critical/emergency  → within
//	r2 succeeded 10m, target 5m, tagged twice, the last tag counts → over
//	r3 failed    20m, target 15m, import/high/sprint             → not within (failed)
//	r4 succeeded  6m, no target, dependency/medium/selective      → matrix 30m, within
//	r5 succeeded  2m, untagged
//	r6 cancelled, tests/low/selective                             → counted, not measured
//	r7 running, tagged                                            → not finished, not counted
//	r9 succeeded  8m, target 15m, tagged through its child r8     → within
//	x1 succeeded in another repository                            → not counted
//
// 30 days ago: r0 succeeded 1m, old/high/sprint (matrix 15m)     → within
var metricRuns = []seeded{
	{id: "r0", status: engine.RunSucceeded, ago: 30 * 24 * time.Hour, took: time.Minute, tags: []map[string]any{tagOf("old", "high", "sprint")}},
	{id: "r1", status: engine.RunSucceeded, ago: 6 * time.Hour, took: 4 * time.Minute, target: 5 * time.Minute, tags: []map[string]any{tagOf("dependency", "critical", "emergency")}},
	{id: "r2", status: engine.RunSucceeded, ago: 5 * time.Hour, took: 10 * time.Minute, target: 5 * time.Minute, tags: []map[string]any{tagOf("first guess", "low", "x"), tagOf("dependency", "critical", "emergency")}},
	{id: "r3", status: engine.RunFailed, ago: 4 * time.Hour, took: 20 * time.Minute, target: 15 * time.Minute, tags: []map[string]any{tagOf("import", "high", "sprint")}},
	{id: "r4", status: engine.RunSucceeded, ago: 3 * time.Hour, took: 6 * time.Minute, tags: []map[string]any{tagOf("dependency", "medium", "selective")}},
	{id: "r5", status: engine.RunSucceeded, ago: 2 * time.Hour, took: 2 * time.Minute},
	{id: "r6", status: engine.RunCancelled, ago: 90 * time.Minute, took: 50 * time.Minute, tags: []map[string]any{tagOf("tests", "low", "selective")}},
	{id: "r7", status: engine.RunRunning, ago: time.Hour, tags: []map[string]any{tagOf("dependency", "critical", "emergency")}},
	{id: "r9", status: engine.RunSucceeded, ago: 50 * time.Minute, took: 8 * time.Minute, target: 15 * time.Minute},
	{id: "r8", parent: "r9", status: engine.RunSucceeded, ago: 49 * time.Minute, took: 3 * time.Minute, tags: []map[string]any{tagOf("import", "high", "sprint")}},
	{id: "x1", status: engine.RunSucceeded, ago: time.Hour, took: time.Minute, otherRepo: true, tags: []map[string]any{tagOf("dependency", "critical", "emergency")}},
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	seedStore(t, repo, metricRuns)

	stdout, stderr, code := rbflow(t, repo, "metrics", "--since", "7d", "--json")
	if code != 0 {
		t.Fatalf("metrics exit %d: %s", code, stderr)
	}
	var got steps.Metrics
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("metrics --json: %v\n%s", err, stdout)
	}
	got.Since = nil
	want := steps.Metrics{
		Runs: 7, Succeeded: 5, Failed: 1, Cancelled: 1, Rollbacks: 6, Untagged: 1,
		ByCause:    map[string]int{"dependency": 3, "import": 2, "tests": 1},
		BySeverity: map[string]int{"critical": 2, "high": 2, "medium": 1, "low": 1},
		ByLevel:    map[string]int{"emergency": 2, "sprint": 2, "selective": 2},
		// 4m, 6m, 8m, 10m, 20m
		Measured: 5, MeanRecovery: 576, MedianRecovery: 480,
		WithTarget: 5, WithinTarget: 3, WithinTargetShare: 0.6,
		MostCommonCause: "dependency",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics --since 7d =\n%+v\nwant\n%+v", got, want)
	}

	// Without --since, r0 counts: 1m joins the recovery times.
	stdout, _, _ = rbflow(t, repo, "metrics", "--json")
	got = steps.Metrics{}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Runs != 8 || got.Rollbacks != 7 || got.Measured != 6 || got.MeanRecovery != 490 || got.MedianRecovery != 420 ||
		got.WithinTarget != 4 || got.WithTarget != 6 || got.ByCause["old"] != 1 || got.Since != nil {
		t.Errorf("metrics (all time) = %+v; want 8 runs, 7 rollbacks, mean 490s, median 420s, 4 of 6 within target", got)
	}

	stdout, _, code = rbflow(t, repo, "metrics", "--since", "7d", "--markdown")
	if code != 0 {
		t.Fatalf("metrics --markdown exit %d", code)
	}
	for _, want := range []string{
		"# Rollback metrics",
		"| Runs finished | 7 (5 succeeded, 1 failed, 1 cancelled) |",
		"| Mean recovery time | 9m36s |",
		"| Median recovery time | 8m0s |",
		"| Within target | 3 of 5 (60%) |",
		"| Most common cause | dependency (3) |",
		"## By severity\n\n| Severity | Rollbacks |\n|---|---|\n| critical | 2 |\n| high | 2 |\n| low | 1 |\n| medium | 1 |\n",
		"```mermaid\npie title Rollbacks by cause\n    \"dependency\" : 3\n    \"import\" : 2\n    \"tests\" : 1\n```\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("metrics --markdown lacks %q:\n%s", want, stdout)
		}
	}

	stdout, _, _ = rbflow(t, repo, "metrics", "--since", "7d")
	for _, want := range []string{"rollbacks recorded    6", "untagged runs         1", "most common cause     dependency (3)", "by cause              dependency 3, import 2, tests 1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("metrics text lacks %q:\n%s", want, stdout)
		}
	}

	_, stderr, code = rbflow(t, repo, "metrics", "--since", "last tuesday")
	if code != 2 || !strings.Contains(stderr, "want a duration (7d, 2w, 36h) or a date") {
		t.Errorf("bad --since: exit %d, %s", code, stderr)
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 22, 12, 0, 0, 0, time.Local)
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"1.5d", now.Add(-36 * time.Hour)},
		{"2w", now.Add(-14 * 24 * time.Hour)},
		{"36h", now.Add(-36 * time.Hour)},
		{"2025-06-01", time.Date(2025, 6, 1, 0, 0, 0, 0, time.Local)},
		{"2025-06-01T08:30:00Z", time.Date(2025, 6, 1, 8, 30, 0, 0, time.UTC)},
	} {
		got, err := parseSince(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"-3d", "soon", "2025-13-01"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) succeeded", bad)
		}
	}
}

// TestMetricsUndoneAndTie (issue 14), on real runs: a rollback that rbflow
// undo took back is left out of every figure with the undo run that did
// it, and metrics says how many were left out; causes that share the
// highest count are named as a tie, not one of them picked.
func TestMetricsUndoneAndTie(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	rollback := func(tag, cause string) {
		t.Helper()
		file := filepath.Join(aux, tag+".yaml")
		testkit.WriteFile(t, file, fmt.Sprintf(`version: 1
name: rollback
steps:
  - id: tag
    git: tag
    with: {name: %s}
  - id: record
    record: rollback
    with: {cause: %q, severity: high, level: sprint}
`, tag, cause))
		if o, e, code := rbflow(t, repo, "run", file); code != 0 {
			t.Fatalf("run %s: exit %d\n%s%s", tag, code, o, e)
		}
	}
	rollback("t1", "db down")
	rollback("t2", "tests failing")
	rollback("t3", "flaky deploy")
	if o, e, code := rbflow(t, repo, "undo", lastRunID(t, repo)); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	m := metricsOf(t, repo)
	if m.Runs != 2 || m.Succeeded != 2 || m.Rollbacks != 2 || m.Untagged != 0 || m.Undone != 1 || m.UndoRuns != 1 || m.ByCause["flaky deploy"] != 0 {
		t.Errorf("metrics %+v; want 2 runs, 2 rollbacks, none untagged, 1 undone run and its undo run left out", m)
	}
	if m.MostCommonCause != "" || strings.Join(m.TiedCauses, ",") != "db down,tests failing" {
		t.Errorf("most common %q, tied %v; want a tie of db down and tests failing", m.MostCommonCause, m.TiedCauses)
	}
	out, _, _ := query(t, repo, "metrics")
	for _, want := range []string{"runs finished         2 (2 succeeded, 0 failed, 0 cancelled)", "left out              1 undone run and the 1 undo run that took them back", "most common cause     tie: db down, tests failing (1 each)"} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lacks %q:\n%s", want, out)
		}
	}
	if md, _, _ := query(t, repo, "metrics", "--markdown"); !strings.Contains(md, "| Most common cause | tie: db down, tests failing (1 each) |") || !strings.Contains(md, "| Left out | 1 undone run") {
		t.Errorf("metrics --markdown:\n%s", md)
	}
}
