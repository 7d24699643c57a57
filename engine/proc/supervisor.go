package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// supervisorEnv marks a re-executed rbflow as a run's supervisor.
const supervisorEnv = "RBFLOW_SUPERVISOR"

// IsSupervisor reports whether this process was started as a supervisor.
func IsSupervisor() bool { return os.Getenv(supervisorEnv) != "" }

// A Supervisor starts every command of one run: rbflow, re-executed once
// per run, a child subreaper that rbflow asks over a socket pair to start
// each command in its own process group with the file descriptors it
// sends. When rbflow dies, even by SIGKILL, the socket closes and the
// supervisor kills every group it started and every process that was
// orphaned under it (setsid, nohup, double forks), at once, then exits. Its
// children get SIGKILL should the supervisor itself die (Pdeathsig).
//
// The supervisor also holds the run's lock file open (Hold), so the lock
// is free only once the supervisor, and with it every process of the run,
// is gone: a resume never overlaps a killed run's commands. The commands
// do not get it.
//
// A Supervisor starts its process on first use (or Prestart); End begins
// to end it, and Close ends it and waits until it is gone.
type Supervisor struct {
	holdMu  sync.Mutex
	hold    []*os.File // to hand over once the process starts
	spawned bool       // start has begun: Hold hands over at once

	once     sync.Once
	startErr error
	conn     *net.UnixConn
	proc     *os.Process
	exited   chan struct{}
	asked    atomic.Bool // a command was asked for

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan supReply
	broken  error
}

type supervisorKey struct{}

// WithSupervisor returns a context whose commands Run starts through s
// (unless a Command names its own).
func WithSupervisor(ctx context.Context, s *Supervisor) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, supervisorKey{}, s)
}

// SupervisorOf returns the supervisor of ctx, or nil.
func SupervisorOf(ctx context.Context) *Supervisor {
	s, _ := ctx.Value(supervisorKey{}).(*Supervisor)
	return s
}

// NewSupervisor returns a supervisor that will hold the files hold open
// (the run's lock) for as long as it lives.
func NewSupervisor(hold ...*os.File) *Supervisor {
	return &Supervisor{hold: hold, pending: map[uint64]chan supReply{}}
}

// Hold makes the supervisor keep f open for as long as it lives, from
// before the next command it starts: rbflow starts a run's supervisor
// ahead (Prestart), while it loads the procedure, and hands it the run's
// lock once it holds it. f goes over the socket; should rbflow die before
// the supervisor has read it, the message in the socket keeps f open until
// the supervisor reads it or is gone. The commands do not inherit it.
func (s *Supervisor) Hold(f *os.File) error {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if !s.spawned {
		s.hold = append(s.hold, f)
		return nil
	}
	if err := s.start(); err != nil {
		return err
	}
	return s.handOver(f)
}

// handOver sends f to the supervisor's process to keep.
func (s *Supervisor) handOver(f *os.File) error {
	b, err := supRequest{Hold: true}.encode()
	if err == nil {
		_, _, err = s.conn.WriteMsgUnix(b, syscall.UnixRights(int(f.Fd())), nil)
	}
	if err != nil {
		return fmt.Errorf("hand %s to the supervisor: %w", f.Name(), err)
	}
	return nil
}

type supRequest struct {
	ID   uint64
	Hold bool           // a hold request: keep the file it carries open
	Sig  syscall.Signal // a signal request: send Sig to command ID's group
	Path string
	Args []string
	Dir  string
	Env  []string
}

type supReply struct {
	ID     uint64
	Op     string // exit, nostart (the command could not start), error (the supervisor failed)
	Status int    // exit code, or 128+signal
	Err    string
}

// Prestart starts the supervisor's process now, in the background, so
// that it is up by the time the run's first command needs it: the process
// (rbflow starting again, a few tens of milliseconds) overlaps with
// recording the run. An error is the first command's.
func (s *Supervisor) Prestart() {
	if s != nil {
		go func() { _ = s.start() }()
	}
}

func (s *Supervisor) start() error {
	s.once.Do(func() {
		s.holdMu.Lock()
		s.spawned = true
		hold := s.hold
		s.hold = nil
		s.holdMu.Unlock()
		s.startErr = s.spawn(hold)
	})
	return s.startErr
}

