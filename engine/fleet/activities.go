package fleet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/store"
)

// BeginInput is BeginRunActivity's argument.
type BeginInput struct {
	RunID      string
	Repo       string
	Source     string
	SourcePath string
	Params     map[string]any
	StartedAt  time.Time
	Called     []Called `json:",omitempty"`
	LockRun    string   `json:",omitempty"`
	ParentRun  string   `json:",omitempty"`
	ParentStep string   `json:",omitempty"`
}

// lockRun is the run whose repository lock a run's activities share: the
// outermost caller's (ProcedureInput.LockRun).
func lockRun(runID, lock string) string { return cmp.Or(lock, runID) }

// StepInput is StepActivity's argument.
type StepInput struct {
	RunID      string
	Repo       string
	Source     string
	SourcePath string
	Step       string
	FailedStep string
	Prior      []*engine.StepRecord
	Status     eval.Status
	EvalIf     bool
	Params     map[string]any
	Answers    map[string]string
	Called     []Called `json:",omitempty"`
	LockRun    string   `json:",omitempty"`
}

// StepOutput is StepActivity's result: the step's record (outputs in
// clear: the codec seals them), and whether it waits for an answer.
type StepOutput struct {
	Record  *engine.StepRecord
	Waiting bool
}

// EndInput is EndRunActivity's argument.
type EndInput struct {
	RunID      string
	Repo       string
	Source     string
	SourcePath string
	Status     engine.RunStatus
	FailedStep string
	Decided    []*engine.StepRecord
	Called     []Called `json:",omitempty"`
	LockRun    string   `json:",omitempty"`
}

// NotifyInput is NotifyActivity's argument: one event of the run's
// notification hooks (engine.HostNotice).
type NotifyInput struct {
	RunID      string
	Repo       string
	Source     string
	SourcePath string
	Called     []Called `json:",omitempty"`
	LockRun    string   `json:",omitempty"`
	Event      string
	Status     engine.RunStatus
	FailedStep string
	Prior      []*engine.StepRecord
	Params     map[string]any
}

// Host is the activities of one host: it runs steps in the repositories
// it was given, and only there, each recorded in that repository's store.
type Host struct {
	Name     string
	Registry *engine.Registry
	Grace    time.Duration // SIGTERM to SIGKILL of a step's processes (0: 10 s)
	// Temporal is the server's address as the worker was given it: a
	// prompt that waits names the command that answers it through there.
	Temporal string
	// HoldIdle is how long a run's lock is kept with none of its steps
	// running (0: DefaultHoldIdle).
	HoldIdle time.Duration

	repos map[string]*hostRepo
	plans sync.Map // procedure text hash -> *engine.Plan
}

// hostRepo is one repository a worker serves.
type hostRepo struct {
	root     string
	stateDir string
	store    *store.Store

	mu    sync.Mutex
	locks map[string]*heldLock // by run id
	held  map[string]time.Time // runs whose lock is held from BeginRun to EndRun: when a step last ran
}

// DefaultHoldIdle is how long a run's lock is held with none of its steps
// running (a prompt waiting, or a workflow terminated without its end):
// then it is let go, and the run's later steps take it one by one.
const DefaultHoldIdle = 15 * time.Minute

// heldLock is the repository lock held for a run while any of its steps
// runs here; its supervisor starts every process of those steps.
type heldLock struct {
	lock *engine.Lock
	n    int
}

// NewHost opens the store of each repository (the state folder a local
// rbflow uses there, so rbflow status on the host shows fleet runs too).
func NewHost(ctx context.Context, name string, reg *engine.Registry, repos []string) (*Host, error) {
	h := &Host{Name: name, Registry: reg, repos: map[string]*hostRepo{}}
	for _, p := range repos {
		if !filepath.IsAbs(p) {
			h.Close()
			return nil, fmt.Errorf("--repo %s: give an absolute path (the starter names it in --on %s:PATH)", p, name)
		}
		root, err := engine.RepoRoot(ctx, p, true)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("--repo %s: %w", p, err)
		}
		dir, err := engine.StateDir(ctx, "", root, root)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("--repo %s: %w", p, err)
		}
		st, err := store.Open(dir)
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("--repo %s: %w", p, err)
		}
		r := &hostRepo{root: root, stateDir: dir, store: st, locks: map[string]*heldLock{}, held: map[string]time.Time{}}
		h.repos[filepath.Clean(p)] = r
		h.repos[root] = r
	}
	return h, nil
}

