package fleet_test

import (
	"context"
	"encoding/base64"
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
	"go.temporal.io/sdk/client"
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

// replayCallSource is the procedure of the second recorded history: a
// deadline (a timer, cancelled when the main steps end) and a call step
// (a child workflow) whose params read an earlier step's outputs.
const replayCallSource = `version: 1
name: replay-call
deadline: 1h
steps:
  - id: a
    run: echo who=fleet >> "$RBFLOW_OUTPUT"
  - id: c
    call: ./greet.yaml
    with:
      params:
        who: ${{ steps.a.outputs.who }}
`

const replayCallFile = "testdata/replay/procedure-call-deadline-v1.json"

// replayCallWorkflowID is the workflow id of that history (a repository's
// lock id): the call step's child workflow id is derived from it.
const replayCallWorkflowID = "rbflow/repo/web1:/srv/app"

// replayCall replays replayCallFile with r under its workflow id.
func replayCall(t *testing.T, r worker.WorkflowReplayer) error {
	fh, err := os.Open(replayCallFile)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	hist, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.ReplayWorkflowHistoryWithOptions(quiet(), hist, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: replayCallWorkflowID, RunID: "6e3c6bd9-7b7e-4b52-9d4b-6f0d7d3d0a01"},
	})
}

// replayCallInput is the input of that history: the callee as the
// starter resolved it, under fixed paths.
func replayCallInput(f *fixture) fleet.ProcedureInput {
	in := f.input(replayCallSource, nil)
	in.SourcePath = "/procedures/main.yaml"
	in.Called = []fleet.Called{{From: in.SourcePath, Ref: "./greet.yaml", Path: "/procedures/greet.yaml", Text: greetChild}}
	return in
}

// TestReplayCallDeadlineHistory replays the recorded history of a
// procedure with a deadline and a call step: the timer and the child
// workflow must come as they were recorded.
func TestReplayCallDeadlineHistory(t *testing.T) {
	if *update {
		recordCallHistory(t, replayCallFile)
	}
	reg, r := interpreterReplayer()
	if err := replayCall(t, r); err != nil {
		t.Fatalf("the interpreter no longer replays %s: %v", replayCallFile, err)
	}
	// Without the deadline's timer the history does not replay.
	r2 := worker.NewWorkflowReplayer()
	r2.RegisterWorkflowWithOptions(func(ctx workflow.Context, in fleet.ProcedureInput) (*fleet.Outcome, error) {
		return (&fleet.Interpreter{Registry: reg}).Procedure(ctx, noDeadline(in))
	}, workflow.RegisterOptions{Name: fleet.ProcedureWorkflow})
	if err := replayCall(t, r2); err == nil || !strings.Contains(err.Error(), "TMPRL1100") {
		t.Fatalf("an interpreter without the deadline's timer replayed the history: %v", err)
	}
}

// interpreterReplayer returns a replayer of the workflows of the fleet's
// interpreter, with the registry it compiles procedures against.
func interpreterReplayer() (*engine.Registry, worker.WorkflowReplayer) {
	reg := engine.NewRegistry()
	steps.Register(reg)
	r := worker.NewWorkflowReplayer()
	(&fleet.Interpreter{Registry: reg}).Register(r)
	return reg, r
}

// noDeadline is in without the procedure's deadline: line.
func noDeadline(in fleet.ProcedureInput) fleet.ProcedureInput {
	in.Source = strings.Replace(in.Source, "deadline: 1h\n", "", 1)
	return in
}

// TestReplayRecordedHistory replays a history of the procedure workflow
// recorded by an earlier interpreter: a change to the interpreter that
// would break the workflows running on it now (other commands for the same
// history) fails here. Such a change goes behind workflow.GetVersion.
func TestReplayRecordedHistory(t *testing.T) {
	if *update {
		recordHistory(t, replayFile)
	}
	_, r := interpreterReplayer()
	if err := r.ReplayWorkflowHistoryFromJSONFile(quiet(), replayFile); err != nil {
		t.Fatalf("the interpreter no longer replays %s: %v", replayFile, err)
	}
}

// serverHistories are histories recorded from a real Temporal server by
// RBFLOW_RECORD_REPLAY=1 make test-fleet (cmd/rbflow-fleet/e2e_test.go),
// their payloads opened, and what each holds that the histories built in
// the SDK's test environment do not.
var serverHistories = []struct {
	file  string
	holds []string
}{
	// An incident of the interpreter that asks each host for its
	// repository's identity (GetVersion repo-identity, version 1).
	{"testdata/replay/server-ask-incident.json", []string{b64(`"repo-identity"`), fleet.RepoActivity, "EVENT_TYPE_MARKER_RECORDED", "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"}},
	// Its target's procedure workflow: a prompt answered by an Update.
	{"testdata/replay/server-ask-procedure.json", []string{"EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED"}},
	// An incident cancelled while its step ran, and the procedure
	// workflow: the running step's activity cancelled, finally run.
	{"testdata/replay/server-cancel-incident.json", []string{fleet.RepoActivity, "EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"}},
	{"testdata/replay/server-cancel-procedure.json", []string{"EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED", "EVENT_TYPE_ACTIVITY_TASK_CANCELED"}},
}

