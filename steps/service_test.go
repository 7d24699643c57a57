package steps

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/testkit"
)

// startTwin starts the test server as an unrelated process — the same
// command line as the service the test starts — and ends it by its pid
// when the test is over.
func startTwin(t *testing.T, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"="+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	testkit.WaitFor(t, 10*time.Second, "the twin server to answer", func() bool { return healthy(addr) })
	return cmd
}

func healthy(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200 && strings.TrimSpace(string(b)) == "healthy"
}

func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("cmdline of %d: %v", pid, err)
	}
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// A real HTTP server is started as a service, probed, and stopped by a
// later run of another procedure, by name; an unrelated process with the
// same command line lives on.
func TestServiceStopSparesTwin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr, twinAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	twin := startTwin(t, twinAddr)

	_, recs, err := h.run("up", fmt.Sprintf(`version: 1
name: up
steps:
  - id: web
    service: start
    with:
      name: web
      command: %q
      env: {%s: %q}
      ready: {http: "http://%s/health", timeout: 20s, interval: 50ms, body: healthy}
  - id: check
    wait: http
    with: {url: "${{ steps.web.outputs.url }}", expect_status: "200", body: "^healthy", timeout: 5s}
  - id: look
    service: status
    with: {name: web}
`, os.Args[0], serveEnv, addr, addr))
	mustSucceed(t, recs, err)
	pid := intOutput(t, recs["web"], "pid")
	t.Cleanup(func() {
		// Only if the test failed before the service was stopped.
		if testkit.Alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	if got, want := recs["web"].Outputs["url"], "http://"+addr+"/health"; got != want {
		t.Errorf("web url = %v, want %v", got, want)
	}
	if recs["web"].Outputs["ready"] != true || recs["web"].Outputs["started"] != true {
		t.Errorf("web outputs = %v, want started and ready", recs["web"].Outputs)
	}
	if recs["check"].Outputs["status"] != 200 {
		t.Errorf("check status = %#v, want 200", recs["check"].Outputs["status"])
	}
	if recs["look"].Outputs["running"] != true || intOutput(t, recs["look"], "pid") != pid {
		t.Errorf("status outputs = %v, want running with pid %d", recs["look"].Outputs, pid)
	}
	if a, b := cmdline(t, pid), cmdline(t, twin.Process.Pid); a != b {
		t.Fatalf("the twin's command line %q differs from the service's %q: the test proves nothing", b, a)
	}
	if pgid, _ := proc.Pgid(pid); pgid != pid {
		t.Errorf("service pgid = %d, want its own group %d", pgid, pid)
	}
	svc, err := h.st.Service(context.Background(), h.repo, "web")
	if err != nil {
		t.Fatal(err)
	}
	if svc.PID != pid || svc.PIDStart == 0 || svc.BootID != proc.BootID() || !svc.StoppedAt.IsZero() {
		t.Errorf("recorded service = %+v, want pid %d with start time and boot id", svc, pid)
	}
	if b, _ := os.ReadFile(svc.LogPath); !strings.Contains(string(b), "serving on "+addr) {
		t.Errorf("service log %s = %q, want the server's output", svc.LogPath, b)
	}

	_, recs, err = h.run("down", `version: 1
name: down
steps:
  - id: stop
    service: stop
    with: {name: web, grace: 5s}
  - id: look
    service: status
    with: {name: web}
`)
	mustSucceed(t, recs, err)
	if recs["stop"].Outputs["stopped"] != true || intOutput(t, recs["stop"], "pid") != pid {
		t.Errorf("stop outputs = %v, want stopped pid %d", recs["stop"].Outputs, pid)
	}
	if recs["look"].Outputs["running"] != false {
		t.Errorf("status after stop = %v, want not running", recs["look"].Outputs)
	}
	testkit.WaitFor(t, 5*time.Second, "the service to be gone", func() bool { return !testkit.Alive(pid) })
	if g := proc.Group(pid, 0); len(g) != 0 {
		t.Errorf("processes left in the service's group: %v", g)
	}
	if healthy(addr) {
		t.Errorf("the service still answers on %s", addr)
	}
	if !testkit.Alive(twin.Process.Pid) || !healthy(twinAddr) {
		t.Fatalf("the unrelated process with the same command line (pid %d) was stopped too", twin.Process.Pid)
	}
	if svc, _ := h.st.Service(context.Background(), h.repo, "web"); svc.StoppedAt.IsZero() {
		t.Errorf("service record not marked stopped: %+v", svc)
	}

	// Stopping again finds nothing to stop and succeeds.
	_, recs, err = h.run("down", `version: 1
name: down
steps:
  - id: stop
    service: stop
    with: {name: web}
`)
	mustSucceed(t, recs, err)
	if recs["stop"].Outputs["stopped"] != false {
		t.Errorf("second stop outputs = %v, want nothing stopped", recs["stop"].Outputs)
	}
}

// A service whose readiness never comes fails the step after its timeout
// with the last probe in the error, and nothing of it is left running.
func TestServiceNeverReady(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	addr := testkit.FreeAddr(t)
	start := time.Now()
	_, recs, err := h.run("up", fmt.Sprintf(`version: 1
name: up
steps:
  - id: web
    service: start
    with:
      name: web
      command: "sleep 60 & sleep 60 & echo started; wait"
      ready: {tcp: %q, timeout: 700ms, interval: 100ms}
      grace: 2s
`, addr))
	if err == nil {
		t.Fatal("the run succeeded; want the service step to fail")
	}
	rec := recs["web"]
	if rec.Status != engine.StepFailed {
		t.Fatalf("web = %s, want failed", rec.Status)
	}
	for _, want := range []string{"not ready after 700ms", "last probe: dial tcp " + addr, "connection refused", "stopped it"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("step error %q does not contain %q", rec.Error, want)
		}
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Errorf("failed after %s, before the 700ms timeout", d)
	}
	pid := intOutput(t, rec, "pid")
	if pid <= 0 {
		t.Fatalf("pid output = %d", pid)
	}
	if testkit.Alive(pid) {
		t.Errorf("service leader %d still runs", pid)
	}
	if g := proc.Group(pid, 0); len(g) != 0 {
		t.Errorf("processes left in the service's group %d: %v", pid, g)
	}
	svc, err := h.st.Service(context.Background(), h.repo, "web")
	if err != nil {
		t.Fatal(err)
	}
	if svc.StoppedAt.IsZero() {
		t.Errorf("service record not marked stopped: %+v", svc)
	}
	if b, _ := os.ReadFile(svc.LogPath); !strings.Contains(string(b), "started") {
		t.Errorf("service log = %q, want the command's output", b)
	}
}

