package fleet

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Names shared by workers and starters.
const (
	// TaskQueue is the queue of the workflow code, polled by every worker.
	TaskQueue = "rbflow"

	ProcedureWorkflow = "rbflow.procedure"
	IncidentWorkflow  = "rbflow.incident"

	BeginRunActivity = "rbflow.begin_run"
	StepActivity     = "rbflow.step"
	EndRunActivity   = "rbflow.end_run"

	// AnswerUpdate answers a waiting prompt (an Answer).
	AnswerUpdate = "answer"
	// StatusQuery returns a procedure workflow's Outcome so far.
	StatusQuery = "status"
	// TargetsQuery returns an incident's Child list.
	TargetsQuery = "targets"
)

// LostAttempts is how many attempts of a step beyond those its retry
// allows Temporal may make after losing them (a dead worker, a host that
// timed out): each runs the step again as resumed.
const LostAttempts = 3

// Defaults of ProcedureInput's timeouts.
const (
	DefaultHeartbeat  = 30 * time.Second
	DefaultStepLimit  = 24 * time.Hour // start-to-close of a step without timeout:
	DefaultGrace      = 10 * time.Second
	bookkeepingLimits = time.Minute
)

// HostQueue is the task queue of a host's steps.
func HostQueue(host string) string { return "rbflow/host/" + host }

// LockID is the workflow id of the procedure workflow that works on a
// repository: Temporal runs one open workflow per id, so it is the
// fleet-wide lock of that repository.
func LockID(t Target) string { return "rbflow/repo/" + t.Host + ":" + filepath.Clean(t.Path) }

// Target is one repository on one host (--on HOST:PATH).
type Target struct {
	Host string
	Path string
}

func (t Target) String() string { return t.Host + ":" + t.Path }

// ParseTarget reads HOST:PATH.
func ParseTarget(s string) (Target, error) {
	host, path, ok := strings.Cut(s, ":")
	if !ok || host == "" || path == "" || !filepath.IsAbs(path) {
		return Target{}, fmt.Errorf("--on %q: want HOST:PATH with an absolute path (web1:/srv/app)", s)
	}
	return Target{Host: host, Path: filepath.Clean(path)}, nil
}

// ProcedureInput is what a procedure workflow runs: the procedure's text
// (compiled again, the same way, by the workflow: the dsl sample's shape),
// its typed params and the answers given at the start.
type ProcedureInput struct {
	RunID      string // the run's id in the host's store
	Target     Target
	Source     string
	SourcePath string
	Params     map[string]any
	Answers    map[string]string
	Parallel   int           // steps at once (0: 4)
	Heartbeat  time.Duration // a step's heartbeat timeout (0: DefaultHeartbeat)
	// HostWait is the schedule-to-start timeout of a step: how long it may
	// wait for its host's worker before the run stops (0: for ever).
	HostWait time.Duration
	Grace    time.Duration // what a step's start-to-close adds to its timeout (0: DefaultGrace)
}

// Outcome is how a procedure workflow stands or ended: the StatusQuery
// result and the workflow's result. Secret values are masked.
type Outcome struct {
	RunID      string
	Procedure  string
	Target     Target
	Status     engine.RunStatus
	FailedStep string
	Waiting    []string // steps waiting for an answer
	Steps      []*engine.StepRecord
	Error      string
	StartedAt  time.Time
	EndedAt    time.Time // zero while it runs
	// Warnings are set by rbflow-fleet's commands, not by the workflow:
	// engine.Warnings of a run that succeeded (status --json).
	Warnings []string `json:",omitempty"`
}

// Answer is the argument of AnswerUpdate.
type Answer struct {
	Step  string
	Value string
}

// Interpreter holds the workflow code: the registry procedures are
// compiled against, as the starter compiled them.
type Interpreter struct {
	Registry *engine.Registry
}

