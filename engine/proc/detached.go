package proc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rbflow/rbflow/engine/secret"
)

// relayEnv marks a re-executed rbflow as a detached command's launcher
// (relayLaunch) or as its log relay (relayMask).
const relayEnv = "RBFLOW_LOG_RELAY"

const (
	relayLaunch = "launch"
	relayMask   = "relay"
)

// relayPause is how long a partial line waits for its end before the relay
// writes it (but for what may begin a secret).
const relayPause = 200 * time.Millisecond

// Detached is a command that outlives rbflow: a service.
type Detached struct {
	Path string // found in PATH as exec.Command finds it
	Args []string
	Dir  string
	Env  []string
	// Log takes the command's output, both streams.
	Log *os.File
	// Secrets are values Log must never hold. When there are any, the
	// output passes through a relay that writes each of them as ***.
	Secrets []string
}

// IsRelay reports whether this process was started as a detached
// command's launcher or log relay: main (and TestMain of packages that
// start services) must then run RelayMain and exit, as for IsReaper.
func IsRelay() bool { return os.Getenv(relayEnv) != "" }

// StartDetached starts d in a session of its own (so its own process
// group, no controlling terminal and no signal from rbflow's terminal),
// with /dev/null as its input and not under a reaper: it outlives rbflow,
// killed or not. The caller waits for the returned command.
//
// Without secrets its output goes straight to d.Log. With secrets the
// process begins as a launcher, rbflow re-executed, that starts the log
// relay in its own group and session, hands it the secrets through a pipe
// on the relay's standard input, points its own output at the relay and
// then becomes d's program (execve: same pid and start time). So the
// command's pid, start time and process group are d's own, and the relay,
// a member of that group, ends with it: when the last writer of its input
// is gone, or by the signals that stop the group.
func StartDetached(d Detached) (*exec.Cmd, error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	sysAttr := &syscall.SysProcAttr{Setsid: true}
	if len(d.Secrets) == 0 {
		cmd := exec.Command(d.Path, d.Args...)
		cmd.Dir, cmd.Env = d.Dir, withoutEnv(d.Env, relayEnv)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = null, d.Log, d.Log
		cmd.SysProcAttr = sysAttr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return cmd, nil
	}
	exeOnce.Do(func() { exePath, exeErr = os.Executable() })
	if exeErr != nil {
		return nil, fmt.Errorf("find rbflow executable for the log relay: %w", exeErr)
	}
	path, err := exec.LookPath(d.Path)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := exec.Command(exePath, append([]string{path, d.Path}, d.Args...)...)
	cmd.Dir = d.Dir
	cmd.Env = append(withoutEnv(d.Env, relayEnv), relayEnv+"="+relayLaunch)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, d.Log, d.Log
	cmd.SysProcAttr = sysAttr
	err = cmd.Start()
	r.Close()
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(encodeSecrets(d.Secrets)); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, fmt.Errorf("hand the secrets to the log relay: %w", err)
	}
	return cmd, nil
}

// encodeSecrets writes each secret as its length in decimal, a newline
// and its bytes.
func encodeSecrets(secrets []string) []byte {
	var b []byte
	for _, s := range secrets {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, '\n')
		b = append(b, s...)
	}
	return b
}

// decodeSecrets reads what encodeSecrets wrote, to its end.
func decodeSecrets(r io.Reader) ([]string, error) {
	br := bufio.NewReader(r)
	var out []string
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(line[:len(line)-1])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad secret length %q", line)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
}

// RelayMain is the launcher or the log relay of a detached command (see
// StartDetached). The launcher returns only when it cannot become the
// command; the relay returns when its input ends. It returns the exit
// status.
func RelayMain() int {
	switch os.Getenv(relayEnv) {
	case relayLaunch:
		return launchMain()
	case relayMask:
		return relayMain()
	}
	fmt.Fprintf(os.Stderr, "rbflow: %s=%q: not a role rbflow knows; unset it\n", relayEnv, os.Getenv(relayEnv))
	return 2
}

// launchMain starts the relay, makes the relay's pipe its output and
// /dev/null its input, and executes the command: os.Args are the path of
// the program and its argv.
func launchMain() int {
	// Only StartDetached starts a launcher: as a session leader, with the
	// secrets on a pipe. Anything else (the variable set by hand) must not
	// go on.
	if syscall.Getpgrp() != os.Getpid() || !isPipe(0) || len(os.Args) < 3 {
		fmt.Fprintf(os.Stderr, "rbflow: %s is set but this process was not started by rbflow as a service's launcher; unset it\n", relayEnv)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "rbflow: start %s: %v\n", os.Args[2], err)
		return 127
	}
	secrets, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fail(fmt.Errorf("read the secrets: %w", err))
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	relay := exec.Command(exe)
	relay.Env = append(withoutEnv(os.Environ(), relayEnv), relayEnv+"="+relayMask)
	relay.Stdout, relay.Stderr = os.Stdout, os.Stdout
	relay.ExtraFiles = []*os.File{r}
	in, err := relay.StdinPipe()
	if err != nil {
		return fail(err)
	}
	if err := relay.Start(); err != nil {
		return fail(fmt.Errorf("start the log relay: %w", err))
	}
	r.Close()
	_, err = in.Write(secrets)
	in.Close()
	if err != nil {
		_ = relay.Process.Kill()
		return fail(fmt.Errorf("hand the secrets to the log relay: %w", err))
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fail(err)
	}
	// From here on the launcher's own messages go through the relay too.
	for fd, f := range []*os.File{null, w, w} {
		if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
			return fail(err)
		}
	}
	// os.Pipe and os.Open set close-on-exec: only fds 0, 1 and 2 go on.
	err = syscall.Exec(os.Args[1], os.Args[2:], withoutEnv(os.Environ(), relayEnv))
	return fail(err)
}

// relayMain copies the command's output (fd 3) to its log (stdout) with
// every secret (read from stdin) written as ***, line by line; a partial
// line waits for its end up to relayPause. It returns when every writer
// of fd 3 is gone: the command and whatever it left holding its output.
func relayMain() int {
	// The signals that stop the service's group are for the service; the
	// relay writes what it prints until its output ends. SIGKILL, which
	// follows if the group outlives its grace period, ends the relay too.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for range sigs {
		}
	}()
	if !isPipe(0) || !isPipe(3) {
		fmt.Fprintf(os.Stderr, "rbflow: %s is set but this process was not started by rbflow as a log relay; unset it\n", relayEnv)
		return 2
	}
	secrets, err := decodeSecrets(os.Stdin)
	if err != nil {
		// Without the secrets nothing may pass: the output is dropped.
		fmt.Fprintf(os.Stderr, "rbflow log relay: read the secrets: %v; the service's output is not logged\n", err)
		_, _ = io.Copy(io.Discard, os.NewFile(3, "service output"))
		return 1
	}
	w := secret.NewSet(secrets).NewWriter(os.Stdout)
	chunks := make(chan []byte)
	go func() {
		in := os.NewFile(3, "service output")
		for {
			b := make([]byte, 32<<10)
			n, err := in.Read(b)
			if n > 0 {
				chunks <- b[:n]
			}
			if err != nil {
				close(chunks)
				return
			}
		}
	}()
	pause := time.NewTimer(relayPause)
	pause.Stop()
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				_ = w.Close()
				return 0
			}
			_, _ = w.Write(b)
			pause.Reset(relayPause)
		case <-pause.C:
			_ = w.Flush()
		}
	}
}
