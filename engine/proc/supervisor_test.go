package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSupervisorRuns: commands started by a supervisor get their
// arguments, folder, environment and output, and give back their exit
// status, as under a reaper; a command that is not found is an error.
func TestSupervisorRuns(t *testing.T) {
	t.Parallel()
	s := NewSupervisor()
	defer s.Close()
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		var out, errOut bytes.Buffer
		code, err := Run(context.Background(), Command{
			Path: "bash", Args: []string{"-c", `echo "$1 $X $PWD"; echo err >&2; exit 7`, "bash", "arg"},
			Dir: dir, Env: []string{"X=x", "PATH=" + os.Getenv("PATH")}, Stdout: &out, Stderr: &errOut, Supervisor: s,
		}, nil)
		if err != nil || code != 7 {
			t.Fatalf("code %d, err %v", code, err)
		}
		if got, want := out.String(), "arg x "+dir+"\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		if errOut.String() != "err\n" {
			t.Errorf("stderr %q", errOut.String())
		}
	}
	// A file as stdout is given to the command as it is.
	f, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := Run(context.Background(), Command{Path: "/bin/echo", Args: []string{"to a file"}, Stdout: f, Supervisor: s}, nil); err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "to a file\n" {
		t.Errorf("file holds %q", b)
	}
	if _, err := Run(context.Background(), Command{Path: "no-such-command-rbflow", Env: []string{"PATH=/usr/bin"}, Supervisor: s}, nil); err == nil ||
		!strings.HasPrefix(err.Error(), "start no-such-command-rbflow: ") {
		t.Errorf("a missing command: err %v, want it said it could not start", err)
	}
	// Killed by a signal: 128+n, as bash reports it.
	if code, _ := Run(context.Background(), Command{Path: "/bin/sh", Args: []string{"-c", "kill -9 $$"}, Supervisor: s}, nil); code != 137 {
		t.Errorf("killed command: code %d, want 137", code)
	}
}

// TestSupervisorEnvLastWins: a name given twice in a command's
// environment takes the last value, as os/exec gives it. Started as the
// list stood, the command saw the first: rbflow's GIT_CONFIG_COUNT, added
// after one the user exported, was lost, and with it submodule.recurse=false
// (an undo then deleted a submodule's files).
func TestSupervisorEnvLastWins(t *testing.T) {
	t.Parallel()
	s := NewSupervisor()
	defer s.Close()
	// env prints its environment as it came (a shell would tidy it).
	var out bytes.Buffer
	code, err := Run(context.Background(), Command{
		Path: "env", Env: []string{"X=first", "Y=y", "X=second", "PATH=" + os.Getenv("PATH"), "X=third"},
		Stdout: &out, Supervisor: s,
	}, nil)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if got, want := out.String(), "X=third\nY=y\nPATH="+os.Getenv("PATH")+"\n"; got != want {
		t.Errorf("the command's environment:\n%s\nwant:\n%s", got, want)
	}
	if got := lastWins([]string{"A=1", "B=2", "A=3"}); strings.Join(got, " ") != "A=3 B=2" {
		t.Errorf("lastWins = %q", got)
	}
}

// TestSupervisorStdoutStderrInOrder: a command whose stdout and stderr go
// to the same writer (a step's log) writes both through one pipe, so the
// writer gets its lines in the order the command wrote them, whichever
// stream each went to, as a terminal shows them. With a pipe each, the
// two copies raced and the lines came out of order.
func TestSupervisorStdoutStderrInOrder(t *testing.T) {
	t.Parallel()
	s := NewSupervisor()
	defer s.Close()
	var log, want bytes.Buffer
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&want, "out %d\nerr %d\n", i, i)
	}
	var w io.Writer = &log
	code, err := Run(context.Background(), Command{
		Path: "bash", Args: []string{"-c", `for i in $(seq 0 299); do echo "out $i"; echo "err $i" >&2; done`},
		Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: w, Stderr: w, Supervisor: s,
	}, nil)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if log.String() != want.String() {
		t.Errorf("stdout and stderr to one writer came out of order:\n%.400s", log.String())
	}
	// Two writers still get each their own stream.
	var out, errs bytes.Buffer
	if code, err := Run(context.Background(), Command{
		Path: "bash", Args: []string{"-c", `echo to-out; echo to-err >&2`},
		Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: &out, Stderr: &errs, Supervisor: s,
	}, nil); err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if out.String() != "to-out\n" || errs.String() != "to-err\n" {
		t.Errorf("stdout %q, stderr %q: want each stream to its writer", out.String(), errs.String())
	}
}