func (s *Supervisor) spawn(hold []*os.File) error {
	exeOnce.Do(func() { exePath, exeErr = os.Executable() })
	if exeErr != nil {
		return fmt.Errorf("find rbflow executable for the supervisor: %w", exeErr)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("supervisor socket: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "supervisor"), os.NewFile(uintptr(fds[1]), "rbflow")
	defer theirs.Close()
	cmd := exec.Command(exePath)
	cmd.Env = append(withoutEnv(os.Environ(), supervisorEnv), supervisorEnv+"=1")
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{theirs}
	if err := cmd.Start(); err != nil {
		mine.Close()
		return fmt.Errorf("start supervisor: %w", err)
	}
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("supervisor socket: %w", err)
	}
	s.conn = c.(*net.UnixConn)
	s.proc = cmd.Process
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	for _, f := range hold {
		if err := s.handOver(f); err != nil {
			s.conn.Close()
			_ = s.proc.Kill()
			<-s.exited
			return err
		}
	}
	go s.readReplies()
	return nil
}

// readReplies hands each reply to the command it is for.
func (s *Supervisor) readReplies() {
	buf := make([]byte, 64<<10)
	for {
		n, err := s.conn.Read(buf)
		if err != nil || n == 0 {
			s.fail(fmt.Errorf("rbflow's supervisor ended: %v", err))
			return
		}
		r, err := decodeReply(buf[:n])
		if err != nil {
			continue
		}
		s.mu.Lock()
		ch := s.pending[r.ID]
		delete(s.pending, r.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
}

func (s *Supervisor) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken == nil {
		s.broken = err
	}
	for id, ch := range s.pending {
		ch <- supReply{ID: id, Op: "error", Err: err.Error()}
		delete(s.pending, id)
	}
}

// End begins to end the supervisor: it kills whatever the run left
// running and exits, while the caller goes on. The run's lock, which it
// holds, is free once it is gone.
func (s *Supervisor) End() {
	if s == nil {
		return
	}
	s.once.Do(func() { s.startErr = errors.New("supervisor closed") })
	if s.conn == nil {
		return // never started
	}
	s.conn.Close()
	if !s.asked.Load() {
		// No command was asked for (the run was refused, or its
		// procedure did not load): nothing of the run's is there to
		// end, and the process may still be starting.
		_ = s.proc.Kill()
	}
}

// Close ends the supervisor (End) and waits until it is gone: a few
// seconds at most.
func (s *Supervisor) Close() error {
	if s == nil {
		return nil
	}
	s.End()
	if s.conn != nil {
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.proc.Kill()
			<-s.exited
		}
	}
	return nil
}

// startCmd asks the supervisor to start a command with stdin, stdout and
// stderr, and returns the request's id and the channel of its one reply:
// how it exited, or why it could not start. No reply says it started:
// rbflow needs no pid, as the supervisor signals the command's group for
// it (signal), and a reply each way is all a step costs.
func (s *Supervisor) startCmd(req supRequest, files [3]*os.File) (uint64, <-chan supReply, error) {
	if err := s.start(); err != nil {
		return 0, nil, err
	}
	s.asked.Store(true)
	ch := make(chan supReply, 1)
	s.mu.Lock()
	if s.broken != nil {
		err := s.broken
		s.mu.Unlock()
		return 0, nil, err
	}
	s.nextID++
	req.ID = s.nextID
	s.pending[req.ID] = ch
	s.mu.Unlock()
	b, err := req.encode()
	if err == nil {
		rights := syscall.UnixRights(int(files[0].Fd()), int(files[1].Fd()), int(files[2].Fd()))
		if _, _, err = s.conn.WriteMsgUnix(b, rights, nil); err != nil {
			err = fmt.Errorf("ask the supervisor to start %s: %w", req.Path, err)
		}
	}
	if err != nil {
		s.mu.Lock()
		delete(s.pending, req.ID)
		s.mu.Unlock()
		return 0, nil, err
	}
	return req.ID, ch, nil
}

// signal asks the supervisor to send sig to the process group of command
// id, if it still runs. The supervisor kills what is left of a group
// itself once its command has exited.
func (s *Supervisor) signal(id uint64, sig syscall.Signal) {
	b, err := supRequest{ID: id, Sig: sig}.encode()
	if err == nil {
		_, _ = s.conn.Write(b) // a supervisor that is gone took the group with it
	}
}

// runSupervised is Run through a supervisor.
func runSupervised(ctx context.Context, s *Supervisor, c Command, hurry <-chan struct{}) (int, error) {
	grace := c.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	stdin, err := devNull()
	if err != nil {
		return -1, err
	}
	if c.Stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		defer pr.Close()
		stdin = pr
		go func() {
			_, _ = io.Copy(pw, c.Stdin)
			pw.Close()
		}()
	}
	out, outDone, err := writerFile(c.Stdout)
	if err != nil {
		return -1, err
	}
	// Stdout and stderr to the same writer (a step's log) share one pipe,
	// as os/exec does: what the command writes to either stays in the
	// order it wrote it, and one copy runs instead of two.
	errf, errDone := &outFile{w: out.w}, closedDone
	if !sameWriter(c.Stdout, c.Stderr) {
		if errf, errDone, err = writerFile(c.Stderr); err != nil {
			out.close()
			return -1, err
		}
	}
	id, exited, err := s.startCmd(supRequest{Path: c.Path, Args: c.Args, Dir: c.Dir, Env: lastWins(c.Env)}, [3]*os.File{stdin, out.w, errf.w})
	// The supervisor's copies are the child's now; rbflow keeps the read ends.
	if c.Stdin != nil {
		stdin.Close()
	}
	out.closeWrite()
	errf.closeWrite()
	if err != nil {
		out.close()
		errf.close()
		return -1, err
	}
	r, stopped := awaitGroup(ctx, exited, func(sig syscall.Signal) { s.signal(id, sig) }, grace, hurry)
	// A background process that escaped the group may still hold the
	// output open: the step is over when its command is.
	out.wait(outDone)
	errf.wait(errDone)
	if stopped {
		return -1, fmt.Errorf("%w: %w", ErrKilled, context.Cause(ctx))
	}
	switch r.Op {
	case "nostart":
		return -1, fmt.Errorf("start %s: %s", c.Path, r.Err)
	case "error":
		return -1, errors.New(r.Err)
	}
	return r.Status, nil
}