// Compile compiles a procedure for the fleet: a load error, or a feature
// the fleet does not run, refuses it before anything starts.
func Compile(path, source string, reg *engine.Registry) (*engine.Plan, error) {
	// A call step is a positioned load error: its callee would run on
	// the host as a child run the workflow does not see.
	noCalls := func(ref, _ string) (engine.Source, error) {
		return engine.Source{}, fmt.Errorf("call steps do not run on Temporal yet (%s): run the procedure on the host, or copy the called steps in", ref)
	}
	plan, err := (&engine.Loader{Registry: reg, Resolve: noCalls}).Load(engine.Source{Path: path, Text: []byte(source)})
	if err != nil {
		return nil, err
	}
	switch {
	case plan.Procedure.Deadline > 0:
		return nil, fmt.Errorf("%s: deadline: is not applied on Temporal yet: remove it to run the procedure on the fleet", path)
	case len(plan.Notifications) > 0:
		return nil, fmt.Errorf("%s: notifications: are not sent on Temporal yet: remove them to run the procedure on the fleet", path)
	}
	return plan, nil
}

// procRun is the state of one procedure workflow.
type procRun struct {
	in      ProcedureInput
	plan    *engine.Plan
	params  map[string]any
	mask    *engine.Mask
	env     map[string]string
	start   time.Time
	ended   time.Time // when the run's status was decided
	recs    map[string]*engine.StepRecord
	waiting map[string]string // step -> what it waits for
	answers map[string]string
	given   int // answers given by update so far
	status  engine.RunStatus
	cancel  bool // the workflow was cancelled: cancelled() is true
	failed  string
	errMsg  string
}

// Procedure is the procedure workflow: it runs one procedure on one
// repository, each step an activity on the host's queue.
func (in *Interpreter) Procedure(ctx workflow.Context, input ProcedureInput) (*Outcome, error) {
	plan, err := Compile(input.SourcePath, input.Source, in.Registry)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ProcedureError", nil)
	}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Given: input.Params})
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ParamsError", nil)
	}
	r := &procRun{
		in: input, plan: plan, params: params, mask: engine.NewMask(plan.Procedure, params),
		start: workflow.Now(ctx), recs: map[string]*engine.StepRecord{}, waiting: map[string]string{},
		answers: map[string]string{}, status: engine.RunRunning,
	}
	maps.Copy(r.answers, input.Answers)
	if err := r.renderEnv(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ProcedureError", nil)
	}
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (*Outcome, error) { return r.outcome(), nil }); err != nil {
		return nil, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, AnswerUpdate, func(ctx workflow.Context, a Answer) error {
		r.answers[a.Step] = a.Value
		r.given++
		return nil
	}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, a Answer) error {
		return plan.CheckAnswers(map[string]string{a.Step: a.Value})
	}}); err != nil {
		return nil, err
	}

	bctx := workflow.WithActivityOptions(ctx, r.bookkeeping())
	if err := workflow.ExecuteActivity(bctx, BeginRunActivity, BeginInput{
		RunID: input.RunID, Repo: input.Target.Path, Source: input.Source, SourcePath: input.SourcePath,
		Params: params, StartedAt: r.start,
	}).Get(bctx, nil); err != nil {
		// Version 1: the workflow completes with the run failed and why,
		// as when a step's host is lost; it failed with the SDK's error.
		if workflow.GetVersion(ctx, "begin-run-outcome", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return nil, err
		}
		r.status, r.errMsg, r.ended = engine.RunFailed, r.mask.String(r.lostReason(err, "the run")), workflow.Now(ctx)
		return r.outcome(), nil
	}

	r.section(ctx, plan.Main, spec.SectionMain, false)
	status, failed := engine.RunSucceeded, r.firstFailed(plan.Main)
	cancelled := ctx.Err() != nil
	switch {
	case cancelled:
		status, r.cancel = engine.RunCancelled, true
	case failed != "":
		status = engine.RunFailed
	}
	r.failed = failed // run.failed_step in on_failure and finally
	// After a cancel, on_failure and finally run all the same.
	ectx := ctx
	if cancelled {
		ectx, _ = workflow.NewDisconnectedContext(ctx)
	}
	if status == engine.RunFailed && len(plan.OnFailure) > 0 {
		r.section(ectx, plan.OnFailure, spec.SectionOnFailure, true)
	}
	if len(plan.Finally) > 0 {
		r.section(ectx, plan.Finally, spec.SectionFinally, status != engine.RunSucceeded)
		if status == engine.RunSucceeded {
			if f := r.firstFailed(plan.Finally); f != "" {
				status, failed = engine.RunFailed, f
			}
		}
	}
	r.status, r.failed, r.ended = status, failed, workflow.Now(ctx)

	var decided []*engine.StepRecord
	for _, st := range plan.Steps() {
		if rec, ok := r.recs[st.ID]; ok && !rec.StartedAt.IsZero() && rec.PID == 0 {
			decided = append(decided, rec)
		}
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, r.bookkeeping())
	if err := workflow.ExecuteActivity(dctx, EndRunActivity, EndInput{
		RunID: input.RunID, Repo: input.Target.Path, Source: input.Source, SourcePath: input.SourcePath,
		Status: status, FailedStep: failed, Decided: decided,
	}).Get(dctx, nil); err != nil {
		r.errMsg = "the host did not record the run's end: " + err.Error()
	}
	return r.outcome(), nil
}

