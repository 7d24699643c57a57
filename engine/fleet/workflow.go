package fleet

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
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
	NotifyActivity   = "rbflow.notify"
	// RepoActivity asks a host for a repository's identity (Host.RepoIdentity).
	RepoActivity = "rbflow.repo_identity"

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
// fleet-wide lock of that repository. The incident workflow gives it the
// repository's identity on its host (Host.RepoIdentity: the real path of
// its top-level directory), so that two spellings of one repository (a
// symbolic link) are one lock.
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
	// Called holds the procedures the call steps name (Resolve).
	Called []Called `json:",omitempty"`
	// ParentRun and ParentStep name the run and call step of a called
	// procedure's workflow (a child run); LockRun is the run whose
	// repository lock its steps share on the host (the outermost
	// caller's, which holds it; "": RunID).
	ParentRun  string `json:",omitempty"`
	ParentStep string `json:",omitempty"`
	LockRun    string `json:",omitempty"`
}

// lockRun is the run whose repository lock the run's steps take.
func (in ProcedureInput) lockRun() string {
	if in.LockRun != "" {
		return in.LockRun
	}
	return in.RunID
}

// CallWorkflowID is the workflow id of the child workflow a call step runs
// its procedure in: derived from its caller's (which holds the
// repository's lock id), never the lock id itself.
func CallWorkflowID(caller, step string) string { return caller + "/call/" + step }

// CallRunID is the run id, in the host's store, of the child run a call
// step starts.
func CallRunID(caller, step string) string { return caller + "." + step }