// Close closes the stores.
func (h *Host) Close() {
	seen := map[*hostRepo]bool{}
	for _, r := range h.repos {
		if !seen[r] {
			seen[r] = true
			_ = r.store.Close()
		}
	}
}

// Repos lists the repository roots the host serves.
func (h *Host) Repos() []string {
	var out []string
	for p, r := range h.repos {
		if p == r.root {
			out = append(out, p)
		}
	}
	return out
}

// repo is the repository a path names on this host: one the worker was
// given, by the path it was given, or by any other spelling of it (a
// symbolic link, a folder inside it), which git resolves to the real path
// of its top-level directory.
func (h *Host) repo(ctx context.Context, path string) (*hostRepo, error) {
	if r, ok := h.repos[filepath.Clean(path)]; ok {
		return r, nil
	}
	if filepath.IsAbs(path) {
		if root, err := engine.RepoRoot(ctx, path, true); err == nil {
			if r, ok := h.repos[root]; ok {
				return r, nil
			}
		}
	}
	return nil, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("host %s does not serve %s (its worker was given --repo %s)", h.Name, path, strings.Join(h.Repos(), " --repo ")), UnknownRepoError, nil)
}

// UnknownRepoError is the type of the error of an activity given a path
// its host's worker does not serve.
const UnknownRepoError = "UnknownRepo"

// RepoIdentity is the repository's identity on this host: the real path
// of the top-level directory of the repository path names, as git
// resolves it, so that every spelling of one repository takes one lock
// id. A path the worker does not serve is refused (UnknownRepoError),
// naming the repositories it does.
func (h *Host) RepoIdentity(ctx context.Context, path string) (string, error) {
	r, err := h.repo(ctx, path)
	if err != nil {
		return "", err
	}
	return r.root, nil
}

func (h *Host) plan(path, source string, called []Called) (*engine.Plan, error) {
	d := sha256.New()
	for _, s := range append([]string{path, source}, calledKey(called)...) {
		d.Write([]byte(s + "\x00"))
	}
	var sum [sha256.Size]byte
	d.Sum(sum[:0])
	if p, ok := h.plans.Load(sum); ok {
		return p.(*engine.Plan), nil
	}
	p, err := Compile(path, source, called, h.Registry)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "ProcedureError", nil)
	}
	h.plans.Store(sum, p)
	return p, nil
}

// repoPlan is the repository an activity runs in and the procedure it
// runs, compiled (see plan).
func (h *Host) repoPlan(ctx context.Context, repo, path, source string, called []Called) (*hostRepo, *engine.Plan, error) {
	r, err := h.repo(ctx, repo)
	if err != nil {
		return nil, nil, err
	}
	plan, err := h.plan(path, source, called)
	if err != nil {
		return nil, nil, err
	}
	return r, plan, nil
}

func (h *Host) runner(r *hostRepo, runID string, obs engine.Observer) *engine.Runner {
	return &engine.Runner{
		Store: r.store, Loader: &engine.Loader{Registry: h.Registry}, StateDir: r.stateDir,
		Repo: r.root, Parallel: 4, Grace: h.Grace, Observer: obs,
		Actor:      engine.CurrentActor(),
		AnswerWith: AnswerCommand(runID, h.Temporal),
	}
}

func calledKey(called []Called) []string {
	var out []string
	for _, c := range called {
		out = append(out, c.From, c.Ref, c.Path, c.Text)
	}
	return out
}

// AnswerCommand is the command, up to STEP=VALUE, that answers a prompt
// of the target run runID: rbflow resume of its incident on Temporal (a
// local rbflow resume or rbflow answer would not reach the workflow).
func AnswerCommand(runID, temporal string) string {
	if temporal == "" {
		temporal = "ADDR"
	}
	return fmt.Sprintf("rbflow resume %s --temporal %s --answer ", IncidentOf(runID), temporal)
}

// acquire takes the repository's lock for a run (once for all its steps
// running here at a time).
func (r *hostRepo) acquire(runID string) (*engine.Lock, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.locks[runID]; ok {
		l.n++
		return l.lock, nil
	}
	lock, err := engine.AcquireLock(r.stateDir, r.root, runID)
	if err != nil {
		return nil, err
	}
	r.locks[runID] = &heldLock{lock: lock, n: 1}
	return lock, nil
}