// renderEnv renders the procedure's env, as the host does, for the
// conditions the workflow evaluates.
func (r *procRun) renderEnv() error {
	r.env = map[string]string{}
	data := r.data(nil, eval.Status{Success: true}, 0)
	for _, e := range r.plan.Env {
		v, err := e.Value.Render(r.plan.Eval().Env(data))
		if err != nil {
			return fmt.Errorf("env %s: %w", e.Name, err)
		}
		r.env[e.Name] = v
	}
	return nil
}

func (r *procRun) bookkeeping() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              HostQueue(r.in.Target.Host),
		StartToCloseTimeout:    bookkeepingLimits,
		ScheduleToStartTimeout: r.in.HostWait,
	}
}

// stepOptions maps a step's timeout and retry to its activity's.
func (r *procRun) stepOptions(st *engine.Step) workflow.ActivityOptions {
	attempts, delay, backoff := 1, time.Duration(0), 1.0
	if rt := st.Spec.Retry; rt != nil && !st.Looped() {
		// A step with for_each retries each item on the host.
		attempts, delay, backoff = rt.Attempts, rt.Delay, rt.Backoff
	}
	if delay <= 0 {
		delay = time.Second
	}
	if backoff < 1 {
		backoff = 1
	}
	hb := r.in.Heartbeat
	if hb <= 0 {
		hb = DefaultHeartbeat
	}
	grace := r.in.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	limit := DefaultStepLimit
	if t := st.Spec.Timeout; t > 0 && !st.Looped() {
		// The host stops the step at its timeout; Temporal stops an
		// attempt whose worker did not within the grace period.
		limit = t + grace
	}
	return workflow.ActivityOptions{
		TaskQueue:              HostQueue(r.in.Target.Host),
		ScheduleToStartTimeout: r.in.HostWait,
		StartToCloseTimeout:    limit,
		HeartbeatTimeout:       hb,
		WaitForCancellation:    true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    delay,
			BackoffCoefficient: backoff,
			MaximumAttempts:    int32(attempts + LostAttempts),
		},
	}
}

// section runs one section's steps as a DAG, Parallel at once, in plan
// order among the steps that are ready.
func (r *procRun) section(ctx workflow.Context, steps []*engine.Step, section string, runFailed bool) {
	parallel := r.in.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	done := workflow.NewBufferedChannel(ctx, len(steps))
	started := map[string]bool{}
	running := 0
	for {
		if ctx.Err() == nil {
			for _, st := range steps {
				if running >= parallel {
					break
				}
				if started[st.ID] || !r.ready(st) {
					continue
				}
				started[st.ID] = true
				running++
				status := r.statusOf(ctx, st, section, runFailed)
				workflow.Go(ctx, func(ctx workflow.Context) {
					r.step(ctx, st, status)
					done.Send(ctx, st.ID)
				})
			}
		}
		if running == 0 {
			break
		}
		var id string
		done.Receive(ctx, &id)
		running--
	}
	if ctx.Err() != nil {
		now := workflow.Now(ctx)
		for _, st := range steps {
			if _, ok := r.recs[st.ID]; !ok {
				r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepCancelled, "cancelled before it started", now)
			}
		}
	}
}

