package steps

import (
	"context"
	"fmt"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

func TestRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run, recs, err := h.run("emergency", `version: 1
name: emergency
severity: critical
params:
  sprint: {type: int, default: 4}
steps:
  - id: tag
    record: rollback
    with: {cause: "${{ 'dependency' + ' conflict' }}", sprint: "${{ params.sprint }}"}
  - id: note
    record: event
    with: {note: services restarted}
`)
	mustSucceed(t, recs, err)
	events, err := h.st.Events(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("events = %+v, want 2", events)
	}
	want := map[string]any{"cause": "dependency conflict", "severity": "critical", "level": "emergency", "sprint": 4, "procedure": "emergency", "step": "tag"}
	checkEvent(t, events[0], run.ID, "rollback", want)
	checkEvent(t, events[1], run.ID, "event", map[string]any{"note": "services restarted", "severity": "critical", "level": "emergency", "procedure": "emergency", "step": "note"})
}

func checkEvent(t *testing.T, e engine.RecordedEvent, runID, kind string, want map[string]any) {
	t.Helper()
	if e.RunID != runID || e.Kind != kind {
		t.Errorf("event = %+v, want run %s kind %s", e, runID, kind)
	}
	if fmt.Sprint(e.Data) != fmt.Sprint(want) {
		t.Errorf("event data = %v, want %v", e.Data, want)
	}
}