func (r *hostRepo) release(runID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.locks[runID]
	if !ok {
		return
	}
	if l.n--; l.n == 0 {
		_ = l.lock.Release()
		delete(r.locks, runID)
	}
}

// BeginRun records the run in the host's store.
func (h *Host) BeginRun(ctx context.Context, in BeginInput) error {
	r, plan, err := h.repoPlan(ctx, in.Repo, in.SourcePath, in.Source, in.Called)
	if err != nil {
		return err
	}
	if _, err := h.runner(r, lockRun(in.RunID, in.LockRun), nil).BeginHostRun(ctx, plan, engine.HostRun{
		ID: in.RunID, SourcePath: in.SourcePath, Params: in.Params, StartedAt: in.StartedAt, ParentRun: in.ParentRun, ParentStep: in.ParentStep,
	}); err != nil {
		return err
	}
	if in.LockRun == "" {
		// A called procedure's run shares its caller's lock, held already.
		r.hold(in.RunID, cmp.Or(h.HoldIdle, DefaultHoldIdle))
	}
	return nil
}

// hold keeps the repository's lock for a run from its start to its end on
// this worker, so that no local rbflow run slips in between two of its
// steps; after idle with none of its steps running it is let go. When
// a local run holds the lock now, the run's steps take it one by one (each
// retried until it is free); a restarted worker does the same.
func (r *hostRepo) hold(runID string, idle time.Duration) {
	r.mu.Lock()
	_, held := r.held[runID]
	r.mu.Unlock()
	if held {
		return // a retried BeginRun
	}
	if _, err := r.acquire(runID); err != nil {
		return
	}
	r.mu.Lock()
	r.held[runID] = time.Now()
	r.mu.Unlock()
	go func() {
		for {
			time.Sleep(min(idle/4, time.Minute))
			r.mu.Lock()
			last, held := r.held[runID]
			unused := held && time.Since(last) > idle && r.locks[runID] != nil && r.locks[runID].n == 1
			r.mu.Unlock()
			if !held {
				return
			}
			if unused {
				r.unhold(runID)
				return
			}
		}
	}()
}

// touch notes that a step of a held run runs now.
func (r *hostRepo) touch(runID string) {
	r.mu.Lock()
	if _, held := r.held[runID]; held {
		r.held[runID] = time.Now()
	}
	r.mu.Unlock()
}

// unhold lets go of what hold took.
func (r *hostRepo) unhold(runID string) {
	r.mu.Lock()
	_, held := r.held[runID]
	delete(r.held, runID)
	r.mu.Unlock()
	if held {
		r.release(runID)
	}
}

// EndRun records how the run ended in the host's store, under the
// repository's lock: the run-end hooks run first, as for a local run (the
// git kind's saves the state the run left, which undo compares with the
// tree).
func (h *Host) EndRun(ctx context.Context, in EndInput) error {
	r, plan, err := h.repoPlan(ctx, in.Repo, in.SourcePath, in.Source, in.Called)
	if err != nil {
		return err
	}
	lr := lockRun(in.RunID, in.LockRun)
	lock, err := r.acquire(lr)
	if err != nil {
		return err
	}
	defer r.release(lr)
	if err := h.runner(r, lr, warnLog{activity.GetLogger(ctx)}).EndHostRun(lock.Context(ctx), plan, in.RunID, in.Status, in.FailedStep, in.Decided); err != nil {
		return err
	}
	if in.LockRun == "" {
		r.unhold(in.RunID)
	}
	return nil
}

// Notify posts one event of a run's notification hooks from this host (its
// secrets and network), recorded in the run's store as a local run records
// them: an event already sent is not sent again. It returns the warnings
// of the posts not delivered.
func (h *Host) Notify(ctx context.Context, in NotifyInput) ([]string, error) {
	r, plan, err := h.repoPlan(ctx, in.Repo, in.SourcePath, in.Source, in.Called)
	if err != nil {
		return nil, err
	}
	return h.runner(r, lockRun(in.RunID, in.LockRun), nil).NotifyHost(ctx, plan, in.RunID, engine.HostNotice{
		Event: in.Event, Status: in.Status, FailedStep: in.FailedStep, Prior: in.Prior, Params: in.Params,
	})
}

