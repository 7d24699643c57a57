package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// StoreError is a record the state store could not write, with where and
// why in words a person can act on: the disk is full, the store is
// read-only, or damaged. A run that meets one stops: without its records
// it could not be resumed.
type StoreError struct {
	Path   string // the store's file, or the log being written
	Reason string // "the disk is full (0 B free on the file system of /x)"
	Err    error
}

func (e *StoreError) Error() string {
	return fmt.Sprintf("state store %s: %s (%v)", e.Path, e.Reason, e.Err)
}

func (e *StoreError) Unwrap() error { return e.Err }

// storeWriteError says why writing the file at path failed, as a
// *StoreError when the disk is full or read-only.
func storeWriteError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &StoreError{Path: path, Reason: "the disk is full" + FreeSpace(filepath.Dir(path)), Err: err}
	case errors.Is(err, syscall.EROFS):
		return &StoreError{Path: path, Reason: "the file system is read-only", Err: err}
	}
	return fmt.Errorf("write %s: %w", path, err)
}

// FreeSpace says how much space is left on the file system of dir, as
// " (12 MB free on the file system of DIR)", or "" if it cannot tell.
func FreeSpace(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return ""
	}
	free := float64(st.Bavail) * float64(st.Bsize)
	unit, units := "B", []string{"KB", "MB", "GB", "TB"}
	for i := 0; free >= 1000 && i < len(units); i++ {
		free, unit = free/1000, units[i]
	}
	return fmt.Sprintf(" (%.0f %s free on the file system of %s)", free, unit, dir)
}

// Store is everything rbflow keeps durably: runs and their steps, and what
// steps record along the way. It is made of small capabilities; the runner
// is given a whole Store, and a step kind reaches the part it needs through
// an accessor on Exec (Snapshots, Services, Events, Runs), so a store that
// lacks a capability does not compile, instead of failing a step at run
// time. Every method commits before it returns; an error means nothing was
// written. engine/store implements it with SQLite.
type Store interface {
	RunStore
	AnswerStore
	SnapshotStore
	ServiceStore
	EventStore
	ChecklistStore
	NotificationStore
}

// RunStore keeps runs and the records of their steps.
type RunStore interface {
	// CreateRun inserts a new run and the answers given for its prompts,
	// in one transaction. It fails if a run with the same id exists.
	CreateRun(ctx context.Context, r *Run, answers []Answer) error
	// UpdateRun writes the run's mutable fields (status, end, owner, source,
	// failed step, generation); an error wrapping ErrNotFound if the run
	// does not exist.
	UpdateRun(ctx context.Context, r *Run) error
	// Run returns a run by id or unique id prefix; an error wrapping
	// ErrNotFound if there is none.
	Run(ctx context.Context, id string) (*Run, error)
	// Runs lists runs of a repository (all repositories when repo is ""),
	// newest first.
	Runs(ctx context.Context, repo string) ([]*Run, error)
	// ChildRuns lists the runs that run parent called (call steps),
	// oldest first.
	ChildRuns(ctx context.Context, parent string) ([]*Run, error)
	// SaveStep inserts or replaces the record of one step.
	SaveStep(ctx context.Context, s *StepRecord) error
	// Steps returns the records of a run's steps in start order.
	Steps(ctx context.Context, runID string) ([]*StepRecord, error)
	// DeleteStep forgets a step's record so that it runs again.
	DeleteStep(ctx context.Context, runID, stepID string) error
	// SetUndoneBy records the undo run that undid a run ("" clears it).
	SetUndoneBy(ctx context.Context, runID, undoRun string) error
}

// Snapshot records a git snapshot taken before a destructive step: the ref
// that keeps the state reachable and the commit it points to.
type Snapshot struct {
	RunID     string
	StepID    string
	Ref       string    // refs/rbflow/<run-id>/<step-id>
	Commit    string    // the snapshot commit the ref points to
	CreatedAt time.Time // zero means "now" when saved
	Skipped   []string  // what was not saved: reinstallable trees, files over the size cap
}

