package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// reaperEnv marks a re-executed rbflow as a reaper; its value is the grace
// period in milliseconds.
const reaperEnv = "RBFLOW_REAPER_GRACE_MS"

// Command is a step command to run under a reaper.
type Command struct {
	Path   string
	Args   []string
	Dir    string
	Env    []string
	Stdin  io.Reader // nil: /dev/null (only under a supervisor: a reaper gives none)
	Stdout io.Writer
	Stderr io.Writer
	// Grace is how long the group has between SIGTERM and SIGKILL.
	Grace time.Duration
	// Supervisor, when set, starts the command (see Supervisor); else the
	// supervisor of the context (WithSupervisor) does; else a reaper is
	// started for this command alone.
	Supervisor *Supervisor
}

// The reaper is this very executable: main (and TestMain of packages that
// run step commands) must start with: if proc.IsReaper() { os.Exit(proc.ReaperMain()) }.
var (
	exeOnce sync.Once
	exePath string
	exeErr  error
)

// IsReaper reports whether this process was started as a reaper.
func IsReaper() bool { return os.Getenv(reaperEnv) != "" }

// ErrKilled is returned when the command was stopped by a signal rbflow sent.
var ErrKilled = errors.New("proc: stopped")

// Run runs c under a reaper and waits for it. When ctx ends, the command's
// whole process group gets SIGTERM, then SIGKILL after c.Grace, or at once
// when hurry is closed. When the command exits, whatever it left running in
// its group is killed. The exit code is -1 when it did not exit by itself.
func Run(ctx context.Context, c Command, hurry <-chan struct{}) (int, error) {
	if c.Supervisor == nil {
		c.Supervisor = SupervisorOf(ctx)
	}
	if c.Supervisor != nil {
		return runSupervised(ctx, c.Supervisor, c, hurry)
	}
	exeOnce.Do(func() { exePath, exeErr = os.Executable() })
	if exeErr != nil {
		return -1, fmt.Errorf("find rbflow executable for the reaper: %w", exeErr)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	grace := c.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	cmd := exec.Command(exePath, append([]string{c.Path}, c.Args...)...)
	cmd.Dir = c.Dir
	cmd.Env = append(withoutEnv(c.Env, reaperEnv), reaperEnv+"="+strconv.FormatInt(grace.Milliseconds(), 10))
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A background process the command left may hold its output open; the
	// step is over when the command is, so Wait does not wait for it.
	cmd.WaitDelay = 200 * time.Millisecond
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return -1, fmt.Errorf("start %s: %w", c.Path, err)
	}
	r.Close()
	defer w.Close()
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	waitErr, stopped := awaitGroup(ctx, done, func(sig syscall.Signal) { _ = syscall.Kill(-pgid, sig) }, grace, hurry)
	// What the command left running in its group ends with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if stopped {
		return -1, fmt.Errorf("%w: %w", ErrKilled, context.Cause(ctx))
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return ee.ExitCode(), nil
	}
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return -1, waitErr
	}
	return cmd.ProcessState.ExitCode(), nil
}

// awaitGroup waits for a command to end (done). When ctx ends first, its
// process group gets SIGTERM (through signal), then SIGKILL after grace or
// at once when hurry is closed; stopped says so.
func awaitGroup[T any](ctx context.Context, done <-chan T, signal func(syscall.Signal), grace time.Duration, hurry <-chan struct{}) (v T, stopped bool) {
	select {
	case v = <-done:
		return v, false
	case <-ctx.Done():
	}
	signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case v = <-done:
	case <-t.C:
		signal(syscall.SIGKILL)
		v = <-done
	case <-hurry:
		signal(syscall.SIGKILL)
		v = <-done
	}
	return v, true
}

// withoutEnv returns env without the entries of variable name.
func withoutEnv(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// lastWins returns env with one entry per name, the last one given, where
// it stood first: what os/exec does with a command's environment. The
// supervisor starts commands with the list as it is, and a program's
// getenv takes the first entry, so a later setting (rbflow's own
// GIT_CONFIG_COUNT, say, after the one the user exports) would be lost.
func lastWins(env []string) []string {
	if env == nil {
		return nil
	}
	last := make(map[string]int, len(env))
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		last[name] = i
	}
	if len(last) == len(env) {
		return env
	}
	out := make([]string, 0, len(last))
	seen := make(map[string]bool, len(last))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !seen[name] {
			seen[name] = true
			out = append(out, env[last[name]])
		}
	}
	return out
}

// isPipe reports whether fd is open on a pipe.
func isPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}

// ReaperMain is the reaper process: it runs its arguments as a child in its
// own process group, passes on the child's exit status, and kills the group
// if rbflow (the other end of fd 3) dies first. It returns the exit status.
func ReaperMain() int {
	ms, _ := strconv.Atoi(os.Getenv(reaperEnv))
	grace := time.Duration(ms) * time.Millisecond
	// Signals sent to the group are for the command; the reaper waits for it.
	// (Notify, not Ignore: an ignored signal would stay ignored in the child.)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for range sigs {
		}
	}()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "rbflow reaper: no command")
		return 127
	}
	// Only rbflow starts a reaper: as the leader of a new process group,
	// with a pipe on fd 3. Anything else (the variable set by hand) must not
	// signal a group that is not its own.
	if syscall.Getpgrp() != os.Getpid() || !isPipe(3) {
		fmt.Fprintf(os.Stderr, "rbflow: %s is set but this process was not started by rbflow as a reaper; unset it\n", reaperEnv)
		return 2
	}
	parent := os.NewFile(3, "rbflow")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Env = withoutEnv(os.Environ(), reaperEnv)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	// The command gets default signal handling back.
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "rbflow: %v\n", err)
		return 127
	}
	childDone := make(chan error, 1)
	go func() { childDone <- cmd.Wait() }()
	parentGone := make(chan struct{})
	go func() {
		// Blocks until rbflow closes the pipe, which happens only when it is gone.
		_, _ = io.Copy(io.Discard, parent)
		close(parentGone)
	}()
	var err error
	select {
	case err = <-childDone:
		// The step is over: what it left in the background goes too (the
		// reaper catches SIGTERM; rbflow sends SIGKILL to the group next).
		_ = syscall.Kill(-os.Getpid(), syscall.SIGTERM)
	case <-parentGone:
		// rbflow died: end the whole group (this reaper leads it), itself last.
		_ = syscall.Kill(-os.Getpid(), syscall.SIGTERM)
		select {
		case <-childDone:
		case <-time.After(grace):
		}
		_ = syscall.Kill(-os.Getpid(), syscall.SIGKILL)
		return 137
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 127
	}
	return 0
}
