package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/procedures"
	"github.com/rbflow/rbflow/steps"
)

// Exit statuses, as rbflow's (SPEC §3).
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitLocked  = 3
	exitWaiting = 4
	exitSignal  = 130
)

// usageError is a wrong command line, or input that runs nothing: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit status decided by a command that has said why.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// app is one command line.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	reg            *engine.Registry

	temporal  string
	namespace string
	keyFile   string
	keyID     string // the payload key's id, once dialled
	json      bool
	// cancelling: this command cancelled the run, so a target that ended
	// cancelled ended as asked.
	cancelling bool
}

// Main runs rbflow-fleet with args and returns its exit status.
func Main(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	reg := engine.NewRegistry()
	steps.Register(reg)
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv, reg: reg}
	err := a.dispatch(context.Background(), args)
	var usage *usageError
	var exit *exitError
	var list spec.ErrorList
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit):
		return exit.code
	case errors.As(err, &usage), errors.As(err, &list), errors.Is(err, fleet.ErrNoKey), errors.As(err, new(*fleet.KeyError)):
		fmt.Fprintln(stderr, "rbflow: "+err.Error())
		return exitUsage
	}
	fmt.Fprintln(stderr, "rbflow: "+err.Error())
	return exitFailed
}

const usage = `usage:
  rbflow worker --temporal ADDR --host NAME --repo PATH... [--key-file FILE]
  rbflow run PROCEDURE --temporal ADDR --on HOST:PATH... [--set k=v]... [--answer step=value]... [--host-wait 10m] [--heartbeat 30s]
  rbflow status RUN --temporal ADDR [--json]
  rbflow resume RUN --temporal ADDR --answer step=value... [--on HOST:PATH]...
  rbflow cancel RUN --temporal ADDR
  rbflow undo RUN --temporal ADDR [--on HOST:PATH]... [--force]

--temporal defaults to $RBFLOW_TEMPORAL; every payload is sealed with the key
of --key-file, $RBFLOW_TEMPORAL_KEY_FILE or $RBFLOW_TEMPORAL_KEY (the same on
every worker and starter).
`