// Outcome is how a procedure workflow stands or ended: the StatusQuery
// result and the workflow's result. Secret values are masked.
type Outcome struct {
	RunID      string
	Procedure  string
	Target     Target
	Status     engine.RunStatus
	FailedStep string
	Waiting    []string // steps waiting for an answer
	// Calls are the workflow ids of the procedures the running call
	// steps run, by step: where their prompts wait (Family).
	Calls     map[string]string `json:",omitempty"`
	Steps     []*engine.StepRecord
	Error     string
	StartedAt time.Time
	EndedAt   time.Time // zero while it runs
	// Warnings are set by rbflow-fleet's commands, not by the workflow:
	// engine.Warnings of a run that succeeded (status --json), and its
	// NotifyWarnings.
	Warnings []string `json:",omitempty"`
	// NotifyWarnings are the notification hooks' posts the host could not
	// deliver.
	NotifyWarnings []string `json:",omitempty"`
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

// Called is a procedure a call step names, as the starter resolved it
// (Resolve): the workflow and the hosts compile the caller with these and
// look for no file, so that the workflow stays deterministic and every
// host runs the text the starter read.
type Called struct {
	From string // the calling procedure's file
	Ref  string // the call step's target, as written
	Path string // where it was found (builtin:NAME for a built-in)
	Text string
}

// Resolve resolves, with resolve (procedures.Resolve), the procedures the
// procedure at path calls, and those they call: ProcedureInput.Called. A
// load error of any of them is the error.
func Resolve(path, source string, reg *engine.Registry, resolve engine.Resolver) ([]Called, error) {
	var called []Called
	seen := map[[2]string]bool{}
	rec := func(ref, from string) (engine.Source, error) {
		src, err := resolve(ref, from)
		if err == nil && !seen[[2]string{from, ref}] {
			seen[[2]string{from, ref}] = true
			called = append(called, Called{From: from, Ref: ref, Path: src.Path, Text: string(src.Text)})
		}
		return src, err
	}
	if _, err := (&engine.Loader{Registry: reg, Resolve: rec}).Load(engine.Source{Path: path, Text: []byte(source)}); err != nil {
		return nil, err
	}
	return called, nil
}

// Compile compiles a procedure for the fleet, its call steps' procedures
// from called (Resolve): a load error, or a feature the fleet does not
// run, refuses it before anything starts.
func Compile(path, source string, called []Called, reg *engine.Registry) (*engine.Plan, error) {
	resolve := func(ref, from string) (engine.Source, error) {
		for _, c := range called {
			if c.From == from && c.Ref == ref {
				return engine.Source{Path: c.Path, Text: []byte(c.Text)}, nil
			}
		}
		return engine.Source{}, fmt.Errorf("%s was not resolved when the run started (rbflow-fleet reads every procedure a run calls then)", ref)
	}
	plan, err := (&engine.Loader{Registry: reg, Resolve: resolve}).Load(engine.Source{Path: path, Text: []byte(source)})
	if err != nil {
		return nil, err
	}
	if err := checkCalls(plan, map[*engine.Plan]bool{}); err != nil {
		return nil, err
	}
	return plan, nil
}

// checkCalls refuses the call steps the workflow cannot run as a child
// workflow, in plan and the procedures it calls: a target built with
// ${{ }} (the starter resolves every callee before the run), for_each, and
// an if: that reads the host.
func checkCalls(plan *engine.Plan, seen map[*engine.Plan]bool) error {
	if seen[plan] {
		return nil
	}
	seen[plan] = true
	var errs spec.ErrorList
	for _, st := range plan.Steps() {
		c := st.Call()
		if c == nil {
			continue
		}
		msg := ""
		switch {
		case c.Callee() == nil:
			msg = "a call target built with ${{ }} does not run on Temporal (the starter resolves every called procedure before the run): name the procedure"
		case st.Looped():
			msg = "a call step with for_each does not run on Temporal: call the procedure once, with the list as a param"
		case st.If != nil && st.If.Reads() != "":
			msg = "the if: of a call step cannot read the machine on Temporal (the workflow decides it): move that test to a step before it"
		}
		if msg != "" {
			errs = append(errs, &spec.Error{File: plan.Procedure.File, Pos: st.Spec.KindPos, Step: st.ID, Msg: msg})
			continue
		}
		if err := checkCalls(c.Callee().Plan, seen); err != nil {
			return err
		}
	}
	return errs.Err()
}

// procRun is the state of one procedure workflow.
type procRun struct {
	wf      workflow.Context // the workflow's own context: cancelled by a cancel only
	in      ProcedureInput
	plan    *engine.Plan
	params  map[string]any
	mask    *engine.Mask
	env     map[string]string
	start   time.Time
	ended   time.Time // when the run's status was decided
	recs    map[string]*engine.StepRecord
	waiting map[string]string // step -> what it waits for
	calls   map[string]string // running call step -> its child's workflow id
	answers map[string]string
	given   int // answers given by update so far
	status  engine.RunStatus
	cancel  bool // the workflow was cancelled: cancelled() is true
	failed  string
	errMsg  string

	// deadline is set when the procedure's deadline has passed; stopped
	// lists the main steps it stopped.
	deadline bool
	stopped  map[string]bool
	// notices carries the events of the notification hooks to the
	// goroutine that has the host post them, one after another; notified
	// are the events sent; warnings the posts not delivered.
	notices    workflow.Channel
	notified   map[string]bool
	warnings   []string
	notifyDone workflow.Channel // closed when every notice is posted
}

// Procedure is the procedure workflow: it runs one procedure on one
// repository, each step an activity on the host's queue.
func (in *Interpreter) Procedure(ctx workflow.Context, input ProcedureInput) (*Outcome, error) {
	plan, err := Compile(input.SourcePath, input.Source, input.Called, in.Registry)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ProcedureError", nil)
	}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Given: input.Params})
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ParamsError", nil)
	}
	r := &procRun{
		wf: ctx, in: input, plan: plan, params: params, mask: engine.NewMask(plan.Procedure, params),
		start: workflow.Now(ctx), recs: map[string]*engine.StepRecord{}, waiting: map[string]string{}, calls: map[string]string{},
		answers: map[string]string{}, status: engine.RunRunning, stopped: map[string]bool{}, notified: map[string]bool{},
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
		Params: params, StartedAt: r.start, Called: input.Called, LockRun: input.LockRun,
		ParentRun: input.ParentRun, ParentStep: input.ParentStep,
	}).Get(bctx, nil); err != nil {
		// Version 1: the workflow completes with the run failed and why,
		// as when a step's host is lost; it failed with the SDK's error.
		if workflow.GetVersion(ctx, "begin-run-outcome", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return nil, err
		}
		r.status, r.errMsg, r.ended = engine.RunFailed, r.mask.String(r.lostReason(err, "the run")), workflow.Now(ctx)
		return r.outcome(), nil
	}

	// A procedure with none of these (all an earlier interpreter ran)
	// gives the commands it gave: no timer, no notification.
	stopTimers := r.notify(ctx)
	defer stopTimers()
	r.notice(spec.NotifyStart, engine.RunRunning, "")

	// The main steps run under the procedure's deadline: when it passes,
	// the running steps are cancelled (their processes get the grace
	// period on the host) and no other main step starts.
	mctx := ctx
	if d := plan.Procedure.Deadline; d > 0 {
		var stopMain workflow.CancelFunc
		mctx, stopMain = workflow.WithCancel(ctx)
		tctx, stopTimer := workflow.WithCancel(ctx)
		defer stopTimer()
		timer := workflow.NewTimer(tctx, d)
		workflow.Go(tctx, func(ctx workflow.Context) {
			if timer.Get(ctx, nil) == nil {
				r.deadline = true
				stopMain()
			}
		})
		r.section(mctx, plan.Main, spec.SectionMain, false)
		stopTimer()
	} else {
		r.section(ctx, plan.Main, spec.SectionMain, false)
	}
	status, failed := engine.RunSucceeded, r.firstFailed(plan.Main)
	cancelled := ctx.Err() != nil
	cut := r.deadlineCut()
	switch {
	case cancelled:
		status, r.cancel = engine.RunCancelled, true
	case cut != "":
		status, r.errMsg = engine.RunFailed, cut
		if stopped := r.stoppedSteps(); len(stopped) > 0 {
			failed = stopped[0]
		}
	case failed != "":
		status = engine.RunFailed
	}
	r.failed = failed // run.failed_step in on_failure and finally
	if status == engine.RunFailed {
		// Told before on_failure runs, as a local run tells it.
		r.notice(spec.NotifyFailure, status, failed)
	}
	// After a cancel, on_failure and finally run all the same; after the
	// deadline they get the grace period, as in a local run.
	ectx := ctx
	if cancelled {
		ectx, _ = workflow.NewDisconnectedContext(ctx)
	} else if cut != "" {
		var stopEnd workflow.CancelFunc
		ectx, stopEnd = workflow.WithCancel(ctx)
		gctx, stopGrace := workflow.WithCancel(ctx)
		defer stopGrace()
		grace := workflow.NewTimer(gctx, r.grace())
		workflow.Go(gctx, func(ctx workflow.Context) {
			if grace.Get(ctx, nil) == nil {
				stopEnd()
			}
		})
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
	stopTimers()
	r.endNotices(ctx, status, failed)

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
		Status: status, FailedStep: failed, Decided: decided, Called: input.Called, LockRun: input.LockRun,
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

func (r *procRun) grace() time.Duration {
	if r.in.Grace <= 0 {
		return DefaultGrace
	}
	return r.in.Grace
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
	grace := r.grace()
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
	if ctx.Err() != nil && !(r.deadline && section == spec.SectionMain) {
		// (The main steps a deadline kept from starting have no record,
		// as in a local run.)
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
	if c := st.Call(); c != nil {
		r.call(ctx, st, c, status)
		return
	}
	actx := workflow.WithActivityOptions(ctx, r.stepOptions(st))
	for {
		prior := r.prior(st)
		var out StepOutput
		err := workflow.ExecuteActivity(actx, StepActivity, StepInput{
			RunID: r.in.RunID, Repo: r.in.Target.Path, Source: r.in.Source, SourcePath: r.in.SourcePath,
			Step: st.ID, FailedStep: r.failed, Prior: prior, Status: status, EvalIf: evalIf(st), Params: r.params, Answers: r.answers,
			Called: r.in.Called, LockRun: r.in.LockRun,
		}).Get(actx, &out)
		now = workflow.Now(ctx)
		var canceled *temporal.CanceledError
		switch {
		case (errors.As(err, &canceled) || err != nil && ctx.Err() != nil) && r.byDeadline(st):
			r.stop(st, now)
			return
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
			delete(r.waiting, st.ID)
			if r.byDeadline(st) {
				r.stop(st, workflow.Now(ctx))
				return
			}
			r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepCancelled, "cancelled while it waited for an answer", workflow.Now(ctx))
			delete(r.waiting, st.ID)
			return
		}
		delete(r.waiting, st.ID)
		delete(r.recs, st.ID)
	}
}

// byDeadline reports whether the procedure's deadline, and not a cancel,
// stopped st: a main step.
func (r *procRun) byDeadline(st *engine.Step) bool {
	return r.deadline && r.wf.Err() == nil && st.Section == spec.SectionMain
}

// stop records a main step the deadline stopped: failed (continue_on_error
// does not apply), as in a local run.
func (r *procRun) stop(st *engine.Step, now time.Time) {
	r.recs[st.ID] = engine.StoppedRecord(r.in.RunID, st, r.mask.String("stopped: "+r.deadlineMsg()), now)
	r.stopped[st.ID] = true
}

func (r *procRun) deadlineMsg() string {
	d := r.plan.Procedure.Deadline
	return fmt.Sprintf("deadline %s passed %s after the run started", d, d)
}

// stoppedSteps lists, in plan order, the main steps the deadline stopped.
func (r *procRun) stoppedSteps() []string {
	var ids []string
	for _, st := range r.plan.Main {
		if r.stopped[st.ID] {
			ids = append(ids, st.ID)
		}
	}
	return ids
}

// deadlineCut is the run's error when the deadline stopped something, as
// a local run words it: the deadline, the steps it stopped and the main
// steps it kept from starting ("" when it did not pass while they ran).
func (r *procRun) deadlineCut() string {
	if !r.deadline || r.wf.Err() != nil {
		return ""
	}
	msg := r.deadlineMsg()
	stopped := r.stoppedSteps()
	if len(stopped) > 0 {
		msg += "; stopped step " + strings.Join(stopped, ", ")
	}
	var left []string
	for _, st := range r.plan.Main {
		if rec, ok := r.recs[st.ID]; !ok || !rec.Status.Terminal() {
			left = append(left, st.ID)
		}
	}
	if len(stopped) == 0 && len(left) == 0 {
		return ""
	}
	if len(left) > 0 {
		msg += "; not started: " + strings.Join(left, ", ")
	}
	return r.mask.String(msg)
}

// call runs a call step: its procedure, compiled with the caller from the
// text the starter resolved, runs as a child workflow on the same target
// (a child run in the host's store, recorded with this run and step), and
// the step ends as a local call step does: the callee's step outputs by
// step id, with run_id and status, failed when the callee failed.
func (r *procRun) call(ctx workflow.Context, st *engine.Step, c engine.CallStep, status eval.Status) {
	start := workflow.Now(ctx)
	callee := c.Callee()
	fail := func(msg string) {
		r.recs[st.ID] = engine.CalledRecord(r.in.RunID, st, nil, r.mask.String(msg), start, workflow.Now(ctx))
	}
	given, err := c.CallParams(r.plan.ExprExec(r.in.RunID, st, r.data(st, status, start.Sub(r.start).Seconds()), r.mask))
	if err != nil {
		fail(fmt.Sprintf("call %s: %v", callee.Plan.Name(), err))
		return
	}
	params, err := engine.ResolveParams(callee.Plan.Procedure, engine.ParamInput{Given: given})
	if err != nil {
		fail(fmt.Sprintf("call %s: params for %s: %v", callee.Source.Path, callee.Plan.Name(), err))
		return
	}
	// Running, for the status query, until the callee ends.
	r.recs[st.ID] = engine.ScheduledRecord(r.in.RunID, st, start)
	child := r.in
	child.RunID = CallRunID(r.in.RunID, st.ID)
	child.Source, child.SourcePath = string(callee.Source.Text), callee.Source.Path
	child.Params, child.Answers = params, maps.Clone(r.answers)
	child.ParentRun, child.ParentStep, child.LockRun = r.in.RunID, st.ID, r.in.lockRun()
	childID := CallWorkflowID(workflow.GetInfo(ctx).WorkflowExecution.ID, st.ID)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          childID,
		TaskQueue:           TaskQueue,
		ParentClosePolicy:   enums.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
	})
	var out Outcome
	r.calls[st.ID] = childID
	err = workflow.ExecuteChildWorkflow(cctx, ProcedureWorkflow, child).Get(cctx, &out)
	delete(r.calls, st.ID)
	now := workflow.Now(ctx)
	var canceled *temporal.CanceledError
	switch {
	case (err != nil || out.Status == engine.RunCancelled) && r.byDeadline(st):
		r.stop(st, now)
		return
	case errors.As(err, &canceled) || ctx.Err() != nil:
		r.recs[st.ID] = engine.DecidedRecord(r.in.RunID, st, engine.StepCancelled, "cancelled while it ran", now)
		return
	case err != nil:
		fail(fmt.Sprintf("call %s: %s", callee.Plan.Name(), r.lostReason(err, "the called procedure")))
		return
	}
	outputs := map[string]any{}
	for _, s := range out.Steps {
		if len(s.Outputs) > 0 {
			outputs[s.StepID] = s.Outputs
		}
	}
	outputs["run_id"], outputs["status"] = out.RunID, string(out.Status)
	msg := ""
	if out.Status != engine.RunSucceeded {
		why := fmt.Sprintf("run %s %s", out.RunID, out.Status)
		if out.FailedStep != "" {
			why += " at step " + out.FailedStep
		}
		if e := out.Error; e != "" {
			why += ": " + e
		} else if s := step(&out, out.FailedStep); s != nil && s.Error != "" {
			why += ": " + s.Error
		}
		if out.FailedStep != "" && out.Status == engine.RunFailed {
			msg = fmt.Sprintf("called procedure %s failed at step %s (child run %s): %s", out.Procedure, out.FailedStep, out.RunID, why)
		} else {
			msg = fmt.Sprintf("called procedure %s (child run %s): %s", out.Procedure, out.RunID, why)
		}
	}
	r.recs[st.ID] = engine.CalledRecord(r.in.RunID, st, outputs, msg, start, now)
}

