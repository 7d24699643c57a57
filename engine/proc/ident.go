package proc

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Identity is a process that cannot be confused with a later one reusing
// its pid.
type Identity struct {
	PID   int
	Start uint64 // start time in clock ticks since boot
}

// StartTime returns a process's start time from /proc/PID/stat.
func StartTime(pid int) (uint64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// State returns the one-letter process state (R, S, Z, ...), or "" when
// there is no such process.
func State(pid int) string {
	f, err := statFields(pid)
	if err != nil {
		return ""
	}
	return f[0]
}

var (
	selfOnce sync.Once
	self     Identity
)

// Self returns the identity of this process.
func Self() Identity {
	selfOnce.Do(func() {
		self.PID = os.Getpid()
		self.Start, _ = StartTime(self.PID)
	})
	return self
}

// Alive reports whether the process id is still the same process (a zombie
// counts as dead).
func (id Identity) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	st, err := StartTime(id.PID)
	if err != nil || st != id.Start {
		return false
	}
	return State(id.PID) != "Z"
}

// BootID identifies the current boot; a pid from another boot is never alive.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
