package steps

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

// recordKind records a metrics event tied to the run: `record: rollback`
// tags the run as a rollback (rbflow metrics counts it by cause, severity
// and level and measures its recovery time from the run itself);
// `record: event` keeps any other fact.
type recordKind struct{}

var _ engine.Kind = recordKind{}

// Event kinds recorded by record steps.
const (
	EventRollback = "rollback"
	EventOther    = "event"
	// lastRollback reads the latest rollback instead of recording one.
	lastRollback = "last_rollback"
)

var recordFields = []string{"cause", "severity", "level", "sprint", "note"}

// Signature: the event kind and its facts; a rollback needs its cause.
func (recordKind) Signature() engine.Signature {
	facts := func(cause engine.Field) []engine.Field {
		return []engine.Field{
			cause,
			{Name: "severity", Type: engine.String, Enum: spec.Severities, Description: "default: the procedure's severity"},
			{Name: "level", Type: engine.String},
			{Name: "sprint", Type: engine.Int},
			{Name: "note", Type: engine.String},
		}
	}
	return engine.Signature{
		Arg: "the metrics event to record",
		Actions: []engine.ActionSig{
			{Name: EventRollback, Description: "tag the run as a rollback; rbflow metrics counts it", With: facts(engine.Field{
				Name: "cause", Type: engine.String, Required: true, Description: "what made the rollback necessary; rbflow metrics counts rollbacks by cause"})},
			{Name: EventOther, Description: "keep any other fact (with.note or with.cause)", With: facts(engine.Field{Name: "cause", Type: engine.String})},
			{Name: lastRollback, Description: "read the latest rollback of this repository that was not undone into the step's outputs (found, run_id, procedure, status, started_at, ended_at, took, level, cause, severity, sprint, baseline, failed_branch, failed_commit, branch, branches, actions); found is false when there is none"},
		},
	}
}

func (recordKind) Compile(c *engine.KindContext) engine.Action {
	kind := c.Action()
	args := c.With()
	if kind == lastRollback {
		return lastRollbackAction{}
	}
	if kind == EventRollback && !args.Has("cause") {
		return nil // reported: the signature requires it
	}
	if kind == EventOther && !args.Has("note") && !args.Has("cause") {
		c.Errorf(withPos(c), "record: event needs with.note (what happened)")
		return nil
	}
	return &recordAction{kind: kind, args: args, severity: c.Procedure.Severity}
}

type recordAction struct {
	kind     string
	args     *engine.Args
	severity string // the procedure's, the default
}

// DefaultOnResume: rerun; a record step records its event once (it looks for it first).
func (*recordAction) DefaultOnResume() string { return "rerun" }

func (a *recordAction) data(x *engine.Exec) (map[string]any, error) {
	data := map[string]any{}
	for _, f := range recordFields {
		if !a.args.Has(f) {
			continue
		}
		if f == "sprint" {
			n, err := x.Int(a.args, f)
			if err != nil {
				return nil, err
			}
			data[f] = n
			continue
		}
		s, err := x.String(a.args, f)
		if err != nil {
			return nil, err
		}
		if s = strings.TrimSpace(x.Mask(s)); s != "" {
			data[f] = s
		}
	}
	if data["severity"] == nil && a.severity != "" {
		data["severity"] = a.severity
	}
	if data["level"] == nil {
		// A procedure is one level of the seed's decision matrix
		// (emergency, sprint, selective).
		data["level"] = x.Procedure
	}
	data["procedure"] = x.Procedure
	data["step"] = x.StepID
	return data, nil
}

// Describe shows the event that would be recorded.
func (a *recordAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	data, err := a.data(x)
	if err != nil {
		return "", err
	}
	return "record " + a.kind + " " + formatData(data), nil
}

func formatData(data map[string]any) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, data[k])
	}
	return strings.Join(parts, " ")
}

func (a *recordAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	data, err := a.data(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	st := x.Events()
	out := engine.Result{Outputs: map[string]any{"kind": a.kind}}
	for k, v := range data {
		out.Outputs[k] = v
	}
	// A step run again (resume, retry) records its event once.
	events, err := st.Events(ctx, a.kind)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	for _, e := range events {
		if e.RunID == x.RunID && e.Data["step"] == x.StepID && reflect.DeepEqual(e.Data, data) {
			fmt.Fprintf(x.Log, "already recorded: %s %s\n", a.kind, formatData(data))
			return out, nil
		}
	}
	if err := st.AddEvent(ctx, x.RunID, a.kind, data); err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	fmt.Fprintf(x.Log, "recorded %s: %s\n", a.kind, formatData(data))
	return out, nil
}

// lastRollbackAction reads the facts of the repository's latest rollback
// (LatestRollback): the outputs analyze, notify and checklist default to.
// The step records them, so a resumed run keeps the rollback it started
// from even if another one happened in between.
type lastRollbackAction struct{}

func (lastRollbackAction) DefaultOnResume() string { return "rerun" }

func (lastRollbackAction) Describe(context.Context, *engine.Exec) (string, error) {
	return "read the latest rollback of this repository from rbflow's store", nil
}

func (lastRollbackAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	rb, err := LatestRollback(ctx, x.Runs(), x.Events(), x.PlanOf, x.Repo)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	if rb == nil {
		fmt.Fprintln(x.Log, "no rollback recorded in this repository yet (or every one was undone)")
	} else {
		fmt.Fprintf(x.Log, "latest rollback: run %s of %s (%s), %s, from %s back to %s\n",
			rb.Run.ID, rb.Run.Procedure, rb.Run.Shown(), rb.Run.EndedAt.Local().Format("2006-01-02 15:04"), orNone(rb.FailedBranch), orNone(rb.Baseline))
	}
	return engine.Result{Outputs: rb.Outputs()}, nil
}

func orNone(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