// step is the record of the step id in o.
func step(o *Outcome, id string) *engine.StepRecord {
	for _, s := range o.Steps {
		if s.StepID == id {
			return s
		}
	}
	return nil
}

// notify starts the goroutine that has the host post the notification
// hooks' events, one after another (a cancel does not stop it: the run's
// end is told), and the timer of over_target; it returns what stops the
// timer. A procedure without hooks starts nothing.
func (r *procRun) notify(ctx workflow.Context) func() {
	if len(r.plan.Notifications) == 0 {
		return func() {}
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
		TaskQueue:              HostQueue(r.in.Target.Host),
		ScheduleToStartTimeout: r.in.HostWait,
		// Each post waits up to its hook's timeout, three times.
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: LostAttempts},
	})
	r.notices = workflow.NewBufferedChannel(dctx, 4*len(spec.NotifyEvents))
	done := workflow.NewChannel(dctx)
	workflow.Go(dctx, func(ctx workflow.Context) {
		defer done.Close()
		var n NotifyInput
		for r.notices.Receive(ctx, &n) {
			var warnings []string
			if err := workflow.ExecuteActivity(ctx, NotifyActivity, n).Get(ctx, &warnings); err != nil {
				warnings = []string{fmt.Sprintf("notifications (%s): %s", n.Event, r.lostReason(err, "the notification"))}
			}
			r.warnings = append(r.warnings, warnings...)
		}
	})
	r.notifyDone = done
	target := r.plan.Procedure.Target
	if target <= 0 || !slices.ContainsFunc(r.plan.Notifications, func(h *engine.Notification) bool { return h.On(spec.NotifyOverTarget) }) {
		return func() {}
	}
	tctx, stop := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(tctx, target)
	workflow.Go(tctx, func(ctx workflow.Context) {
		if timer.Get(ctx, nil) == nil && r.status == engine.RunRunning {
			r.notice(spec.NotifyOverTarget, engine.RunRunning, "")
		}
	})
	return stop
}

