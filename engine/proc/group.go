package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ticksPerSecond is the kernel's USER_HZ, the unit of start times in
// /proc/PID/stat. Linux fixes it at 100 on every architecture Go supports.
const ticksPerSecond = 100

// statFields returns the fields of /proc/PID/stat after the command name:
// [0] is the state, [1] the parent pid, [2] the process group, [3] the
// session and [19] the start time.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

// Pgid returns the process group of a process.
func Pgid(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[2])
}

// Group returns the live (not zombie) members of process group pgid that
// started no earlier than notBefore (clock ticks since boot). A group keeps
// its number while it has members, so a member that started after the
// group's leader belongs to the group the leader founded: the start bound
// keeps a pid reused from an older, unrelated group out.
func Group(pgid int, notBefore uint64) []Identity {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Identity
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(pid)
		if err != nil || f[2] != want || f[0] == "Z" {
			continue
		}
		start, err := strconv.ParseUint(f[19], 10, 64)
		if err != nil || start < notBefore {
			continue
		}
		out = append(out, Identity{PID: pid, Start: start})
	}
	return out
}

// bootTime is when the system booted, from the uptime: it is precise to a
// clock tick, where /proc/stat's btime is rounded to the second.
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("parse /proc/uptime: %q", b)
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse /proc/uptime: %w", err)
	}
	return time.Now().Add(-time.Duration(up * float64(time.Second))), nil
}

// StartedAt converts a start time in clock ticks since boot to wall-clock
// time (to within a few clock ticks).
func StartedAt(start uint64) (time.Time, error) {
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(start) * time.Second / ticksPerSecond), nil
}

// HasEnv reports whether a process's environment, as it was when the
// process started, holds the entry kv ("NAME=value"). It is false when the
// environment cannot be read (a process of another user).
func HasEnv(pid int, kv string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}