// A service that exits before it is ready fails at once with its exit status.
func TestServiceExitsBeforeReady(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	start := time.Now()
	_, recs, err := h.run("up", fmt.Sprintf(`version: 1
name: up
steps:
  - id: web
    service: start
    with:
      name: web
      command: "echo cannot bind >&2; exit 3"
      ready: {tcp: %q, timeout: 30s, interval: 50ms}
`, testkit.FreeAddr(t)))
	if err == nil {
		t.Fatal("the run succeeded")
	}
	if e := recs["web"].Error; !strings.Contains(e, "exited with exit status 3 before it was ready") {
		t.Errorf("error = %q", e)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s: an exited service should fail at once, not at the timeout", d)
	}
}

// start of a service that runs already with the same command does not
// start it twice; with another command it is an error; restart replaces it.
func TestServiceStartAdoptsRestartReplaces(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	procText := func(cmd string, op string) string {
		return fmt.Sprintf(`version: 1
name: p
steps:
  - id: s
    service: %s
    with: {name: sleeper, command: %q, grace: 1s}
`, op, cmd)
	}
	_, recs, err := h.run("p", procText("sleep 60", "start"))
	mustSucceed(t, recs, err)
	first := intOutput(t, recs["s"], "pid")
	t.Cleanup(func() {
		if testkit.Alive(first) {
			_ = syscall.Kill(-first, syscall.SIGKILL)
		}
	})

	_, recs, err = h.run("p", procText("sleep 60", "start"))
	mustSucceed(t, recs, err)
	if got := intOutput(t, recs["s"], "pid"); got != first || recs["s"].Outputs["started"] != false {
		t.Errorf("second start: outputs %v, want the running pid %d, not started", recs["s"].Outputs, first)
	}

	_, recs, err = h.run("p", procText("sleep 61", "start"))
	if err == nil || !strings.Contains(recs["s"].Error, "already running with another command") {
		t.Errorf("start with another command: err %v, step error %q", err, recs["s"].Error)
	}

	_, recs, err = h.run("p", procText("sleep 61", "restart"))
	mustSucceed(t, recs, err)
	second := intOutput(t, recs["s"], "pid")
	t.Cleanup(func() {
		if testkit.Alive(second) {
			_ = syscall.Kill(-second, syscall.SIGKILL)
		}
	})
	if second == first || testkit.Alive(first) {
		t.Errorf("restart: new pid %d, old pid %d alive %v; want a new process and the old one gone", second, first, testkit.Alive(first))
	}
	_, recs, err = h.run("p", `version: 1
name: p
steps:
  - id: s
    service: stop
    with: {name: sleeper, grace: 1s}
`)
	mustSucceed(t, recs, err)
	testkit.WaitFor(t, 5*time.Second, "the restarted service to stop", func() bool { return !testkit.Alive(second) })
}

