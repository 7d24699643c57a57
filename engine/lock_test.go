package engine

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
)

// holdLock takes the lock of repo through a descriptor of its own and
// records holder in it, as a process that SetRun ran in would have.
func holdLock(t *testing.T, stateDir, repo string, holder proc.Identity) *os.File {
	t.Helper()
	f, err := os.OpenFile(lockPath(stateDir, repo), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(f, "%d %d run-old\n", holder.PID, holder.Start); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLockSettles: a lock whose recorded holder is alive is refused at
// once; one whose holder is gone is waited for, since the child the holder
// was starting when it died lets it go a moment later; one that stays held
// is refused after lockSettle, naming the holder.
func TestLockSettles(t *testing.T) {
	defer func(d time.Duration) { lockSettle = d }(lockSettle)
	self := proc.Self()
	gone := proc.Identity{PID: self.PID, Start: self.Start + 1} // this pid, another process
	dir := t.TempDir()

	lockSettle = time.Minute
	holder := holdLock(t, dir, "/repo/live", self)
	began := time.Now()
	_, err := AcquireLock(dir, "/repo/live", "run-new")
	var le *LockError
	if !errors.As(err, &le) || le.PID != self.PID || le.RunID != "run-old" {
		t.Fatalf("AcquireLock with a live holder = %v, want a LockError naming pid %d and run-old", err, self.PID)
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("AcquireLock with a live holder took %s: it waited for the lock instead of refusing at once", d)
	}
	holder.Close()

	holder = holdLock(t, dir, "/repo/gone", gone)
	time.AfterFunc(100*time.Millisecond, func() { holder.Close() })
	l, err := AcquireLock(dir, "/repo/gone", "run-new")
	if err != nil {
		t.Fatalf("AcquireLock after its dead holder's lock went = %v, want the lock", err)
	}
	if got, _ := readHolder(lockPath(dir, "/repo/gone")); got != self {
		t.Errorf("lock file names %+v, want this process %+v", got, self)
	}
	l.Release()

	lockSettle = 50 * time.Millisecond
	holdLock(t, dir, "/repo/stuck", gone)
	_, err = AcquireLock(dir, "/repo/stuck", "run-new")
	if !errors.As(err, &le) || le.PID != gone.PID || le.RunID != "run-old" {
		t.Fatalf("AcquireLock on a lock that stays held = %v, want a LockError naming pid %d and run-old", err, gone.PID)
	}
}