// TestReplayServerHistories replays the histories a real server recorded
// (serverHistories): an interpreter change that would break an incident or
// procedure workflow running on a server fails here.
func TestReplayServerHistories(t *testing.T) {
	for _, h := range serverHistories {
		t.Run(filepath.Base(h.file), func(t *testing.T) {
			b, err := os.ReadFile(h.file)
			if err != nil {
				t.Fatalf("%v (record it with RBFLOW_RECORD_REPLAY=1 make test-fleet)", err)
			}
			for _, want := range h.holds {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s does not hold %q: it is not the history this test replays", h.file, want)
				}
			}
			_, r := interpreterReplayer()
			if err := r.ReplayWorkflowHistoryFromJSONFile(quiet(), h.file); err != nil {
				t.Fatalf("the interpreter no longer replays %s: %v", h.file, err)
			}
		})
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

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
	calls := captureActivities(t, f, dc)
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
	h.started(input)
	for _, c := range *calls {
		h.activity(h.workflowTask(), c.name, c.input, c.result)
	}
	h.completed(h.workflowTask(), result)
	h.write(t, file)
}

// activityCall is one activity a recorded workflow ran: its input and
// result as the data converter encodes them.
type activityCall struct {
	name   string
	input  *commonpb.Payloads
	result *commonpb.Payloads
}