// notice queues event for the host to post (once per run).
func (r *procRun) notice(event string, status engine.RunStatus, failedStep string) {
	if r.notices == nil || r.notified[event] {
		return
	}
	r.notified[event] = true
	var prior []*engine.StepRecord
	for _, st := range r.plan.Steps() {
		if rec, ok := r.recs[st.ID]; ok && rec.Status.Terminal() {
			cp := *rec
			cp.Tail, cp.LogPath = "", ""
			prior = append(prior, &cp)
		}
	}
	r.notices.SendAsync(NotifyInput{
		RunID: r.in.RunID, Repo: r.in.Target.Path, Source: r.in.Source, SourcePath: r.in.SourcePath,
		Called: r.in.Called, LockRun: r.in.LockRun,
		Event: event, Status: status, FailedStep: failedStep, Prior: prior, Params: r.params,
	})
}

// endNotices queues the events of the run's end (failure, over_target,
// finish), as a local run's end fires them, and waits until the host has
// posted every event.
func (r *procRun) endNotices(ctx workflow.Context, status engine.RunStatus, failed string) {
	if r.notices == nil {
		return
	}
	if status == engine.RunFailed {
		r.notice(spec.NotifyFailure, status, failed)
	}
	if t := r.plan.Procedure.Target; t > 0 && r.ended.Sub(r.start) > t {
		r.notice(spec.NotifyOverTarget, status, failed)
	}
	r.notice(spec.NotifyFinish, status, failed)
	r.notices.Close()
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	r.notifyDone.Receive(dctx, nil)
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
	return lostReason(err, what, r.in.Target.Host, r.in.HostWait)
}

