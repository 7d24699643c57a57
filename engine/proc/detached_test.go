package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitUntil polls cond for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// startDetached starts bash -c script detached, its output in a log file,
// and ends its group (and the relay, by pid) when the test is over.
func startDetached(t *testing.T, script string, secrets []string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "service.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd, err := StartDetached(Detached{
		Path: "bash", Args: []string{"--noprofile", "--norc", "-c", script},
		// A relay built with -race would sleep a second before it exits.
		Dir: t.TempDir(), Env: append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...), Log: log, Secrets: secrets,
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		for _, m := range Group(pid, 0) {
			_ = syscall.Kill(m.PID, syscall.SIGKILL)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	})
	return cmd, logPath
}

// The relay of a detached command with secrets writes each of them as ***,
// also when the command writes one in two pieces with a pause between them
// and when its last line has no end; it lives in the command's group, the
// command keeps its pid and group, and a signal to the group ends both.
func TestStartDetachedMasksSecrets(t *testing.T) {
	const secret = "Zq9-hunter2-s3cret"
	script := `printf 'whole=%s\n' "$S"; printf 'split=%s' "${S:0:4}"; sleep 0.5; printf '%s end\n' "${S:4}"; printf 'tail=%s' "$S"; exec sleep 30`
	cmd, logPath := startDetached(t, script, []string{secret, "unused"}, "S="+secret)
	pid := cmd.Process.Pid
	start, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	log := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	if !waitUntil(10*time.Second, func() bool { return strings.Contains(log(), "tail=") }) {
		t.Fatalf("the partial last line was not written after a pause; log %q", log())
	}
	for _, want := range []string{"whole=***\n", "split=*** end\n", "tail=***"} {
		if !strings.Contains(log(), want) {
			t.Errorf("log %q does not hold %q", log(), want)
		}
	}
	if strings.Contains(log(), secret[:4]) {
		t.Errorf("log %q holds (part of) the secret", log())
	}
	if pgid, _ := Pgid(pid); pgid != pid {
		t.Errorf("pgid of the command = %d, want its own group %d", pgid, pid)
	}
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); filepath.Base(exe) != "sleep" {
		t.Errorf("the command's pid %d runs %s, want sleep: it is not the command's own process", pid, exe)
	}
	var relay Identity
	for _, m := range Group(pid, 0) {
		if m.PID != pid && HasEnv(m.PID, relayEnv+"="+relayMask) {
			relay = m
		}
	}
	if relay.PID == 0 {
		t.Fatalf("no relay in the command's group: %v", Group(pid, 0))
	}
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(5*time.Second, func() bool { return !relay.Alive() && !(Identity{PID: pid, Start: start}).Alive() }) {
		t.Fatalf("relay %d still runs after its command's group was stopped", relay.PID)
	}
	if strings.Contains(log(), secret) {
		t.Errorf("log %q holds the secret", log())
	}
}

// Without secrets there is no relay: the command writes its log itself.
func TestStartDetachedWithoutSecrets(t *testing.T) {
	cmd, logPath := startDetached(t, `echo plain; exec sleep 30`, nil)
	pid := cmd.Process.Pid
	if !waitUntil(5*time.Second, func() bool { b, _ := os.ReadFile(logPath); return string(b) == "plain\n" }) {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("log = %q, want the command's output", b)
	}
	if g := Group(pid, 0); len(g) != 1 || g[0].PID != pid {
		t.Errorf("group of the command = %v, want the command alone", g)
	}
}

// The launcher variable set by hand (no new session, no pipe) does not
// start anything.
func TestLauncherRefusesOutsideRbflow(t *testing.T) {
	cmd := exec.Command(os.Args[0], "/bin/true", "true")
	cmd.Env = append(os.Environ(), relayEnv+"="+relayLaunch)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "not started by rbflow") {
		t.Fatalf("launcher outside rbflow: %v %s, want exit 2 and a refusal", err, out)
	}
}