// captureActivities records, in the order they start, the activities the
// fixture's workflow runs; a call step's callee runs its own in its own
// history, and they are left out. The list is whole once the run ends.
func captureActivities(t *testing.T, f *fixture, dc converter.DataConverter) *[]*activityCall {
	var mu sync.Mutex
	calls := new([]*activityCall)
	byID := map[string]*activityCall{}
	callee := func(info *activity.Info) bool { return strings.Contains(info.WorkflowExecution.ID, "/call/") }
	f.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if callee(info) {
			return
		}
		c := &activityCall{name: info.ActivityType.Name}
		var in any
		switch c.name {
		case fleet.BeginRunActivity:
			in = &fleet.BeginInput{}
		case fleet.StepActivity:
			in = &fleet.StepInput{}
		case fleet.EndRunActivity:
			in = &fleet.EndInput{}
		}
		_ = args.Get(in)
		var err error
		if c.input, err = dc.ToPayloads(in); err != nil {
			t.Error(err)
		}
		mu.Lock()
		*calls = append(*calls, c)
		byID[info.ActivityID] = c
		mu.Unlock()
	})
	f.env.SetOnActivityCompletedListener(func(info *activity.Info, result converter.EncodedValue, err error) {
		if callee(info) {
			return
		}
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
	return calls
}

// recordCallHistory runs replayCallSource in the SDK's test environment
// with real activities (the callee's too) and writes the history a server
// would have recorded for the caller's workflow: its activities, the
// deadline's timer, and the child workflow of the call step.
func recordCallHistory(t *testing.T, file string) {
	f := newFixture(t)
	dc := converter.GetDefaultDataConverter()
	f.env.SetDataConverter(dc)
	calls := captureActivities(t, f, dc) // the caller's
	var childInput, childResult *commonpb.Payloads
	var childID string
	f.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in fleet.ProcedureInput
		_ = args.Get(&in)
		// As a server names it under the caller's real id.
		childID = fleet.CallWorkflowID(replayCallWorkflowID, strings.TrimPrefix(info.WorkflowExecution.ID, info.ParentWorkflowExecution.ID+"/call/"))
		childInput, _ = dc.ToPayloads(in)
	})
	f.env.SetOnChildWorkflowCompletedListener(func(_ *workflow.Info, result converter.EncodedValue, err error) {
		var out fleet.Outcome
		if err != nil || result.Get(&out) != nil {
			t.Errorf("child workflow: %v", err)
		}
		childResult, _ = dc.ToPayloads(&out)
	})
	in := replayCallInput(f)
	out := f.run(in)
	caller := *calls
	if out.Status != engine.RunSucceeded || len(caller) != 3 || childResult == nil {
		t.Fatalf("recording run %s (%s), %d activities of the caller", out.Status, out.Error, len(caller))
	}
	input, _ := dc.ToPayloads(in)
	result, _ := dc.ToPayloads(out)

	h := &historyBuilder{start: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	h.started(input)
	// BeginRun.
	h.activity(h.workflowTask(), caller[0].name, caller[0].input, caller[0].result)
	// The deadline's timer, then step a.
	completed := h.workflowTask()
	timer := h.add(enums.EVENT_TYPE_TIMER_STARTED, &historypb.HistoryEvent_TimerStartedEventAttributes{
		TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{
			TimerId: strconv.Itoa(len(h.events) + 1), StartToFireTimeout: durationpb.New(time.Hour), WorkflowTaskCompletedEventId: completed,
		},
	})
	h.activity(completed, caller[1].name, caller[1].input, caller[1].result)
	// The call step's child workflow.
	completed = h.workflowTask()
	typ := &commonpb.WorkflowType{Name: fleet.ProcedureWorkflow}
	initiated := h.add(enums.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, &historypb.HistoryEvent_StartChildWorkflowExecutionInitiatedEventAttributes{
		StartChildWorkflowExecutionInitiatedEventAttributes: &historypb.StartChildWorkflowExecutionInitiatedEventAttributes{
			Namespace: "default", WorkflowId: childID, WorkflowType: typ,
			TaskQueue: &taskqueuepb.TaskQueue{Name: fleet.TaskQueue, Kind: enums.TASK_QUEUE_KIND_NORMAL},
			Input:     childInput, ParentClosePolicy: enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL, WorkflowTaskCompletedEventId: completed,
		},
	})
	exec := &commonpb.WorkflowExecution{WorkflowId: childID, RunId: "6e3c6bd9-7b7e-4b52-9d4b-6f0d7d3d0a02"}
	started := h.add(enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED, &historypb.HistoryEvent_ChildWorkflowExecutionStartedEventAttributes{
		ChildWorkflowExecutionStartedEventAttributes: &historypb.ChildWorkflowExecutionStartedEventAttributes{
			Namespace: "default", InitiatedEventId: initiated, WorkflowExecution: exec, WorkflowType: typ,
		},
	})
	h.workflowTask() // the child started: nothing to do
	h.add(enums.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED, &historypb.HistoryEvent_ChildWorkflowExecutionCompletedEventAttributes{
		ChildWorkflowExecutionCompletedEventAttributes: &historypb.ChildWorkflowExecutionCompletedEventAttributes{
			Result: childResult, Namespace: "default", WorkflowExecution: exec, WorkflowType: typ, InitiatedEventId: initiated, StartedEventId: started,
		},
	})
	// The main steps ended: the timer is cancelled, the run ends.
	completed = h.workflowTask()
	h.add(enums.EVENT_TYPE_TIMER_CANCELED, &historypb.HistoryEvent_TimerCanceledEventAttributes{
		TimerCanceledEventAttributes: &historypb.TimerCanceledEventAttributes{
			TimerId: strconv.FormatInt(timer, 10), StartedEventId: timer, WorkflowTaskCompletedEventId: completed,
		},
	})
	h.activity(completed, caller[2].name, caller[2].input, caller[2].result)
	h.completed(h.workflowTask(), result)
	h.write(t, file)
}

// started adds the workflow's start with its input.
func (h *historyBuilder) started(input *commonpb.Payloads) {
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
}

// activity adds an activity of the host's queue scheduled by the workflow
// task completed at completed, started and completed with result.
func (h *historyBuilder) activity(completed int64, name string, input, result *commonpb.Payloads) {
	sched := h.add(enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
		ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
			// A server's activity id is the event id of its scheduling.
			ActivityId:                   strconv.Itoa(len(h.events) + 1),
			ActivityType:                 &commonpb.ActivityType{Name: name},
			TaskQueue:                    &taskqueuepb.TaskQueue{Name: fleet.HostQueue("web1"), Kind: enums.TASK_QUEUE_KIND_NORMAL},
			Input:                        input,
			WorkflowTaskCompletedEventId: completed,
		},
	})
	started := h.add(enums.EVENT_TYPE_ACTIVITY_TASK_STARTED, &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{
		ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: sched, Attempt: 1},
	})
	h.add(enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
		ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{Result: result, ScheduledEventId: sched, StartedEventId: started},
	})
}

// completed adds the workflow's end with its result, after the workflow
// task completed at completed.
func (h *historyBuilder) completed(completed int64, result *commonpb.Payloads) {
	h.add(enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{
		WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{Result: result, WorkflowTaskCompletedEventId: completed},
	})
}

// write writes the history as the JSON a server exports.
func (h *historyBuilder) write(t *testing.T, file string) {
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
	case *historypb.HistoryEvent_TimerStartedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_TimerCanceledEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_StartChildWorkflowExecutionInitiatedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_ChildWorkflowExecutionStartedEventAttributes:
		e.Attributes = a
	case *historypb.HistoryEvent_ChildWorkflowExecutionCompletedEventAttributes:
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