func (r *procRun) ready(st *engine.Step) bool {
	for _, n := range st.Needs {
		rec, ok := r.recs[n.ID]
		if !ok || !rec.Status.Terminal() {
			return false
		}
	}
	return true
}

// statusOf is what success(), failure() and cancelled() give for st, as in
// a local run.
func (r *procRun) statusOf(ctx workflow.Context, st *engine.Step, section string, runFailed bool) eval.Status {
	failed := r.failedAbove(st, map[*engine.Step]bool{})
	cancelled := ctx.Err() != nil || r.cancel
	if section == spec.SectionMain {
		return eval.Status{Success: !failed && !cancelled, Failure: failed, Cancelled: cancelled}
	}
	return eval.Status{Success: !failed, Failure: failed || runFailed, Cancelled: cancelled}
}

func (r *procRun) failedAbove(st *engine.Step, seen map[*engine.Step]bool) bool {
	if v, ok := seen[st]; ok {
		return v
	}
	failed := false
	for _, n := range st.Needs {
		rec, ok := r.recs[n.ID]
		if ok && (rec.Conclusion == engine.StepFailed || rec.Status == engine.StepCancelled) || r.failedAbove(n, seen) {
			failed = true
			break
		}
	}
	seen[st] = failed
	return failed
}

// data is the expression data of a step's if: in the workflow: no host
// functions (a condition that calls one is evaluated on the host).
func (r *procRun) data(st *engine.Step, status eval.Status, elapsed float64) *eval.Data {
	steps := make(map[string]eval.StepState, len(r.recs))
	for _, s := range r.plan.Steps() {
		if rec, ok := r.recs[s.ID]; ok {
			steps[s.ID] = rec.State()
		} else {
			steps[s.ID] = eval.StepState{Status: string(engine.StepPending), Outputs: map[string]any{}}
		}
	}
	return &eval.Data{
		Params: r.params, Env: r.env, Steps: steps,
		Run: eval.RunState{
			ID: r.in.RunID, Procedure: r.plan.Name(), Elapsed: elapsed,
			Target: r.plan.Procedure.Target.Seconds(), Status: string(engine.RunRunning), FailedStep: r.failed,
		},
		Status: status,
	}
}

// evalIf says whether the host evaluates the step's condition: it reads
// the machine or the clock, or (for_each) each item has its own.
func evalIf(st *engine.Step) bool {
	return st.Looped() || st.If != nil && st.If.Reads() != ""
}

// step decides whether st runs, runs it on the host until it ends (an
// answer given to a waiting prompt runs it again) and keeps its record.
func (r *procRun) step(ctx workflow.Context, st *engine.Step, status eval.Status) {
	now := workflow.Now(ctx)
	if !evalIf(st) {
		skip, reason := false, ""
		if st.If != nil {
			ok, err := st.If.Eval(r.plan.Eval().Env(r.data(st, status, now.Sub(r.start).Seconds())))
			if err != nil {
				r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepFailed, r.mask.String("if: "+err.Error()), now)
				return
			}
			skip = !ok
		} else if !status.Success {
			skip, reason = true, "skipped: an earlier step failed"
			if status.Cancelled {
				reason = "skipped: the run was cancelled"
			}
		}
		if skip {
			r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepSkipped, reason, now)
			return
		}
	}
	actx := workflow.WithActivityOptions(ctx, r.stepOptions(st))
	for {
		prior := r.prior(st)
		var out StepOutput
		err := workflow.ExecuteActivity(actx, StepActivity, StepInput{
			RunID: r.in.RunID, Repo: r.in.Target.Path, Source: r.in.Source, SourcePath: r.in.SourcePath,
			Step: st.ID, FailedStep: r.failed, Prior: prior, Status: status, EvalIf: evalIf(st), Params: r.params, Answers: r.answers,
		}).Get(actx, &out)
		now = workflow.Now(ctx)
		var canceled *temporal.CanceledError
		switch {
		case errors.As(err, &canceled) || err != nil && ctx.Err() != nil:
			r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepCancelled, "cancelled while it ran", now)
			return
		case err != nil:
			r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepFailed, r.mask.String(r.lostReason(err, "the step")), now)
			return
		case out.Record == nil:
			r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepFailed, "the host returned no record", now)
			return
		case !out.Waiting:
			r.recs[st.ID] = out.Record
			delete(r.waiting, st.ID)
			return
		}
		// A prompt with no answer: wait for one (AnswerUpdate), then run
		// the step again with it.
		r.waiting[st.ID] = out.Record.Error
		r.recs[st.ID] = out.Record
		seen := r.given
		if err := workflow.Await(ctx, func() bool { return r.given > seen && r.answered(st.ID) }); err != nil {
			r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepCancelled, "cancelled while it waited for an answer", workflow.Now(ctx))
			delete(r.waiting, st.ID)
			return
		}
		delete(r.waiting, st.ID)
		delete(r.recs, st.ID)
	}
}

