package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is the repository lock: an flock on a file in the state folder. The
// kernel releases it when the holder dies, even by SIGKILL.
type Lock struct {
	f *os.File
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

// AcquireLock takes the lock of repo or returns a *LockError naming the holder.
func AcquireLock(stateDir, repo, runID string) (*Lock, error) {
	path := lockPath(stateDir, repo)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			le := &LockError{Path: path}
			if b, rerr := os.ReadFile(path); rerr == nil {
				fields := strings.Fields(string(b))
				if len(fields) >= 2 {
					le.PID, _ = strconv.Atoi(fields[0])
					le.RunID = fields[1]
				}
			}
			return nil, le
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &Lock{f: f}
	l.SetRun(runID)
	return l, nil
}

// SetRun records which run holds the lock, for the message others get.
func (l *Lock) SetRun(runID string) {
	if l == nil {
		return
	}
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(fmt.Sprintf("%d %s\n", os.Getpid(), runID)), 0)
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}
