package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
)

// Lock is the repository lock: an flock on a file in the state folder. The
// kernel releases it when the holder dies, even by SIGKILL (see lockSettle).
type Lock struct {
	f   *os.File
	sup *proc.Supervisor // holds f open while it lives
	// borrowed: sup is the caller's (Runner.Supervisor), who waits for it
	// to be gone; Release only begins to end it.
	borrowed bool
}

// lockName is the lock file of a repository: a state folder shared by
// several repositories (--state, $RBFLOW_STATE) keeps one lock for each.
func lockName(repo string) string {
	if repo == "" {
		return "lock"
	}
	sum := sha256.Sum256([]byte(repo))
	return "lock-" + hex.EncodeToString(sum[:6])
}

// lockPath is the lock file of repo in a state folder.
func lockPath(stateDir, repo string) string { return filepath.Join(stateDir, lockName(repo)) }

// lockSettle is how long AcquireLock waits for a lock whose recorded
// holder is gone. The kernel releases an flock when the last descriptor of
// its open file goes, and a holder killed while starting a command (git)
// leaves a child that shares its descriptors until that child's exec: the
// lock outlives its holder by milliseconds, more on a busy machine.
var lockSettle = 2 * time.Second

// AcquireLock takes the lock of repo or returns a *LockError naming the holder.
func AcquireLock(stateDir, repo, runID string) (*Lock, error) {
	return acquireLock(stateDir, repo, runID, nil)
}

// acquireLock takes the lock of repo; the run's commands start through sup
// (one started ahead, see Runner.Supervisor), which is handed the lock to
// hold, or through a new supervisor when sup is nil.
func acquireLock(stateDir, repo, runID string, sup *proc.Supervisor) (*Lock, error) {
	path := lockPath(stateDir, repo)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(lockSettle)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		holder, le := readHolder(path)
		if holder.Alive() || time.Now().After(deadline) {
			f.Close()
			return nil, le
		}
		time.Sleep(10 * time.Millisecond)
	}
	borrowed := sup != nil && sup.Hold(f) == nil
	if !borrowed {
		// A supervisor started ahead that has failed is left to its
		// owner to close: the run gets one of its own.
		sup = proc.NewSupervisor(f)
	}
	l := &Lock{f: f, sup: sup, borrowed: borrowed}
	l.SetRun(runID)
	return l, nil
}

// readHolder reads who holds the lock at path, as SetRun wrote it: the
// holder's pid, its start time and its run. A file written by an rbflow
// that did not record start times names a holder that is alive while its
// pid is.
func readHolder(path string) (proc.Identity, *LockError) {
	le := &LockError{Path: path}
	var id proc.Identity
	b, err := os.ReadFile(path)
	if err != nil {
		return id, le
	}
	fields := strings.Fields(string(b))
	switch len(fields) {
	case 2:
		le.PID, _ = strconv.Atoi(fields[0])
		le.RunID = fields[1]
		id.PID = le.PID
		id.Start, _ = proc.StartTime(id.PID)
	case 3:
		le.PID, _ = strconv.Atoi(fields[0])
		id.PID = le.PID
		id.Start, _ = strconv.ParseUint(fields[1], 10, 64)
		le.RunID = fields[2]
	}
	return id, le
}

// SetRun records which run holds the lock, for the message others get.
func (l *Lock) SetRun(runID string) {
	if l == nil {
		return
	}
	self := proc.Self()
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(fmt.Sprintf("%d %d %s\n", self.PID, self.Start, runID)), 0)
}

// Context returns ctx with the run's supervisor (see proc.Supervisor): every
// command of the run starts through it, and it holds the lock file open,
// so that the lock is free only once the run's processes are all gone.
func (l *Lock) Context(ctx context.Context) context.Context {
	if l == nil {
		return ctx
	}
	return proc.WithSupervisor(ctx, l.sup)
}

// Prestart starts the run's supervisor now, in the background, once the
// run is sure to run commands: it is up by the time the first one needs it.
func (l *Lock) Prestart() {
	if l != nil {
		l.sup.Prestart()
	}
}

// Release ends the run's supervisor (and whatever the run left running),
// then gives the lock up: at once when the supervisor was the caller's,
// which holds the lock until it is gone, while the caller goes on.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	if l.borrowed {
		l.sup.End()
	} else {
		_ = l.sup.Close()
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}

// LockState is what InspectLock found about a repository's lock.
type LockState struct {
	Path   string
	Held   bool          // a process holds the flock now
	Holder proc.Identity // who the lock file names (the last holder)
	RunID  string        // the run the lock file names
}

// InspectLock reports whether the lock of repo is held, and by whom, without
// waiting: it takes the lock for an instant if it is free.
func InspectLock(stateDir, repo string) (LockState, error) {
	st := LockState{Path: lockPath(stateDir, repo)}
	f, err := os.OpenFile(st.Path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	defer f.Close()
	var le *LockError
	st.Holder, le = readHolder(st.Path)
	st.RunID = le.RunID
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return st, err
		}
		st.Held = true
		return st, nil
	}
	return st, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