// SnapshotStore keeps the snapshots git steps take.
type SnapshotStore interface {
	// SaveSnapshot records a snapshot. The run must exist.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// Snapshots returns the snapshots of a run (of all runs when runID is
	// ""), oldest first.
	Snapshots(ctx context.Context, runID string) ([]Snapshot, error)
	// DeleteSnapshots forgets the snapshots of a run (rbflow gc deleted
	// their refs).
	DeleteSnapshots(ctx context.Context, runID string) error
}

// Service records a background process started by a run, keyed by
// repository and name, so that later runs can find it or stop it.
type Service struct {
	Repo      string
	Name      string
	PID       int
	PIDStart  uint64 // process start time (clock ticks since boot), to detect pid reuse
	BootID    string // kernel boot id; a pid from another boot is stale
	Command   string
	Dir       string
	LogPath   string
	RunID     string // run that started it
	StartedAt time.Time
	StoppedAt time.Time // zero while running
}

// ServiceStore keeps the services that service steps start.
type ServiceStore interface {
	// SaveService inserts or replaces the record of a service.
	SaveService(ctx context.Context, svc Service) error
	// Service returns the record of a service; an error wrapping
	// ErrNotFound if there is none.
	Service(ctx context.Context, repo, name string) (*Service, error)
	// Services lists the services of a repository (of all when repo is "").
	Services(ctx context.Context, repo string) ([]*Service, error)
	// MarkServiceStopped records that a service stopped at the given time;
	// an error wrapping ErrNotFound if there is no such service.
	MarkServiceStopped(ctx context.Context, repo, name string, at time.Time) error
}

// RecordedEvent is a metrics record (record steps): something that happened
// in a run, with data.
type RecordedEvent struct {
	ID        int64 // increases with each event
	RunID     string
	Kind      string
	Data      map[string]any
	CreatedAt time.Time
}

// EventStore keeps the metrics events record steps write.
type EventStore interface {
	// AddEvent records an event now. runID may be "" for events outside a
	// run. Integers in data come back as int.
	AddEvent(ctx context.Context, runID, kind string, data map[string]any) error
	// Events returns the events of a kind (all when kind is ""), oldest first.
	Events(ctx context.Context, kind string) ([]RecordedEvent, error)
}

// ChecklistItem is the state of one item of a run's checklist.
type ChecklistItem struct {
	Item   string
	Done   bool
	DoneAt time.Time // zero unless done
	Note   string
}

// ChecklistStore keeps the items of post-rollback checklists a person ticks.
type ChecklistStore interface {
	// SetChecklistItem marks an item of a run's checklist done (now) or not
	// done, creating it if needed. The run must exist.
	SetChecklistItem(ctx context.Context, runID, item string, done bool) error
	// Checklist returns a run's checklist items by name.
	Checklist(ctx context.Context, runID string) (map[string]ChecklistItem, error)
}

// ErrNotFound is returned by stores for unknown runs, services and the like.
var ErrNotFound = errors.New("engine: not found")

// ErrDryRun is returned by every store method in a dry run, which records
// nothing: a destructive action that cannot record its snapshot does not run.
var ErrDryRun = errors.New("engine: a dry run records nothing")

// dryStore is the store of a dry run: it keeps nothing and says so.
type dryStore struct{}

var _ Store = dryStore{}