// TestSupervisorStops: a cancelled command's group gets SIGTERM, then
// SIGKILL after the grace period.
func TestSupervisorStops(t *testing.T) {
	t.Parallel()
	s := NewSupervisor()
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, Command{Path: "bash", Args: []string{"-c", `trap "" TERM; while :; do sleep 0.05; done`}, Env: []string{"PATH=" + os.Getenv("PATH")}, Grace: 200 * time.Millisecond, Supervisor: s}, nil)
	if !errors.Is(err, ErrKilled) {
		t.Fatalf("err = %v, want ErrKilled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping took %s", d)
	}
	// In a hurry, SIGKILL comes at once, whatever the grace period.
	ctx, cancel = context.WithCancel(context.Background())
	hurry := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { cancel(); time.AfterFunc(100*time.Millisecond, func() { close(hurry) }) })
	start = time.Now()
	_, err = Run(ctx, Command{Path: "bash", Args: []string{"-c", `trap "" TERM; while :; do sleep 0.05; done`}, Env: []string{"PATH=" + os.Getenv("PATH")}, Grace: time.Minute, Supervisor: s}, hurry)
	if !errors.Is(err, ErrKilled) {
		t.Fatalf("hurried: err = %v, want ErrKilled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a hurried stop took %s", d)
	}
	// A command that honours SIGTERM ends without waiting for SIGKILL.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	code, err := Run(ctx, Command{Path: "bash", Args: []string{"-c", `trap "exit 9" TERM; while :; do sleep 0.05; done`}, Env: []string{"PATH=" + os.Getenv("PATH")}, Grace: time.Minute, Supervisor: s}, nil)
	if !errors.Is(err, ErrKilled) || code != -1 {
		t.Fatalf("terminated: %d, %v; want -1, ErrKilled", code, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a command that took SIGTERM took %s to stop", d)
	}
}

// escapeScript starts processes that leave the step's process group or
// its parent in every usual way, writes their pids to $PIDS, and then
// ignores SIGTERM in a loop.
const escapeScript = `
setsid sleep 300 & echo $! >> "$PIDS"
nohup sleep 301 >/dev/null 2>&1 & echo $! >> "$PIDS"
( sleep 302 & echo $! >> "$PIDS" ) &
( setsid bash -c 'sleep 303 & echo $! >> "$PIDS"; wait' & ) &
git -C "$BIG" clean -ndx >/dev/null 2>&1 &
trap "" TERM
echo $$ >> "$PIDS"
echo ready >> "$PIDS.ready"
while :; do sleep 0.05; done
`

// supervisedHelper is the "rbflow" of TestSupervisorKillsEverything: it
// runs script under a supervisor and waits to be killed.
func supervisedHelper(script string) int {
	s := NewSupervisor()
	_, err := Run(context.Background(), Command{Path: "bash", Args: []string{"-c", script}, Env: os.Environ(), Stdout: os.Stdout, Stderr: os.Stderr, Supervisor: s}, nil)
	fmt.Fprintln(os.Stderr, "helper: command ended:", err)
	return 1
}