// RunStep runs one attempt of one step under the repository's lock and a
// supervisor, heartbeating the last lines of its output. A failed attempt
// the step's retry allows again is an error (Temporal retries it by the
// step's RetryPolicy); any other end is the step's record.
func (h *Host) RunStep(ctx context.Context, in StepInput) (*StepOutput, error) {
	r, plan, err := h.repoPlan(ctx, in.Repo, in.SourcePath, in.Source, in.Called)
	if err != nil {
		return nil, err
	}
	lr := lockRun(in.RunID, in.LockRun)
	lock, err := r.acquire(lr)
	if err != nil {
		// Another run (a local rbflow run) holds the repository.
		return nil, err
	}
	defer r.release(lr)
	r.touch(lr)
	defer r.touch(lr)
	ctx = lock.Context(ctx)

	tail := &tailObserver{}
	info := activity.GetInfo(ctx)
	stop := make(chan struct{})
	defer close(stop)
	every := HeartbeatEvery(info.HeartbeatTimeout)
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, tail.String())
			}
		}
	}()
	activity.RecordHeartbeat(ctx, "")

	res, err := h.runner(r, lr, tail).RunHostStep(ctx, plan, in.RunID, engine.HostStep{
		Step: in.Step, Attempt: int(info.Attempt), Prior: in.Prior, Status: in.Status, FailedStep: in.FailedStep,
		EvalIf: in.EvalIf, Params: in.Params, Answers: in.Answers,
	})
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if res.Retry {
		return nil, temporal.NewApplicationError(fmt.Sprintf("step %s attempt %d failed: %s", in.Step, info.Attempt, res.Record.Error), "StepFailed")
	}
	return &StepOutput{Record: res.Record, Waiting: res.Waiting}, nil
}

// MaxHeartbeatEvery is the longest time between two heartbeats of a
// running step: Temporal tells an activity it was cancelled in the answer
// to a heartbeat, so it is also how long rbflow cancel takes to reach a
// running step's processes.
const MaxHeartbeatEvery = 2 * time.Second

// HeartbeatEvery is how often a step heartbeats given its heartbeat
// timeout: a third of it, at most MaxHeartbeatEvery.
func HeartbeatEvery(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return MaxHeartbeatEvery
	}
	return min(timeout/3, MaxHeartbeatEvery)
}

// WorkerOptions are the options of a host's worker. The SDK holds back a
// heartbeat sent less than 80% of the heartbeat timeout after the last
// (24 s of the default 30 s): a cancel then reached a running step up to
// 24 s late, and a worker on a busy machine came near its timeout. Each
// heartbeat goes out when RunStep sends it.
func WorkerOptions() worker.Options {
	return worker.Options{MaxHeartbeatThrottleInterval: MaxHeartbeatEvery / 2}
}

// warnLog writes a run's warnings (a run-end hook that failed) to the
// worker's log.
type warnLog struct{ log log.Logger }

func (w warnLog) Event(e engine.Event) {
	if e.Kind == "run_warning" {
		w.log.Warn("run "+e.RunID+": "+e.Message, "run", e.RunID)
	}
}

// tailObserver keeps the last lines a step printed (masked by the engine),
// for its heartbeats.
type tailObserver struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 20

func (t *tailObserver) Event(e engine.Event) {
	if e.Kind != "step_output" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, e.Line)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// SamplesLines: the tail needs only the last lines of each block.
func (t *tailObserver) SamplesLines() bool { return true }

func (t *tailObserver) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// ActivityRegistry is where activities are registered: a worker, or the
// SDK's test environment.
type ActivityRegistry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers the host's activities under their names.
func (h *Host) Register(w ActivityRegistry) {
	w.RegisterActivityWithOptions(h.BeginRun, activity.RegisterOptions{Name: BeginRunActivity})
	w.RegisterActivityWithOptions(h.RunStep, activity.RegisterOptions{Name: StepActivity})
	w.RegisterActivityWithOptions(h.EndRun, activity.RegisterOptions{Name: EndRunActivity})
	w.RegisterActivityWithOptions(h.Notify, activity.RegisterOptions{Name: NotifyActivity})
	w.RegisterActivityWithOptions(h.RepoIdentity, activity.RegisterOptions{Name: RepoActivity})
}