func (dryStore) CreateRun(context.Context, *Run, []Answer) error           { return ErrDryRun }
func (dryStore) UpdateRun(context.Context, *Run) error                     { return ErrDryRun }
func (dryStore) Run(context.Context, string) (*Run, error)                 { return nil, ErrDryRun }
func (dryStore) Runs(context.Context, string) ([]*Run, error)              { return nil, ErrDryRun }
func (dryStore) ChildRuns(context.Context, string) ([]*Run, error)         { return nil, ErrDryRun }
func (dryStore) SaveStep(context.Context, *StepRecord) error               { return ErrDryRun }
func (dryStore) Steps(context.Context, string) ([]*StepRecord, error)      { return nil, ErrDryRun }
func (dryStore) DeleteStep(context.Context, string, string) error          { return ErrDryRun }
func (dryStore) SetUndoneBy(context.Context, string, string) error         { return ErrDryRun }
func (dryStore) DeleteSnapshots(context.Context, string) error             { return ErrDryRun }
func (dryStore) SaveAnswer(context.Context, Answer) error                  { return ErrDryRun }
func (dryStore) Answers(context.Context, string) ([]Answer, error)         { return nil, ErrDryRun }
func (dryStore) Answer(context.Context, string, string) (*Answer, error)   { return nil, ErrDryRun }
func (dryStore) SaveQuestion(context.Context, Asked) error                 { return ErrDryRun }
func (dryStore) Question(context.Context, string, string) (*Asked, error)  { return nil, ErrDryRun }
func (dryStore) SaveSnapshot(context.Context, Snapshot) error              { return ErrDryRun }
func (dryStore) Snapshots(context.Context, string) ([]Snapshot, error)     { return nil, ErrDryRun }
func (dryStore) SaveService(context.Context, Service) error                { return ErrDryRun }
func (dryStore) Service(context.Context, string, string) (*Service, error) { return nil, ErrDryRun }
func (dryStore) Services(context.Context, string) ([]*Service, error)      { return nil, ErrDryRun }
func (dryStore) AddEvent(context.Context, string, string, map[string]any) error {
	return ErrDryRun
}
func (dryStore) Events(context.Context, string) ([]RecordedEvent, error) { return nil, ErrDryRun }
func (dryStore) MarkServiceStopped(context.Context, string, string, time.Time) error {
	return ErrDryRun
}
func (dryStore) SetChecklistItem(context.Context, string, string, bool) error { return ErrDryRun }
func (dryStore) Checklist(context.Context, string) (map[string]ChecklistItem, error) {
	return nil, ErrDryRun
}

// RunFamily returns the run id names and every run it called, at any
// depth, the run first and the others in the order they started.
func RunFamily(ctx context.Context, st RunStore, id string) ([]*Run, error) {
	run, err := st.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	family := []*Run{run}
	for i := 0; i < len(family); i++ {
		children, err := st.ChildRuns(ctx, family[i].ID)
		if err != nil {
			return nil, err
		}
		family = append(family, children...)
	}
	return family, nil
}

// SentNotification records one event of a notification hook sent for a
// run (delivered or not), so that each fires once per run attempt, also
// across resume.
type SentNotification struct {
	RunID      string
	Generation int    // the run's attempt (rbflow retry starts a new one)
	Hook       int    // the hook's place in the procedure's notifications
	Event      string // start, failure, over_target or finish
	Status     int    // the webhook's HTTP status; 0 when none came
	Error      string // why it was not delivered ("" when it was), URL masked
	SentAt     time.Time
}

// NotificationStore keeps what a run's notification hooks sent.
type NotificationStore interface {
	// SaveNotification records a hook's event as sent, replacing an
	// earlier record of it. The run must exist.
	SaveNotification(ctx context.Context, n SentNotification) error
	// Notifications returns what a run's hooks sent, oldest first.
	Notifications(ctx context.Context, runID string) ([]SentNotification, error)
	// ForgetNotifications forgets that the events were sent in a run's
	// attempt generation, so that they fire again.
	ForgetNotifications(ctx context.Context, runID string, generation int, events []string) error
}

func (dryStore) SaveNotification(context.Context, SentNotification) error { return ErrDryRun }
func (dryStore) Notifications(context.Context, string) ([]SentNotification, error) {
	return nil, ErrDryRun
}
func (dryStore) ForgetNotifications(context.Context, string, int, []string) error { return ErrDryRun }