// devNull is /dev/null opened for reading, once: the standard input of
// every command without one (the supervisor passes the child a copy).
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// closedDone is the done channel of an outFile that has no copy.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// sameWriter reports whether a and b are the same writer, as os/exec
// decides it: equal interface values of a comparable type.
func sameWriter(a, b io.Writer) bool {
	if a == nil || b == nil {
		return false
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// outFile is an *os.File a child writes to: the writer itself when it is
// a file, else a pipe whose read end is copied to the writer.
type outFile struct {
	w, r   *os.File
	own    bool
	copied *atomic.Int64 // bytes copied from r so far
}

// counted counts what goes through it into n.
type counted struct {
	w io.Writer
	n *atomic.Int64
}

func (c counted) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func writerFile(w io.Writer) (*outFile, chan struct{}, error) {
	done := make(chan struct{})
	if w == nil {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		close(done)
		return &outFile{w: f, own: true}, done, err
	}
	if f, ok := w.(*os.File); ok {
		close(done)
		return &outFile{w: f}, done, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// A bigger pipe: fewer reads and context switches for a step that
	// prints a lot (best effort; the default is 64 KB).
	if c, err := pr.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
	}
	copied := new(atomic.Int64)
	go func() {
		defer close(done)
		copyPipe(counted{w, copied}, pr)
	}()
	return &outFile{w: pw, r: pr, own: true, copied: copied}, done, nil
}

// copyPipe copies r to w until r ends or w fails, as io.Copy does. It reads
// through a small buffer and moves to a megabyte once a read fills it: a
// run starts two pipes for every git command, most of which print a line
// or nothing, and a fresh megabyte (zeroed, its pages faulted in) cost
// more than most of those commands; a step that prints a lot is read a
// megabyte at a time. Both sizes are pooled.
func copyPipe(w io.Writer, r io.Reader) {
	small := smallBuffers.Get().(*[]byte)
	defer smallBuffers.Put(small)
	buf := *small
	var big *[]byte
	defer func() {
		if big != nil {
			bigBuffers.Put(big)
		}
	}()
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if m, werr := w.Write(buf[:n]); werr != nil || m != n {
				return
			}
		}
		if err != nil {
			return
		}
		if n == len(buf) && big == nil {
			big = bigBuffers.Get().(*[]byte)
			buf = *big
		}
	}
}