func (a *app) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(a.stdout, usage)
		if len(args) == 0 {
			return &exitError{exitUsage}
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	fs := pflag.NewFlagSet("rbflow "+cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.temporal, "temporal", a.getenv("RBFLOW_TEMPORAL"), "Temporal frontend `ADDR` (host:port)")
	fs.StringVar(&a.namespace, "namespace", "default", "Temporal `NAMESPACE`")
	fs.StringVar(&a.keyFile, "key-file", "", "payload key `FILE` (32 bytes, raw, hex or base64)")
	var on, sets, answers, repos []string
	var host string
	var parallel int
	var reload, force bool
	var hostWait, heartbeat time.Duration
	switch cmd {
	case "worker":
		fs.StringVar(&host, "host", "", "this host's `NAME` (its steps' queue is rbflow/host/NAME)")
		fs.StringArrayVar(&repos, "repo", nil, "a repository `PATH` this worker may touch (repeatable)")
	case "run":
		fs.StringArrayVar(&on, "on", nil, "a target `HOST:PATH` (repeatable)")
		fs.StringArrayVar(&sets, "set", nil, "a param `NAME=VALUE` (repeatable)")
		fs.StringArrayVar(&answers, "answer", nil, "answer a prompt step: `STEP=VALUE` (repeatable)")
		fs.IntVar(&parallel, "parallel", 4, "steps at once on each target")
		fs.DurationVar(&hostWait, "host-wait", 10*time.Minute, "how long a step waits for its host's worker before it fails (0: for ever)")
		fs.DurationVar(&heartbeat, "heartbeat", fleet.DefaultHeartbeat, "how long a running step's worker may be silent before the step is run again on the restarted worker")
	case "resume":
		fs.StringArrayVar(&on, "on", nil, "answer only on this target `HOST:PATH` (repeatable)")
		fs.StringArrayVar(&answers, "answer", nil, "answer a waiting prompt step: `STEP=VALUE` (repeatable)")
		fs.BoolVar(&reload, "reload", false, "not on Temporal (see README)")
	case "status":
		fs.BoolVar(&a.json, "json", false, "print JSON")
	case "cancel":
	case "undo":
		fs.StringArrayVar(&on, "on", nil, "undo only on this target `HOST:PATH` (repeatable)")
		fs.BoolVar(&force, "force", false, "restore over changes made after the run (they are saved in a snapshot first)")
	default:
		return usagef("rbflow-fleet has no command %q%s", cmd, spec.Hint(cmd, []string{"worker", "run", "status", "resume", "cancel", "undo"}))
	}
	if err := fs.Parse(rest); err != nil {
		return usagef("%s: %v\n%s", cmd, err, usage)
	}
	pos := fs.Args()
	if a.temporal == "" {
		return usagef("%s: give the Temporal server with --temporal ADDR or $RBFLOW_TEMPORAL", cmd)
	}
	switch cmd {
	case "worker":
		if host == "" || len(repos) == 0 {
			return usagef("worker: give --host NAME and at least one --repo PATH (the repositories it may touch)")
		}
		return a.worker(ctx, host, repos)
	case "run":
		if len(pos) != 1 {
			return usagef("run: give one PROCEDURE (a file or a built-in name)")
		}
		if heartbeat < 3*time.Second {
			return usagef("run: --heartbeat %s: give at least 3s (a running step heartbeats every third of it, at most every 2s)", heartbeat)
		}
		return a.run(ctx, pos[0], on, sets, answers, parallel, hostWait, heartbeat)
	}
	if len(pos) != 1 {
		return usagef("%s: give the RUN id (rbflow run printed it)", cmd)
	}
	switch cmd {
	case "status":
		return a.status(ctx, pos[0])
	case "undo":
		return a.undo(ctx, pos[0], on, force)
	case "resume":
		if reload {
			return usagef("resume --reload does not apply on Temporal: a workflow runs the text it started with; cancel the run and run the edited procedure again")
		}
		return a.resume(ctx, pos[0], on, answers)
	default:
		return a.cancel(ctx, pos[0])
	}
}

// dial connects to Temporal with the payload codec. The SDK's log is
// kept for workers, and off the output of the other commands.
func (a *app) dial() (client.Client, error) { return a.dialLog(quietLogger{}) }