// lostReason says why an activity on host's queue, waiting hostWait for
// a worker, gave up.
func lostReason(err error, what, host string, hostWait time.Duration) string {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		switch te.TimeoutType() {
		case enums.TIMEOUT_TYPE_SCHEDULE_TO_START:
			return fmt.Sprintf("no worker of host %s took %s within %s (--host-wait): is 'rbflow worker --host %s' running there?", host, what, hostWait, host)
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
		StartedAt: r.start, EndedAt: r.ended, NotifyWarnings: slices.Clone(r.warnings)}
	if len(r.calls) > 0 {
		o.Calls = maps.Clone(r.calls)
	}
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
	Target Target
	// Repo is the repository's identity on its host (Host.RepoIdentity;
	// "" until the host said, and for incidents started before it was
	// asked).
	Repo       string `json:",omitempty"`
	RunID      string // the run's id in the host's store
	WorkflowID string // LockID of the host and Repo (of Target, before Repo was asked)
	Execution  string // Temporal's run id of the workflow ("" until started)
	Error      string // why it did not start
}

// IncidentOutcome is how an incident ended, target by target.
type IncidentOutcome struct {
	RunID string
	Runs  []*Outcome
	// Refused says why no target started: its targets name a repository
	// a host does not serve, or one repository twice.
	Refused string `json:",omitempty"`
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
	// Version 1: each target's lock id is its repository's identity on its
	// host, asked first; it was the path as typed.
	if workflow.GetVersion(ctx, "repo-identity", workflow.DefaultVersion, 1) >= 1 {
		if identify(ctx, input, children, out) {
			return out, nil
		}
	}
	done := workflow.NewBufferedChannel(ctx, len(children))
	started := 0
	for i, c := range children {
		if out.Runs[i] != nil {
			continue // its host did not answer
		}
		started++
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
	for range started {
		done.Receive(ctx, nil)
	}
	return out, nil
}

// identify asks each target's host, all at once, for its repository's
// identity, and sets the children's lock ids from it. When a host does not
// serve a target, or two targets are one repository, no target starts:
// it fills out with why and reports true. A host that did not answer (no
// worker within --host-wait) fails its target alone, as its steps would.
func identify(ctx workflow.Context, input IncidentInput, children []*Child, out *IncidentOutcome) bool {
	futures := make([]workflow.Future, len(children))
	for i, c := range children {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			TaskQueue:              HostQueue(c.Target.Host),
			ScheduleToStartTimeout: input.Procedure.HostWait,
			StartToCloseTimeout:    bookkeepingLimits,
			RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: LostAttempts},
		})
		futures[i] = workflow.ExecuteActivity(actx, RepoActivity, c.Target.Path)
	}
	var refused []string
	first := map[string]*Child{}
	for i, c := range children {
		err := futures[i].Get(ctx, &c.Repo)
		var ae *temporal.ApplicationError
		switch {
		case errors.As(err, &ae) && ae.Type() == UnknownRepoError:
			c.Error = fmt.Sprintf("--on %s: %s", c.Target, ae.Message())
			refused = append(refused, c.Error)
		case err != nil:
			c.Error = lostReason(err, "the target", c.Target.Host, input.Procedure.HostWait)
		default:
			c.WorkflowID = LockID(Target{Host: c.Target.Host, Path: c.Repo})
			if f, ok := first[c.WorkflowID]; ok {
				c.Error = fmt.Sprintf("--on %s and --on %s are one repository, %s on %s: give it once", f.Target, c.Target, c.Repo, c.Target.Host)
				refused = append(refused, c.Error)
			}
			first[c.WorkflowID] = c
		}
	}
	if len(refused) > 0 {
		out.Refused = strings.Join(refused, "; ")
	}
	for i, c := range children {
		switch {
		case c.Error != "" && ctx.Err() != nil && out.Refused == "":
			c.Error = "cancelled before it started"
			out.Runs[i] = &Outcome{RunID: c.RunID, Target: c.Target, Status: engine.RunCancelled, Error: c.Error}
		case c.Error != "":
			out.Runs[i] = &Outcome{RunID: c.RunID, Target: c.Target, Status: engine.RunFailed, Error: c.Error}
		case out.Refused != "":
			c.Error = "not started: " + out.Refused
			out.Runs[i] = &Outcome{RunID: c.RunID, Target: c.Target, Status: engine.RunFailed, Error: c.Error}
		}
	}
	return out.Refused != ""
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