var (
	smallBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	bigBuffers   = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
)

func (o *outFile) closeWrite() {
	if o.own && o.w != nil {
		o.w.Close()
		o.w = nil
	}
}

func (o *outFile) close() {
	o.closeWrite()
	if o.r != nil {
		o.r.Close()
	}
}

// wait waits, once the command has exited, for the copy of what it wrote
// to end: at the end of the pipe, or when a process that escaped the
// command still holds it open and the pipe stayed empty, nothing copied,
// for 200 ms (or after drainMax in all). Output still in the pipe is
// copied however slow the writer is (a stalled terminal, a machine too
// busy to run the copy): the copy is behind then, not idle, and a log is
// never cut because its reader fell behind.
func (o *outFile) wait(done chan struct{}) {
	if o.copied == nil { // a file, or nothing: no copy
		<-done
		return
	}
	last, began := int64(-1), time.Now()
	for idle := false; !idle; {
		select {
		case <-done:
			idle = true
		case <-time.After(200 * time.Millisecond):
			n := o.copied.Load()
			idle = n == last && o.unread() == 0 || time.Since(began) > drainMax
			last = n
		}
	}
	if o.r != nil {
		o.r.Close() // ends the copy if an escaped process still writes
	}
	<-done
}

// unread is how many bytes wait in the pipe for the copy (FIONREAD); -1
// if that cannot be told, which counts as some.
func (o *outFile) unread() int {
	n := -1
	if c, err := o.r.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) {
			// TIOCINQ is FIONREAD's number on Linux; pipes answer it.
			if v, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil {
				n = v
			}
		})
	}
	return n
}

// drainMax bounds how long wait copies from a pipe an escaped process keeps
// writing to.
const drainMax = 10 * time.Second

// SupervisorMain is the supervisor process (see Supervisor). main must
// start with: if proc.IsSupervisor() { os.Exit(proc.SupervisorMain()) }.
func SupervisorMain() int {
	// Ctrl-C reaches rbflow's whole process group; rbflow decides.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for range sigs {
		}
	}()
	if !isSocket(3) {
		fmt.Fprintf(os.Stderr, "rbflow: %s is set but this process was not started by rbflow as a supervisor; unset it\n", supervisorEnv)
		return 2
	}
	// Orphans of the commands become this process's children, not init's.
	if err := setChildSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "rbflow supervisor: %v\n", err)
	}
	f := os.NewFile(3, "rbflow")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rbflow supervisor: %v\n", err)
		return 2
	}
	conn := c.(*net.UnixConn)
	sv := &supervisorState{conn: conn, cmds: map[int]uint64{}}
	// Children are reaped when SIGCHLD says one ended, not by a wait4
	// blocked in the kernel for the whole life of every command: a
	// goroutine blocked in a system call holds one of the runtime's
	// processors until sysmon takes it back, which keeps sysmon polling.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	go sv.reap(chld)
	buf := make([]byte, 256<<10)
	oob := make([]byte, syscall.CmsgSpace(3*4))
	for {
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			break // rbflow is gone, or done with the run
		}
		files, ferr := parseRights(oob[:oobn])
		req, err := decodeRequest(buf[:n])
		if err == nil && req.Hold {
			// Kept open until this process exits (the run's lock).
			// ReadMsgUnix receives descriptors close-on-exec
			// (MSG_CMSG_CLOEXEC): no command inherits it.
			continue
		}
		if err == nil && req.Sig != 0 {
			for _, fd := range files {
				syscall.Close(fd)
			}
			sv.signal(req)
			continue
		}
		if err == nil && flags&syscall.MSG_TRUNC != 0 {
			err = fmt.Errorf("the command and its environment are over %d KB", len(buf)>>10)
		}
		if err != nil || ferr != nil || len(files) != 3 {
			for _, fd := range files {
				syscall.Close(fd)
			}
			sv.send(supReply{ID: req.ID, Op: "nostart", Err: fmt.Sprintf("bad request (%v %v)", err, ferr)})
			continue
		}
		sv.startOne(req, files)
	}
	sv.killAll()
	return 0
}