// Without a record, a pidfile is not enough to stop a process (issue 12):
// its time proves nothing (undo restored an old pidfile with a fresh time,
// and rbflow killed an unrelated process that had the pid since), so a
// process rbflow cannot identify is left alone, the step fails saying why,
// and status reports it without claiming it. A pidfile naming nothing
// that runs means the service is not running.
func TestServiceStopByPidfile(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stop := `version: 1
name: down
steps:
  - id: stop
    service: stop
    with: {name: legacy, pidfile: legacy.pid, grace: 1s}
`
	pidfile := filepath.Join(h.repo, "legacy.pid")
	unrelated := exec.Command("sleep", "60")
	unrelated.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := unrelated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unrelated.Process.Kill()
		_ = unrelated.Wait()
	})
	// Written after the process started, with a fresh time: what the old
	// rule trusted.
	if err := os.WriteFile(pidfile, []byte(fmt.Sprintf("%d\n", unrelated.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, recs, err := h.run("down", stop)
	if err == nil || !strings.Contains(recs["stop"].Error, "not a process rbflow started") || !strings.Contains(recs["stop"].Error, "stop: command") {
		t.Errorf("stop by the pidfile of an unidentified process: err %v, step error %q; want a refusal", err, recs["stop"].Error)
	}
	time.Sleep(200 * time.Millisecond)
	if !testkit.Alive(unrelated.Process.Pid) {
		t.Fatal("the process named by the pidfile was signalled")
	}
	if _, err := os.Stat(pidfile); err != nil {
		t.Errorf("the refused stop removed the pidfile: %v", err)
	}
	_, recs, err = h.run("st", `version: 1
name: st
steps:
  - id: status
    service: status
    with: {name: legacy, pidfile: legacy.pid}
`)
	mustSucceed(t, recs, err)
	if log, _ := os.ReadFile(recs["status"].LogPath); !strings.Contains(string(log), "rbflow did not start it") {
		t.Errorf("status does not say rbflow did not start pid %d:\n%s", unrelated.Process.Pid, log)
	}

	// The process is gone: nothing runs, nothing to stop.
	_ = unrelated.Process.Kill()
	_ = unrelated.Wait()
	_, recs, err = h.run("down", stop)
	mustSucceed(t, recs, err)
}

// A stop command is used for services managed elsewhere.
func TestServiceStopCommand(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	marker := filepath.Join(h.repo, "stopped")
	_, recs, err := h.run("down", fmt.Sprintf(`version: 1
name: down
steps:
  - id: stop
    service: stop
    with: {name: db, stop: "touch %s"}
`, marker))
	mustSucceed(t, recs, err)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("stop command did not run: %v", err)
	}
	if recs["stop"].Outputs["stopped"] != true {
		t.Errorf("outputs = %v", recs["stop"].Outputs)
	}
}

func TestServiceLoadErrors(t *testing.T) {
	t.Parallel()
	reg := engine.NewRegistry()
	Register(reg)
	tests := []struct{ step, want string }{
		{"service: begin\n    with: {name: a}", `unknown service action "begin"; use one of start, stop, restart, status`},
		{"service: start\n    with: {name: a}", "service: start needs with.command"},
		{"service: stop\n    with: {name: a, command: x}", "with.command is for service: start and restart"},
		{"service: start\n    with: {name: 'a b', command: x}", "a service name is letters"},
		{"service: start\n    with: {name: a, command: x, ready: {http: u, tcp: v}}", "exactly one of http, tcp or command"},
		{"service: start\n    with: {name: a, command: x, ready: {htp: u}}", `unknown key "htp" in with.ready (did you mean "http"?)`},
		{"service: start\n    with: {name: a, command: x, ready: {tcp: u, timeout: soon}}", `bad duration "soon"`},
		{"service: start\n    with: {name: a, command: x, ready: {tcp: u, status: 200}}", "status and body are for http readiness only"},
		{"service: start\n    with: {name: a, command: x, ready: {http: u, status: 700}}", "bad HTTP status"},
		{"service: start\n    with: {command: x}", "needs with.name"},
		{"wait: htp\n    with: {url: x}", `(did you mean "http"?)`},
		{"wait: http\n    with: {address: x}", "wait: http needs with.url"},
		{"wait: tcp\n    with: {address: x, url: y}", "with.url is for wait: http"},
		{"wait: tcp\n    with: {address: x, body: y}", "with.body is for wait: http, not tcp"},
		{"wait: http\n    with: {url: x, body: '('}", "with.body: error parsing regexp"},
		{"record: rollback\n    with: {severity: high}", "record: rollback needs with.cause"},
		{"record: rollback\n    with: {cause: x, severity: huge}", `"huge" is not one of critical, high, medium, low`},
		{"call: x.yaml\n    with: {params: [a]}", "with.params must be a map"},
	}
	for _, tt := range tests {
		text := "version: 1\nname: p\nsteps:\n  - id: s\n    " + tt.step + "\n"
		_, err := engine.Load("p.yaml", []byte(text), reg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", tt.step, err, tt.want)
		}
	}
}

// Values interpolated into service and wait commands are quoted as in run:
// scripts: a hostile param cannot change the command.
func TestCommandValuesInert(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, recs, err := h.run("p", `version: 1
name: p
params:
  msg: {type: string, default: "hi; touch pwned-$(echo x)"}
steps:
  - id: svc
    service: start
    with:
      name: echoer
      command: echo ${{ params.msg }} > svc.txt; sleep 60
      ready: {command: "echo ${{ params.msg }} > ready.txt; test -s svc.txt", timeout: 10s, interval: 20ms}
      grace: 1s
  - id: w
    wait: command
    with: {command: "echo ${{ params.msg }} > wait.txt", timeout: 5s}
  - id: stop
    service: stop
    with: {name: echoer, grace: 1s}
`)
	mustSucceed(t, recs, err)
	for _, f := range []string{"svc.txt", "ready.txt", "wait.txt"} {
		b, err := os.ReadFile(filepath.Join(h.repo, f))
		if err != nil || string(b) != "hi; touch pwned-$(echo x)\n" {
			t.Errorf("%s = %q, %v; want the value as one word", f, b, err)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(h.repo, "pwned*")); len(matches) > 0 {
		t.Errorf("a param value ran as shell code: %v", matches)
	}
}

// A service whose shell exits and leaves its children behind is still
// known by the mark its processes carry, and stop ends those children.
func TestServiceLeaderGoneChildrenStopped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	childPid := filepath.Join(h.repo, "child.pid")
	_, recs, err := h.run("up", fmt.Sprintf(`version: 1
name: up
steps:
  - id: start
    service: start
    with: {name: bg, command: "sleep 300 & echo $! > %s"}
`, childPid))
	mustSucceed(t, recs, err)
	leaderPid := intOutput(t, recs["start"], "pid")
	var child int
	testkit.WaitFor(t, 5*time.Second, "the child's pid", func() bool {
		b, _ := os.ReadFile(childPid)
		_, err := fmt.Sscan(string(b), &child)
		return err == nil && child > 0
	})
	t.Cleanup(func() {
		if testkit.Alive(child) {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
	})
	testkit.WaitFor(t, 5*time.Second, "the shell to exit", func() bool { return !testkit.Alive(leaderPid) })
	if pgid, _ := proc.Pgid(child); pgid != leaderPid {
		t.Fatalf("child pgid = %d, want the service's group %d", pgid, leaderPid)
	}
	_, recs, err = h.run("down", `version: 1
name: down
steps:
  - id: look
    service: status
    with: {name: bg}
  - id: stop
    service: stop
    with: {name: bg, grace: 1s}
`)
	mustSucceed(t, recs, err)
	if recs["look"].Outputs["running"] != true {
		t.Errorf("status = %v, want running (its child still runs)", recs["look"].Outputs)
	}
	if recs["stop"].Outputs["stopped"] != true {
		t.Errorf("stop = %v, want stopped", recs["stop"].Outputs)
	}
	testkit.WaitFor(t, 5*time.Second, "the left-behind child to stop", func() bool { return !testkit.Alive(child) })
}