// prior are the records a step's expressions read, without their output
// tails: what its activity needs, and no more, so that the history grows
// by what each step reads.
func (r *procRun) prior(st *engine.Step) []*engine.StepRecord {
	ids, all := st.StepsRead(r.plan)
	if all {
		ids = nil
		for _, s := range r.plan.Steps() {
			ids = append(ids, s.ID)
		}
	}
	var out []*engine.StepRecord
	for _, id := range ids {
		if rec, ok := r.recs[id]; ok && rec.Status.Terminal() {
			cp := *rec
			cp.Tail, cp.LogPath = "", ""
			out = append(out, &cp)
		}
	}
	return out
}

// answered reports whether an answer is given for a step or one of its items.
func (r *procRun) answered(id string) bool {
	for k := range r.answers {
		if step, _, item := engine.ItemOf(k); k == id || item && step == id {
			return true
		}
	}
	return false
}

// lostReason says why an activity (what: "the step", "the run") gave up.
func (r *procRun) lostReason(err error, what string) string {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		switch te.TimeoutType() {
		case enums.TIMEOUT_TYPE_SCHEDULE_TO_START:
			host := r.in.Target.Host
			return fmt.Sprintf("no worker of host %s took %s within %s (--host-wait): is 'rbflow worker --host %s' running there?", host, what, r.in.HostWait, host)
		case enums.TIMEOUT_TYPE_HEARTBEAT:
			return "its host's worker stopped answering (heartbeat timeout) on every attempt"
		case enums.TIMEOUT_TYPE_START_TO_CLOSE:
			return "timed out on the host, and the worker did not stop it"
		}
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Message()
	}
	return err.Error()
}

func (r *procRun) firstFailed(steps []*engine.Step) string {
	for _, s := range steps {
		if rec, ok := r.recs[s.ID]; ok && rec.Conclusion == engine.StepFailed {
			return s.ID
		}
	}
	return ""
}

// outcome is the run as it stands, secrets masked.
func (r *procRun) outcome() *Outcome {
	o := &Outcome{RunID: r.in.RunID, Procedure: r.plan.Name(), Target: r.in.Target, Status: r.status, FailedStep: r.failed, Error: r.errMsg,
		StartedAt: r.start, EndedAt: r.ended}
	if r.status == engine.RunRunning && len(r.waiting) > 0 {
		o.Status = engine.RunWaiting
	}
	for _, st := range r.plan.Steps() {
		if msg, ok := r.waiting[st.ID]; ok {
			o.Waiting = append(o.Waiting, st.ID+": "+msg)
		}
		if rec, ok := r.recs[st.ID]; ok {
			cp := *rec
			cp.Outputs, _ = r.mask.Any(rec.Outputs).(map[string]any)
			cp.Error = r.mask.String(rec.Error)
			cp.Tail = r.mask.String(rec.Tail)
			o.Steps = append(o.Steps, &cp)
		}
	}
	return o
}