// TestSupervisorKillsEverything (issue 13): SIGKILL of rbflow while a step
// runs setsid, nohup, double-forked and TERM-ignoring processes ends every
// one of them within a second, checked by pid.
func TestSupervisorKillsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	big := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PROC_TEST_SUPERVISED="+escapeScript, "PIDS="+pids, "BIG="+big)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the helper (started here) ends, and its supervisor
	// with it takes the step's processes.
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(pids + ".ready"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the step did not start its processes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The double fork writes its pid late.
	for len(strings.Fields(string(mustRead(t, pids)))) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var ids []Identity
	for _, f := range strings.Fields(string(mustRead(t, pids))) {
		pid, _ := strconv.Atoi(f)
		st, err := StartTime(pid)
		if err != nil {
			t.Fatalf("process %d is not running before the kill", pid)
		}
		ids = append(ids, Identity{PID: pid, Start: st})
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	for {
		var alive []int
		for _, id := range ids {
			if id.Alive() {
				alive = append(alive, id.PID)
			}
		}
		if len(alive) == 0 {
			break
		}
		if time.Since(killed) > time.Second {
			for _, pid := range alive {
				syscall.Kill(pid, syscall.SIGKILL) // ours: started by this test
			}
			t.Fatalf("processes %v still run a second after rbflow was killed", alive)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ids) != 5 {
		t.Fatalf("want 5 pids, got %d", len(ids))
	}
	t.Logf("all gone %s after the kill", time.Since(killed).Round(time.Millisecond))
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSupervisorPrestart: Prestart starts the supervisor's process at once,
// before any command asks for it, and Close ends it, also when Close comes
// while the process is still starting.
func TestSupervisorPrestart(t *testing.T) {
	t.Parallel()
	for _, closeAtOnce := range []bool{false, true} {
		// The supervisor holds this file open (as it holds a run's
		// lock): the process that has it open is this supervisor.
		f, err := os.Create(filepath.Join(t.TempDir(), "held"))
		if err != nil {
			t.Fatal(err)
		}
		s := NewSupervisor(f)
		s.Prestart()
		if !closeAtOnce {
			deadline := time.Now().Add(10 * time.Second)
			for len(holders(t, f.Name())) == 0 {
				if time.Now().After(deadline) {
					s.Close()
					t.Fatal("no supervisor process after Prestart")
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		s.Close()
		f.Close()
		// Gone once Close returns, and none starts after it.
		for i := 0; i < 20; i++ {
			if pids := holders(t, f.Name()); len(pids) != 0 {
				t.Fatalf("closeAtOnce=%v: supervisor %v still runs after Close", closeAtOnce, pids)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// holders lists this process's children that have path open.
func holders(t *testing.T, path string) []int {
	t.Helper()
	live, _ := children(os.Getpid())
	var pids []int
	for _, pid := range live {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if target, err := os.Readlink(fd); err == nil && target == path {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// TestSupervisorHolds: a file a supervisor holds, given when it is made,
// handed over (Hold) before its process starts or once it runs, stays
// open, with its flock, for as long as the supervisor lives, and does not
// reach the commands it starts. The run's lock, held this way, leaked into
// every step, and a step's process could keep it after the run.
func TestSupervisorHolds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// free reports whether another open file of path can take the flock.
	free := func(path string) bool {
		g, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		return syscall.Flock(int(g.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	}
	// fds runs a command through s that lists its open files.
	fds := func(s *Supervisor) string {
		var out bytes.Buffer
		if code, err := Run(context.Background(), Command{Path: "bash", Args: []string{"-c", "ls -l /proc/$$/fd"},
			Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: &out, Supervisor: s}, nil); err != nil || code != 0 {
			t.Fatalf("code %d, err %v", code, err)
		}
		return out.String()
	}
	for _, way := range []string{"made with it", "handed before it starts", "handed once it runs"} {
		f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(way, " ", "-")))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		var s *Supervisor
		switch way {
		case "made with it":
			s = NewSupervisor(f)
		case "handed before it starts":
			s = NewSupervisor()
			if err := s.Hold(f); err != nil {
				t.Fatal(err)
			}
		default:
			s = NewSupervisor()
			fds(s)
			if err := s.Hold(f); err != nil {
				t.Fatal(err)
			}
		}
		if out := fds(s); strings.Contains(out, f.Name()) {
			t.Errorf("%s: a command has the held file open:\n%s", way, out)
		}
		f.Close() // the supervisor's copy keeps the lock
		if free(f.Name()) {
			t.Errorf("%s: the lock is free while the supervisor lives", way)
		}
		s.Close()
		if !free(f.Name()) {
			t.Errorf("%s: the lock is still taken once the supervisor is gone", way)
		}
	}
}

// TestSupervisorCopiesOutputWhole: a command's output reaches a writer
// that is not a file byte for byte, whether it comes as a few bytes, as
// exactly one small buffer, or as megabytes in writes of every size
// (copyPipe reads through a small buffer, then a big one).
func TestSupervisorCopiesOutputWhole(t *testing.T) {
	t.Parallel()
	s := NewSupervisor()
	defer s.Close()
	for _, size := range []int{0, 1, 32<<10 - 1, 32 << 10, 32<<10 + 1, 5<<20 + 12345} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			// Lines of uneven lengths, up to 70 kB; head cuts the stream
			// to size.
			script := `i=0; while :; do printf '%0*d\n' $(( i % 70000 + 1 )) $i; i=$((i+1)); done | head -c ` + strconv.Itoa(size)
			want, err := exec.Command("bash", "-c", script).Output()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			code, err := Run(context.Background(), Command{Path: "bash", Args: []string{"-c", script}, Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: &out, Supervisor: s}, nil)
			if err != nil || code != 0 {
				t.Fatalf("code %d, err %v", code, err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("copied %d bytes, want %d (first difference at %d)", out.Len(), len(want), firstDiff(out.Bytes(), want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// failingWriter takes n bytes, then fails.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestCopyPipeStopsAtWriteError: as io.Copy, copyPipe stops reading once
// the writer fails or takes less than it was given.
func TestCopyPipeStopsAtWriteError(t *testing.T) {
	src := strings.NewReader(strings.Repeat("x", 200<<10))
	// A pipe gives what is there: 8 kB a read here.
	copyPipe(&failingWriter{n: 40 << 10}, chunked{src, 8 << 10})
	if left := src.Len(); left != 200<<10-48<<10 {
		t.Errorf("%d bytes left unread, want %d: copyPipe must stop at the read whose write failed", left, 200<<10-48<<10)
	}
}

// chunked gives at most n bytes a read.
type chunked struct {
	r io.Reader
	n int
}

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// slowWriter takes delay over its first write: a terminal that stalls, or
// a machine too busy to run the copy for a while.
type slowWriter struct {
	delay time.Duration
	once  sync.Once
	buf   bytes.Buffer
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { time.Sleep(w.delay) })
	return w.buf.Write(p)
}

// TestSupervisorWaitsForASlowWriter: a command exits while most of its
// output is still in the pipe, because the writer it goes to stalled on
// the first bytes for longer than the 200 ms that tell an idle pipe (one
// that an escaped process holds open). What is in the pipe is still
// copied, whole: the copy is behind, not idle.
func TestSupervisorWaitsForASlowWriter(t *testing.T) {
	t.Parallel()
	s := NewSupervisor()
	defer s.Close()
	script := `head -c 300000 /dev/zero | tr '\0' x`
	w := &slowWriter{delay: 900 * time.Millisecond}
	code, err := Run(context.Background(), Command{Path: "bash", Args: []string{"-c", script}, Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: w, Supervisor: s}, nil)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if got := w.buf.String(); got != strings.Repeat("x", 300000) {
		t.Errorf("copied %d bytes, want 300000", len(got))
	}
}