func (a *app) dialLog(logger log.Logger) (client.Client, error) {
	key, err := fleet.LoadKey(a.keyFile, a.getenv)
	if err != nil {
		return nil, err
	}
	codec, err := fleet.NewCodec(key)
	if err != nil {
		return nil, err
	}
	a.keyID = codec.KeyID()
	c, err := client.Dial(client.Options{HostPort: a.temporal, Namespace: a.namespace, DataConverter: codec.DataConverter(), FailureConverter: codec.FailureConverter(), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", a.temporal, err)
	}
	return c, nil
}

// worker polls the workflow queue and this host's queue until a signal.
func (a *app) worker(ctx context.Context, host string, repos []string) error {
	h, err := fleet.NewHost(ctx, host, a.reg, repos)
	if err != nil {
		return usagef("worker: %v", err)
	}
	defer h.Close()
	h.Temporal = a.temporal
	// The SDK's log, from INFO up, on stderr: its default logs every
	// activity at DEBUG on stdout.
	c, err := a.dialLog(log.NewStructuredLogger(slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if err != nil {
		return err
	}
	defer c.Close()
	wf := worker.New(c, fleet.TaskQueue, worker.Options{})
	(&fleet.Interpreter{Registry: a.reg}).Register(wf)
	steps := worker.New(c, fleet.HostQueue(host), fleet.WorkerOptions())
	h.Register(steps)
	if err := wf.Start(); err != nil {
		return err
	}
	defer wf.Stop()
	fmt.Fprintf(a.stdout, "rbflow worker: host %s, repositories %s, Temporal %s (queues %s and %s)\n", host, strings.Join(h.Repos(), ", "), a.temporal, fleet.TaskQueue, fleet.HostQueue(host))
	return steps.Run(worker.InterruptCh())
}

func incidentID(runID string) string { return "rbflow/incident/" + runID }

// run starts an incident and follows it.
func (a *app) run(ctx context.Context, arg string, on, sets, answers []string, parallel int, hostWait, heartbeat time.Duration) error {
	if len(on) == 0 {
		return usagef("run: give at least one target with --on HOST:PATH")
	}
	var targets []fleet.Target
	seen := map[string]bool{}
	for _, s := range on {
		t, err := fleet.ParseTarget(s)
		if err != nil {
			return usagef("run: %v", err)
		}
		if seen[fleet.LockID(t)] {
			return usagef("run: --on %s given twice", t)
		}
		seen[fleet.LockID(t)] = true
		targets = append(targets, t)
	}
	src, err := procedures.Resolve(arg, "")
	if err != nil {
		return usagef("run: %v", err)
	}
	// The procedures its call steps name are read here, once, and go with
	// the run: the workflow and the hosts look for no file.
	called, err := fleet.Resolve(src.Path, string(src.Text), a.reg, procedures.Resolver("", nil))
	var plan *engine.Plan
	if err == nil {
		plan, err = fleet.Compile(src.Path, string(src.Text), called, a.reg)
	}
	if err != nil {
		var list spec.ErrorList
		if errors.As(err, &list) {
			return err
		}
		return usagef("run: %v", err)
	}
	wd, _ := os.Getwd()
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Sets: sets, Dir: wd})
	if err != nil {
		return usagef("run: %v", err)
	}
	given, err := parseAnswers(answers)
	if err != nil {
		return err
	}
	if err := plan.CheckAnswers(given); err != nil {
		return usagef("run: %v", err)
	}
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	runID := engine.NewRunID(time.Now())
	in := fleet.IncidentInput{RunID: runID, Targets: targets, Procedure: fleet.ProcedureInput{
		Source: string(src.Text), SourcePath: src.Path, Params: params, Answers: given, Parallel: parallel, HostWait: hostWait, Heartbeat: heartbeat,
		Called: called,
	}}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: incidentID(runID), TaskQueue: fleet.TaskQueue}, fleet.IncidentWorkflow, in); err != nil {
		return fmt.Errorf("start run: %w", err)
	}
	fmt.Fprintf(a.stdout, "run %s of %s on %s\n", runID, plan.Name(), strings.Join(on, ", "))
	return a.follow(ctx, c, runID)
}

