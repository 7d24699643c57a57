package steps

import (
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// An undone rollback is left out, with the undo run that undid it, and
// counted only as left out: it gives no run, no cause, no severity and no
// recovery time (issues 12, 14).
func TestMetricsLeaveUndoneRollbacksOut(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	runs := []*engine.Run{
		{ID: "r1", Status: engine.RunSucceeded, StartedAt: at, EndedAt: at.Add(4 * time.Minute)},
		{ID: "r2", Status: engine.RunSucceeded, StartedAt: at, EndedAt: at.Add(40 * time.Minute), UndoneBy: "u1"},
		{ID: "u1", Status: engine.RunSucceeded, StartedAt: at, EndedAt: at.Add(time.Second)},
	}
	events := []engine.RecordedEvent{
		{RunID: "r1", Kind: EventRollback, Data: map[string]any{"cause": "bad migration", "severity": "high"}},
		{RunID: "r2", Kind: EventRollback, Data: map[string]any{"cause": "flaky deploy", "severity": "low"}},
	}
	m := ComputeMetrics(runs, events, time.Time{})
	if m.Runs != 1 || m.Succeeded != 1 || m.Rollbacks != 1 || m.Undone != 1 || m.UndoRuns != 1 || m.Untagged != 0 {
		t.Errorf("runs %d succeeded %d rollbacks %d undone %d undo runs %d untagged %d; want 1 1 1 1 1 0", m.Runs, m.Succeeded, m.Rollbacks, m.Undone, m.UndoRuns, m.Untagged)
	}
	if len(m.ByCause) != 1 || m.ByCause["bad migration"] != 1 || m.MostCommonCause != "bad migration" {
		t.Errorf("by cause %v, most common %q; want only the rollback that stands", m.ByCause, m.MostCommonCause)
	}
	if m.Measured != 1 || m.MeanRecovery != 240 {
		t.Errorf("measured %d, mean %v s; want 1 and 240", m.Measured, m.MeanRecovery)
	}
}

// Causes that share the highest count are a tie, named as one: no cause is
// picked among them (issue 14).
func TestMetricsMostCommonCauseTie(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var runs []*engine.Run
	var events []engine.RecordedEvent
	for i, cause := range []string{"db down", "tests failing", "db down", "tests failing", "flaky deploy", ""} {
		id := string(rune('a' + i))
		runs = append(runs, &engine.Run{ID: id, Status: engine.RunSucceeded, StartedAt: at, EndedAt: at.Add(time.Minute)})
		events = append(events, engine.RecordedEvent{RunID: id, Kind: EventRollback, Data: map[string]any{"cause": cause}})
	}
	m := ComputeMetrics(runs, events, time.Time{})
	if m.MostCommonCause != "" || len(m.TiedCauses) != 2 || m.TiedCauses[0] != "db down" || m.TiedCauses[1] != "tests failing" {
		t.Errorf("most common %q, tied %v; want a tie of db down and tests failing", m.MostCommonCause, m.TiedCauses)
	}
	m = ComputeMetrics(runs[:3], events[:3], time.Time{})
	if m.MostCommonCause != "db down" || m.TiedCauses != nil {
		t.Errorf("most common %q, tied %v; want db down, no tie", m.MostCommonCause, m.TiedCauses)
	}
}