type supervisorState struct {
	conn  *net.UnixConn
	mu    sync.Mutex
	cmds  map[int]uint64 // the commands that run: pid (and process group) → request
	sendM sync.Mutex
}

func (sv *supervisorState) send(r supReply) {
	b := r.encode()
	sv.sendM.Lock()
	_, _ = sv.conn.Write(b)
	sv.sendM.Unlock()
}

func (sv *supervisorState) startOne(req supRequest, files []int) {
	defer func() {
		for _, fd := range files {
			syscall.Close(fd)
		}
	}()
	path, err := LookPath(req.Path, req.Env, req.Dir)
	if err != nil {
		sv.send(supReply{ID: req.ID, Op: "nostart", Err: err.Error()})
		return
	}
	attr := &syscall.ProcAttr{
		Dir:   req.Dir,
		Env:   req.Env,
		Files: []uintptr{uintptr(files[0]), uintptr(files[1]), uintptr(files[2])},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	// Under the lock, so that the reaper, which may reap the command
	// before ForkExec returns, finds whom to tell.
	sv.mu.Lock()
	pid, err := syscall.ForkExec(path, append([]string{req.Path}, req.Args...), attr)
	if err != nil {
		sv.mu.Unlock()
		sv.send(supReply{ID: req.ID, Op: "nostart", Err: fmt.Sprintf("%s: %v", req.Path, err)})
		return
	}
	sv.cmds[pid] = req.ID
	sv.mu.Unlock()
}

// signal sends a signal to the group of a command that runs. Requests
// come in order: a command's start is handled before any signal for it.
func (sv *supervisorState) signal(req supRequest) {
	sv.mu.Lock()
	for pid, id := range sv.cmds { // a handful at most: the steps side by side
		if id == req.ID {
			_ = syscall.Kill(-pid, req.Sig)
		}
	}
	sv.mu.Unlock()
}

// reap waits for every child: the commands, whose status goes to rbflow,
// and the orphans that became children of this subreaper. Each SIGCHLD
// (several ended children may share one) reaps every child that has
// ended by then.
func (sv *supervisorState) reap(chld <-chan os.Signal) {
	for range chld {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || pid <= 0 { // ECHILD, or none ended yet
				break
			}
			status := ws.ExitStatus()
			if ws.Signaled() {
				status = 128 + int(ws.Signal())
			}
			sv.mu.Lock()
			id, ok := sv.cmds[pid]
			if ok { // else an orphan, reaped
				// What the command left running in its group ends with
				// it, before rbflow hears that it exited.
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				delete(sv.cmds, pid)
				sv.send(supReply{ID: id, Op: "exit", Status: status})
			}
			sv.mu.Unlock()
		}
	}
}

// killAll ends every group it started and every process left under it.
func (sv *supervisorState) killAll() {
	sv.mu.Lock()
	for pgid := range sv.cmds {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	sv.mu.Unlock()
	// Until every child is reaped, zombies included: a killed process
	// that is not yet reaped still answers kill -0, and a resumed step
	// that checks a pid file must find it gone (the lock this process
	// holds is released when it exits).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		kids, zombies := children(os.Getpid())
		if len(kids) == 0 && len(zombies) == 0 {
			return
		}
		for _, pid := range kids {
			if pg, err := Pgid(pid); err == nil && pg == pid {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range zombies {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil) // the reaper may be first
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// children lists the live children of pid, and apart the zombies among
// them.
func children(pid int) (live, zombies []int) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				if st, err := statFields(c); err == nil && st[0] != "Z" {
					live = append(live, c)
				} else if err == nil {
					zombies = append(zombies, c)
				}
			}
		}
	}
	return live, zombies
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		f, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return fds, err
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

func isSocket(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFSOCK
}

// setChildSubreaper makes orphaned descendants children of this process.
func setChildSubreaper() error {
	const prSetChildSubreaper = 36
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %v", e)
	}
	return nil
}

// LookPath finds file as exec.LookPath (and bash) would, in the PATH of
// env, relative to dir.
func LookPath(file string, env []string, dir string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s: not an executable file", file)
		}
		return file, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", file)
}