func parseAnswers(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--answer %q: want STEP=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// children queries an incident's targets and where each stands, with the
// steps and waits of the procedures their running call steps run.
func (a *app) children(ctx context.Context, c client.Client, runID string) ([]*fleet.Child, []*fleet.Outcome, error) {
	kids, fams, err := a.families(ctx, c, runID)
	if err != nil {
		return nil, nil, err
	}
	outs := make([]*fleet.Outcome, len(fams))
	for i, fam := range fams {
		outs[i] = fleet.Merged(fam)
	}
	return kids, withWarnings(outs), nil
}

// families queries an incident's targets and, for each, its run and the
// runs its running call steps started (fleet.Family).
func (a *app) families(ctx context.Context, c client.Client, runID string) ([]*fleet.Child, [][]fleet.FamilyRun, error) {
	v, err := c.QueryWorkflow(ctx, incidentID(runID), "", fleet.TargetsQuery)
	if err != nil {
		var missing *serviceerror.NotFound
		if errors.As(err, &missing) {
			return nil, nil, usagef("no run %q on Temporal at %s (namespace %s): rbflow run printed the run's id", runID, a.temporal, a.namespace)
		}
		return nil, nil, fmt.Errorf("run %s: %w", runID, err)
	}
	var kids []*fleet.Child
	if err := v.Get(&kids); err != nil {
		return nil, nil, err
	}
	fams := make([][]fleet.FamilyRun, len(kids))
	w := clientWorkflows{c}
	for i, k := range kids {
		o := &fleet.Outcome{RunID: k.RunID, Target: k.Target, Status: engine.RunRunning, Error: k.Error}
		fams[i] = []fleet.FamilyRun{{WorkflowID: k.WorkflowID, RunID: k.Execution, Outcome: o}}
		if k.Execution == "" {
			continue
		}
		got, err := w.Status(ctx, k.WorkflowID, k.Execution)
		if err != nil {
			o.Error = err.Error()
			continue
		}
		fams[i] = fleet.Family(ctx, w, k.WorkflowID, k.Execution, got)
	}
	return kids, fams, nil
}

// clientWorkflows reaches procedure workflows through a Temporal client.
type clientWorkflows struct{ c client.Client }

func (w clientWorkflows) Status(ctx context.Context, workflowID, runID string) (*fleet.Outcome, error) {
	v, err := w.c.QueryWorkflow(ctx, workflowID, runID, fleet.StatusQuery)
	if err != nil {
		return nil, err
	}
	var o fleet.Outcome
	if err := v.Get(&o); err != nil {
		return nil, err
	}
	return &o, nil
}

func (w clientWorkflows) Answer(ctx context.Context, workflowID, runID string, a fleet.Answer) error {
	h, err := w.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, RunID: runID, UpdateName: fleet.AnswerUpdate,
		Args: []any{a}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// follow prints each step as it ends until the incident ends (its exit
// status: 0 when every target succeeded) or a target waits for an answer
// (exit 4; the run waits in Temporal).
func (a *app) follow(ctx context.Context, c client.Client, runID string) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	type result struct {
		out fleet.IncidentOutcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.err = c.GetWorkflow(ctx, incidentID(runID), "").Get(ctx, &r.out)
		done <- r
	}()
	printed := map[string]engine.StepStatus{}
	show := func(outs []*fleet.Outcome) {
		for _, o := range outs {
			for _, s := range o.Steps {
				k := o.Target.String() + " " + s.StepID
				if printed[k] != s.Status && s.Status != engine.StepRunning {
					printed[k] = s.Status
					fmt.Fprintf(a.stdout, "%s  %-20s %s\n", o.Target, s.StepID, stepLine(s))
				}
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return a.runError(runID, r.err)
			}
			show(r.out.Runs)
			err := a.ended(runID, withWarnings(r.out.Runs))
			if r.out.Refused != "" {
				return usagef("run %s refused, nothing ran: %s", runID, r.out.Refused)
			}
			return err
		case <-sig:
			fmt.Fprintf(a.stderr, "rbflow: stopped following; run %s goes on in Temporal: rbflow status %s --temporal %s (rbflow cancel stops it)\n", runID, runID, a.temporal)
			return &exitError{exitSignal}
		case <-tick.C:
			_, outs, err := a.children(ctx, c, runID)
			if err != nil {
				continue
			}
			show(outs)
			var waits []string
			for _, o := range outs {
				for _, w := range o.Waiting {
					waits = append(waits, fmt.Sprintf("%s %s", o.Target, w))
				}
			}
			if len(waits) > 0 {
				fmt.Fprintf(a.stderr, "rbflow: run %s waits for an answer:\n  %s\nanswer with: rbflow resume %s --temporal %s --answer STEP=VALUE\n", runID, strings.Join(waits, "\n  "), runID, a.temporal)
				return &exitError{exitWaiting}
			}
		}
	}
}

// runError is why a run's workflow failed. A failure this command could
// not open (the SDK leaves it "Encoded failure") was sealed with another
// key: that of workers which could not open the run's input either.
func (a *app) runError(runID string, err error) error {
	if strings.Contains(err.Error(), "Encoded failure") {
		return fmt.Errorf("run %s failed, and why is sealed with a payload key other than this command's (key %s): the workers have another key; every worker and starter needs the same (--key-file, $%s or $%s)", runID, a.keyID, fleet.KeyFileEnv, fleet.KeyEnv)
	}
	return fmt.Errorf("run %s: %w", runID, err)
}

// ended prints how each target ended and returns the run's exit status:
// 0 when every target succeeded (or, for cancel, ended cancelled).
func (a *app) ended(runID string, outs []*fleet.Outcome) error {
	code := exitOK
	for _, o := range outs {
		line := fmt.Sprintf("%s  run %s %s", o.Target, o.RunID, runStatus(o))
		if o.FailedStep != "" {
			line += " at " + o.FailedStep
		}
		if o.Error != "" {
			line += ": " + o.Error
		}
		fmt.Fprintln(a.stdout, line)
		for _, w := range o.Warnings {
			fmt.Fprintf(a.stdout, "%s  ⚠ %s\n", o.Target, w)
		}
		switch {
		case strings.Contains(o.Error, "held by another incident") || lockedOut(o):
			code = max(code, exitLocked)
		case o.Status == engine.RunCancelled && a.cancelling && finallyFailed(o) == "":
		case o.Status == engine.RunCancelled && a.cancelling:
			fmt.Fprintf(a.stdout, "%s  finally step %s failed\n", o.Target, finallyFailed(o))
			code = max(code, exitFailed)
		case o.Status != engine.RunSucceeded:
			code = max(code, exitFailed)
		}
	}
	if code != exitOK {
		return &exitError{code}
	}
	return nil
}

// runStatus is how a target's run stands, in words: a run that succeeded
// with warnings (a continue_on_error step failed) says so, as locally.
func runStatus(o *fleet.Outcome) string {
	if o.Status == engine.RunSucceeded && len(o.Warnings) > 0 {
		if len(o.Warnings) == 1 {
			return "succeeded with 1 warning"
		}
		return fmt.Sprintf("succeeded with %d warnings", len(o.Warnings))
	}
	return string(o.Status)
}

// stepStatus is a step's status in words: "failed (continued)" for a
// continue_on_error step that failed, as locally.
func stepStatus(s *engine.StepRecord) string {
	if s.Outcome == engine.StepFailed && s.Conclusion == engine.StepSucceeded {
		return "failed (continued)"
	}
	return string(s.Status)
}

// stepLine is a step's status and the first line of why, once: the
// reason of a step skipped or cancelled begins with its status already
// ("skipped: an earlier step failed").
func stepLine(s *engine.StepRecord) string {
	status := stepStatus(s)
	why := firstLine(s.Error)
	switch {
	case why == "" || s.Status == engine.StepSucceeded:
		return status
	case strings.HasPrefix(why, string(s.Status)+":"):
		return why
	}
	return status + ": " + why
}

// withWarnings sets each outcome's warnings: the continue_on_error steps
// that failed in a run that succeeded.
func withWarnings(outs []*fleet.Outcome) []*fleet.Outcome {
	for _, o := range outs {
		if o != nil && o.Status == engine.RunSucceeded {
			o.Warnings = append(engine.Warnings(o.Steps), o.NotifyWarnings...)
		}
	}
	return outs
}

// lockedOut reports whether the run failed at a step its host could not
// start because another run (a local rbflow run) held the repository's
// lock on every attempt: exit 3, as a local run that finds the lock held.
func lockedOut(o *fleet.Outcome) bool {
	if o.Status != engine.RunFailed || o.FailedStep == "" {
		return false
	}
	for _, s := range o.Steps {
		if s.StepID == o.FailedStep {
			return strings.Contains(s.Error, "holds the lock of this repository")
		}
	}
	return false
}

// finallyFailed names the first finally step of o that failed.
func finallyFailed(o *fleet.Outcome) string {
	for _, s := range o.Steps {
		if s.Section == spec.SectionFinally && s.Conclusion == engine.StepFailed {
			return s.StepID
		}
	}
	return ""
}

// runJSON is one target's run in status --json: the keys of a local
// rbflow status --json (SPEC §3), with the incident and the target.
type runJSON struct {
	Incident   string     `json:"incident"`
	Target     string     `json:"target"` // HOST:PATH
	Repo       string     `json:"repo"`
	ID         string     `json:"id"`
	Procedure  string     `json:"procedure"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	FailedStep string     `json:"failed_step,omitempty"`
	Error      string     `json:"error,omitempty"`
	Warnings   []string   `json:"warnings,omitempty"`
	Waiting    []string   `json:"waiting,omitempty"`
	Steps      []stepJSON `json:"steps"`
}

type stepJSON struct {
	ID         string         `json:"id"`
	Section    string         `json:"section"`
	Status     string         `json:"status"`
	Outcome    string         `json:"outcome,omitempty"`
	Conclusion string         `json:"conclusion,omitempty"`
	StartedAt  *time.Time     `json:"started_at"`
	EndedAt    *time.Time     `json:"ended_at"`
	ExitCode   int            `json:"exit_code"`
	Attempts   int            `json:"attempts"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	Error      string         `json:"error,omitempty"`
	User       string         `json:"user,omitempty"`
	Host       string         `json:"host,omitempty"` // the machine that ran it
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toJSON(incident string, o *fleet.Outcome) runJSON {
	j := runJSON{Incident: incident, Target: o.Target.String(), Repo: o.Target.Path, ID: o.RunID, Procedure: o.Procedure,
		Status: string(o.Status), StartedAt: timePtr(o.StartedAt), EndedAt: timePtr(o.EndedAt), FailedStep: o.FailedStep,
		Error: o.Error, Warnings: o.Warnings, Waiting: o.Waiting, Steps: []stepJSON{}}
	for _, s := range o.Steps {
		j.Steps = append(j.Steps, stepJSON{ID: s.StepID, Section: s.Section, Status: string(s.Status), Outcome: string(s.Outcome),
			Conclusion: string(s.Conclusion), StartedAt: timePtr(s.StartedAt), EndedAt: timePtr(s.EndedAt), ExitCode: s.ExitCode,
			Attempts: s.Attempts, Outputs: s.Outputs, Error: s.Error, User: s.User, Host: s.Host})
	}
	return j
}

// status prints where each target of a run stands.
func (a *app) status(ctx context.Context, runID string) error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	_, outs, err := a.children(ctx, c, runID)
	if err != nil {
		return err
	}
	if a.json {
		enc := json.NewEncoder(a.stdout)
		for _, o := range outs {
			if err := enc.Encode(toJSON(runID, o)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, o := range outs {
		fmt.Fprintf(a.stdout, "%s  run %s  %s  %s\n", o.Target, o.RunID, o.Procedure, runStatus(o))
		if o.Error != "" {
			fmt.Fprintf(a.stdout, "  %s\n", o.Error)
		}
		for _, w := range o.Warnings {
			fmt.Fprintf(a.stdout, "  ⚠ %s\n", w)
		}
		for _, s := range o.Steps {
			fmt.Fprintf(a.stdout, "  %-20s %s\n", s.StepID, stepLine(s))
		}
		for _, w := range o.Waiting {
			fmt.Fprintf(a.stdout, "  waiting: %s\n", w)
		}
	}
	return nil
}

// resume answers waiting prompts and follows the run again.
func (a *app) resume(ctx context.Context, runID string, on, answers []string) error {
	given, err := parseAnswers(answers)
	if err != nil {
		return err
	}
	if len(given) == 0 {
		return usagef("resume: on Temporal a run goes on by itself; resume gives answers: --answer STEP=VALUE")
	}
	only, err := onlyTargets("resume", on)
	if err != nil {
		return err
	}
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	kids, fams, err := a.families(ctx, c, runID)
	if err != nil {
		return err
	}
	// A prompt of a called procedure is answered in the workflow that
	// runs it: c/ask names step ask of call step c's procedure; a plain
	// ask, every run of the target's family that waits on it.
	answered := 0
	w := clientWorkflows{c}
	for i, k := range kids {
		if !only.has(k) || k.Execution == "" {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(given)) {
			for _, wt := range fleet.Waiting(fams[i], key) {
				if err := w.Answer(ctx, wt.Run.WorkflowID, wt.Run.RunID, fleet.Answer{Step: wt.Step, Value: given[key]}); err != nil {
					return usagef("--answer %s on %s: %s", key, k.Target, errMessage(err))
				}
				answered++
			}
		}
	}
	if answered == 0 {
		return usagef("resume: no target of run %s waits on %s", runID, strings.Join(slices.Sorted(maps.Keys(given)), ", "))
	}
	return a.follow(ctx, c, runID)
}

// cancel cancels the incident: each target's running step is stopped,
// its finally steps run.
func (a *app) cancel(ctx context.Context, runID string) error {
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.CancelWorkflow(ctx, incidentID(runID), ""); err != nil {
		return fmt.Errorf("cancel run %s: %w", runID, err)
	}
	fmt.Fprintf(a.stdout, "run %s: cancel requested; finally steps run\n", runID)
	a.cancelling = true
	return a.follow(ctx, c, runID)
}

// targetSet is the targets an --on names, by the lock id of the path
// given: a run's target is named by the spelling it was started with, or
// by its repository's real path on its host (its lock id).
type targetSet map[string]bool

// has reports whether the set names k (an empty set names every target).
func (s targetSet) has(k *fleet.Child) bool {
	return len(s) == 0 || s[fleet.LockID(k.Target)] || s[k.WorkflowID]
}

// onlyTargets reads the --on of cmd (none: every target).
func onlyTargets(cmd string, on []string) (targetSet, error) {
	only := targetSet{}
	for _, s := range on {
		t, err := fleet.ParseTarget(s)
		if err != nil {
			return nil, usagef("%s: %v", cmd, err)
		}
		only[fleet.LockID(t)] = true
	}
	return only, nil
}

// undo undoes an incident target by target: an incident of the built-in
// undo procedure, each target's workflow on the host that holds its
// snapshots and under its repository's lock, restoring what that
// target's run found (rbflow undo RUN, run there).
func (a *app) undo(ctx context.Context, runID string, on []string, force bool) error {
	only, err := onlyTargets("undo", on)
	if err != nil {
		return err
	}
	c, err := a.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	kids, outs, err := a.children(ctx, c, runID)
	if err != nil {
		return err
	}
	var targets []fleet.Target
	var params []map[string]any
	var names []string
	for i, k := range kids {
		if !only.has(k) {
			continue
		}
		if outs[i].Status == engine.RunRunning || outs[i].Status == engine.RunWaiting {
			return usagef("undo: run %s is still %s on %s: cancel it first (rbflow cancel %s --temporal ADDR)", runID, outs[i].Status, k.Target, runID)
		}
		if k.Execution == "" {
			continue // it never started there: nothing to undo
		}
		targets = append(targets, k.Target)
		params = append(params, map[string]any{"run": k.RunID})
		names = append(names, k.Target.String())
	}
	if len(targets) == 0 {
		if len(only) > 0 {
			return usagef("undo: run %s has no target that started among the --on given", runID)
		}
		return usagef("undo: run %s started on no target: nothing to undo", runID)
	}
	src := engine.Source{Path: procedures.BuiltinPrefix + "undo", Text: []byte(procedures.Undo)}
	plan, err := fleet.Compile(src.Path, string(src.Text), nil, a.reg)
	if err != nil {
		return err
	}
	base, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Sets: []string{"run=" + kids[0].RunID, fmt.Sprintf("force=%t", force)}})
	if err != nil {
		return err
	}
	undoID := engine.NewRunID(time.Now())
	in := fleet.IncidentInput{RunID: undoID, Targets: targets, TargetParams: params, Procedure: fleet.ProcedureInput{
		Source: string(src.Text), SourcePath: src.Path, Params: base, Parallel: 1, HostWait: 10 * time.Minute,
	}}
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: incidentID(undoID), TaskQueue: fleet.TaskQueue}, fleet.IncidentWorkflow, in); err != nil {
		return fmt.Errorf("start undo: %w", err)
	}
	fmt.Fprintf(a.stdout, "run %s undoes run %s on %s\n", undoID, runID, strings.Join(names, ", "))
	return a.follow(ctx, c, undoID)
}

// errMessage is an error's message without the SDK's "(type: ...,
// retryable: ...)" of an application error, such as an answer the
// workflow refused.
func errMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// quietLogger keeps the SDK's own logging off the command's output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
