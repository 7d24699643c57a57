package steps

import (
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// An undone rollback is counted as undone, never as a rollback: it gives
// no cause, no severity and no recovery time (issue 12).
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
	if m.Runs != 3 || m.Rollbacks != 1 || m.Undone != 1 || m.Untagged != 1 {
		t.Errorf("runs %d rollbacks %d undone %d untagged %d; want 3 1 1 1", m.Runs, m.Rollbacks, m.Undone, m.Untagged)
	}
	if len(m.ByCause) != 1 || m.ByCause["bad migration"] != 1 || m.MostCommonCause != "bad migration" {
		t.Errorf("by cause %v, most common %q; want only the rollback that stands", m.ByCause, m.MostCommonCause)
	}
	if m.Measured != 1 || m.MeanRecovery != 240 {
		t.Errorf("measured %d, mean %v s; want 1 and 240", m.Measured, m.MeanRecovery)
	}
}