// IncidentInput is one incident: one procedure on several repositories.
type IncidentInput struct {
	RunID   string
	Targets []Target
	// Procedure holds the procedure, params and options every target
	// runs with; its RunID and Target are set per target.
	Procedure ProcedureInput
	// TargetParams, when given, holds params of each target (by index)
	// that replace the procedure's: an undo names each target's own run.
	TargetParams []map[string]any `json:",omitempty"`
}

// Child is one target's procedure workflow.
type Child struct {
	Target     Target
	RunID      string // the run's id in the host's store
	WorkflowID string // LockID(Target)
	Execution  string // Temporal's run id of the workflow ("" until started)
	Error      string // why it did not start
}

// IncidentOutcome is how an incident ended, target by target.
type IncidentOutcome struct {
	RunID string
	Runs  []*Outcome
}

// TargetRunID is the run id of an incident's i-th target (0-based).
func TargetRunID(incident string, i int) string { return fmt.Sprintf("%s-%d", incident, i+1) }

// IncidentOf is the incident of a target's run id (TargetRunID's inverse).
func IncidentOf(runID string) string {
	if i := strings.LastIndexByte(runID, '-'); i > 0 {
		return runID[:i]
	}
	return runID
}

// Incident is the incident workflow: one procedure workflow per target,
// each under its repository's lock id, all at once.
func (in *Interpreter) Incident(ctx workflow.Context, input IncidentInput) (*IncidentOutcome, error) {
	children := make([]*Child, len(input.Targets))
	for i, t := range input.Targets {
		children[i] = &Child{Target: t, RunID: TargetRunID(input.RunID, i), WorkflowID: LockID(t)}
	}
	if err := workflow.SetQueryHandler(ctx, TargetsQuery, func() ([]*Child, error) { return children, nil }); err != nil {
		return nil, err
	}
	out := &IncidentOutcome{RunID: input.RunID, Runs: make([]*Outcome, len(children))}
	done := workflow.NewBufferedChannel(ctx, len(children))
	for i, c := range children {
		pi := input.Procedure
		pi.RunID, pi.Target = c.RunID, c.Target
		if i < len(input.TargetParams) && len(input.TargetParams[i]) > 0 {
			pi.Params = maps.Clone(pi.Params)
			if pi.Params == nil {
				pi.Params = map[string]any{}
			}
			maps.Copy(pi.Params, input.TargetParams[i])
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            c.WorkflowID,
			TaskQueue:             TaskQueue,
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			ParentClosePolicy:     enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
			WaitForCancellation:   true,
		})
		f := workflow.ExecuteChildWorkflow(cctx, ProcedureWorkflow, pi)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer done.Send(ctx, i)
			var ex workflow.Execution
			if err := f.GetChildWorkflowExecution().Get(ctx, &ex); err != nil {
				c.Error = childError(c, err)
				out.Runs[i] = &Outcome{RunID: c.RunID, Target: c.Target, Status: engine.RunFailed, Error: c.Error}
				return
			}
			c.Execution = ex.RunID
			var o Outcome
			if err := f.Get(ctx, &o); err != nil {
				out.Runs[i] = &Outcome{RunID: c.RunID, Target: c.Target, Status: engine.RunFailed, Error: err.Error()}
				var canceled *temporal.CanceledError
				if errors.As(err, &canceled) {
					out.Runs[i].Status = engine.RunCancelled
				}
				return
			}
			out.Runs[i] = &o
		})
	}
	for range children {
		done.Receive(ctx, nil)
	}
	return out, nil
}

func childError(c *Child, err error) string {
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return fmt.Sprintf("repository %s is held by another incident (workflow %s is open): wait for it or cancel it", c.Target, c.WorkflowID)
	}
	return err.Error()
}

// WorkflowRegistry is where workflows are registered: a worker, or the
// SDK's test environment.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// Register registers the procedure and incident workflows under their names.
func (in *Interpreter) Register(w WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(in.Procedure, workflow.RegisterOptions{Name: ProcedureWorkflow})
	w.RegisterWorkflowWithOptions(in.Incident, workflow.RegisterOptions{Name: IncidentWorkflow})
}
