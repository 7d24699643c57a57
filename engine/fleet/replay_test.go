package fleet_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/steps"
)

var update = flag.Bool("update", false, "record testdata/replay/*.json again from the interpreter as it is now")

// replaySource is the procedure of the recorded history: a sequence, an
// if: over an output, a skipped step and finally.
const replaySource = `version: 1
name: replay
params:
  flag: {type: bool, default: false}
steps:
  - id: a
    run: echo n=1 >> "$RBFLOW_OUTPUT"
  - id: b
    if: steps.a.outputs.n == 1
    run: echo b
  - id: c
    if: params.flag
    run: echo c
  - id: d
    run: echo d
finally:
  - id: e
    run: echo e
`

const replayFile = "testdata/replay/procedure-v1.json"

// TestReplayRecordedHistory replays a history of the procedure workflow
// recorded by an earlier interpreter: a change to the interpreter that
// would break the workflows running on it now (other commands for the same
// history) fails here. Such a change goes behind workflow.GetVersion.
func TestReplayRecordedHistory(t *testing.T) {
	if *update {
		recordHistory(t, replayFile)
	}
	reg := engine.NewRegistry()
	steps.Register(reg)
	r := worker.NewWorkflowReplayer()
	(&fleet.Interpreter{Registry: reg}).Register(r)
	if err := r.ReplayWorkflowHistoryFromJSONFile(quiet(), replayFile); err != nil {
		t.Fatalf("the interpreter no longer replays %s: %v", replayFile, err)
	}
}

// TestReplayCatchesChange: an interpreter that schedules the steps in
// another order does not replay the recorded history (the test above can
// fail).
func TestReplayCatchesChange(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in fleet.ProcedureInput) (*fleet.Outcome, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		// The step first, the run's record after: not what was recorded.
		_ = workflow.ExecuteActivity(ctx, fleet.StepActivity, fleet.StepInput{}).Get(ctx, nil)
		_ = workflow.ExecuteActivity(ctx, fleet.BeginRunActivity, fleet.BeginInput{}).Get(ctx, nil)
		return &fleet.Outcome{}, nil
	}, workflow.RegisterOptions{Name: fleet.ProcedureWorkflow})
	err := r.ReplayWorkflowHistoryFromJSONFile(quiet(), replayFile)
	if err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Fatalf("a changed interpreter replayed the history: %v", err)
	}
}

// recordHistory runs replaySource in the SDK's test environment with real
// activities and writes the history a server would have recorded for it:
// the workflow schedules one activity per workflow task (a sequence).
func recordHistory(t *testing.T, file string) {
	f := newFixture(t)
	dc := converter.GetDefaultDataConverter()
	f.env.SetDataConverter(dc)
	type call struct {
		id, name string
		input    *commonpb.Payloads
		result   *commonpb.Payloads
	}
	var mu sync.Mutex
	var calls []*call
	byID := map[string]*call{}
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		c := &call{id: info.ActivityID, name: info.ActivityType.Name}
		var err error
		switch c.name {
		case fleet.BeginRunActivity:
			var in fleet.BeginInput
			_ = args.Get(&in)
			c.input, err = dc.ToPayloads(in)
		case fleet.StepActivity:
			var in fleet.StepInput
			_ = args.Get(&in)
			c.input, err = dc.ToPayloads(in)
		case fleet.EndRunActivity:
			var in fleet.EndInput
			_ = args.Get(&in)
			c.input, err = dc.ToPayloads(in)
		}
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		calls = append(calls, c)
		byID[c.id] = c
		mu.Unlock()
	})
	f.env.SetOnActivityCompletedListener(func(info *activity.Info, result converter.EncodedValue, err error) {
		mu.Lock()
		defer mu.Unlock()
		c := byID[info.ActivityID]
		if err != nil || c == nil {
			t.Errorf("activity %s: %v", info.ActivityID, err)
			return
		}
		if result != nil && result.HasValue() {
			var out fleet.StepOutput
			if result.Get(&out) == nil {
				c.result, _ = dc.ToPayloads(&out)
			}
		}
	})
	in := f.input(replaySource, nil)
	out := f.run(in)
	if out.Status != engine.RunSucceeded {
		t.Fatalf("recording run %s", out.Status)
	}
	input, err := dc.ToPayloads(in)
	if err != nil {
		t.Fatal(err)
	}
	result, err := dc.ToPayloads(out)
	if err != nil {
		t.Fatal(err)
	}

	h := &historyBuilder{start: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	h.add(enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
		WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
			WorkflowType:             &commonpb.WorkflowType{Name: fleet.ProcedureWorkflow},
			TaskQueue:                &taskqueuepb.TaskQueue{Name: fleet.TaskQueue, Kind: enums.TASK_QUEUE_KIND_NORMAL},
			Input:                    input,
			WorkflowTaskTimeout:      durationpb.New(10 * time.Second),
			OriginalExecutionRunId:   "6e3c6bd9-7b7e-4b52-9d4b-6f0d7d3d0a01",
			FirstExecutionRunId:      "6e3c6bd9-7b7e-4b52-9d4b-6f0d7d3d0a01",
			Attempt:                  1,
			WorkflowExecutionTimeout: durationpb.New(0),
			WorkflowRunTimeout:       durationpb.New(0),
		},
	})
	for _, c := range calls {
		completed := h.workflowTask()
		sched := h.add(enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
			ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				// A server's activity id is the event id of its scheduling.
				ActivityId:                   strconv.Itoa(len(h.events) + 1),
				ActivityType:                 &commonpb.ActivityType{Name: c.name},
				TaskQueue:                    &taskqueuepb.TaskQueue{Name: fleet.HostQueue("web1"), Kind: enums.TASK_QUEUE_KIND_NORMAL},
				Input:                        c.input,
				WorkflowTaskCompletedEventId: completed,
			},
		})
		started := h.add(enums.EVENT_TYPE_ACTIVITY_TASK_STARTED, &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
			ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: sched, Attempt: 1},
		})
		h.add(enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
			ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{Result: c.result, ScheduledEventId: sched, StartedEventId: started},
		})
	}
	completed := h.workflowTask()
	h.add(enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
		WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: result, WorkflowTaskCompletedEventId: completed},
	})
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: h.events})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// historyBuilder numbers events and stamps them a second apart.
type historyBuilder struct {
	start  time.Time
	events []*historypb.HistoryEvent
}

func (h *historyBuilder) add(typ enums.EventType, attrs any) int64 {
	id := int64(len(h.events) + 1)
	e := &historypb.HistoryEvent{EventId: id, EventType: typ, EventTime: timestamppb.New(h.start.Add(time.Duration(id) * time.Second))}
	switch a := attrs.(type) {
	case *historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_WorkflowTaskStartedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_ActivityTaskScheduledEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_ActivityTaskStartedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_ActivityTaskCompletedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes:
		e.Attributes = a
	}
	h.events = append(h.events, e)
	return id
}

// workflowTask adds a workflow task's three events and returns the id of
// its completion.
func (h *historyBuilder) workflowTask() int64 {
	sched := h.add(enums.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{
		WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{
			TaskQueue: &taskqueuepb.TaskQueue{Name: fleet.TaskQueue, Kind: enums.TASK_QUEUE_KIND_NORMAL}, StartToCloseTimeout: durationpb.New(10 * time.Second), Attempt: 1,
		},
	})
	started := h.add(enums.EVENT_TYPE_WORKFLOW_TASK_STARTED, &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{
		WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{ScheduledEventId: sched},
	})
	return h.add(enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{
		WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{ScheduledEventId: sched, StartedEventId: started},
	})
}

func quiet() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
