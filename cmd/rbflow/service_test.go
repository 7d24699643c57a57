package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/testkit"
)

// A service outlives rbflow killed with SIGKILL while it waits for the
// service to get ready; rbflow resume adopts the running service instead
// of starting it twice, and a later run stops it.
func TestServiceSurvivesKillAndResumeAdopts(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	flag, pidFile := filepath.Join(aux, "ready"), filepath.Join(aux, "svc.pid")
	up := filepath.Join(aux, "up.yaml")
	testkit.WriteFile(t, up, fmt.Sprintf(`version: 1
name: up
steps:
  - id: svc
    service: start
    with:
      name: sleeper
      command: sleep 300
      pidfile: %q
      ready: {command: "test -f %s", interval: 50ms, timeout: 60s}
      grace: 1s
  - id: after
    run: echo done
`, pidFile, flag))
	cmd := rbflowCmd(t, repo, "run", up)
	out, pid := startUntilPidfile(t, cmd, pidFile)
	testkit.WaitFor(t, 10*time.Second, "the ready probe to run", func() bool { return strings.Contains(out.String(), "probe 1") })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	time.Sleep(100 * time.Millisecond)
	if !testkit.Alive(pid) {
		t.Fatalf("the service (pid %d) died with rbflow", pid)
	}

	testkit.WriteFile(t, flag, "")
	stdout, stderr, code := rbflow(t, repo, "resume")
	if code != 0 {
		t.Fatalf("resume exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, _ = rbflow(t, repo, "status", "--json")
	var st runJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	svc := st.Steps[0]
	if st.Status != "succeeded" || svc.ID != "svc" || svc.Outputs["started"] != false || svc.Outputs["pid"] != float64(pid) || svc.Outputs["ready"] != true {
		t.Errorf("after resume: run %s, step %+v; want the running pid %d adopted (started=false) and ready", st.Status, svc, pid)
	}

	down := filepath.Join(aux, "down.yaml")
	testkit.WriteFile(t, down, "version: 1\nname: down\nsteps:\n  - id: stop\n    service: stop\n    with: {name: sleeper, grace: 1s}\n")
	if _, stderr, code := rbflow(t, repo, "run", down); code != 0 {
		t.Fatalf("down exit %d: %s", code, stderr)
	}
	testkit.WaitFor(t, 5*time.Second, "the service to stop", func() bool { return !testkit.Alive(pid) })
}

// A service's log relay outlives rbflow killed with SIGKILL: what the
// service prints afterwards still reaches its log with the secret param's
// value as ***, and a later run stops the service and its relay.
func TestServiceSecretRelaySurvivesKill(t *testing.T) {
	t.Parallel()
	const token = "Zq9-kill-s3cret"
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	flag, pidFile := filepath.Join(aux, "go"), filepath.Join(aux, "svc.pid")
	up := filepath.Join(aux, "up.yaml")
	testkit.WriteFile(t, up, fmt.Sprintf(`version: 1
name: up
params:
  token: {type: string, secret: true}
steps:
  - id: svc
    service: start
    with:
      name: talker
      command: |
        T=${{ params.token }}
        echo "before=$T"
        while [ ! -f %q ]; do sleep 0.05; done
        echo "after=$T"
        exec sleep 300
      pidfile: %q
      ready: {command: "false", interval: 50ms, timeout: 60s}
      grace: 1s
`, flag, pidFile))
	cmd := rbflowCmd(t, repo, "run", up, "--set", "token="+token)
	out, pid := startUntilPidfile(t, cmd, pidFile)
	testkit.WaitFor(t, 10*time.Second, "the ready probe to run", func() bool { return strings.Contains(out.String(), "probe 1") })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	logs, _ := filepath.Glob(filepath.Join(repo, ".git", "rbflow", "runs", "*", "service-talker.log"))
	if len(logs) != 1 {
		t.Fatalf("service logs: %v, want one", logs)
	}
	log := func() string { b, _ := os.ReadFile(logs[0]); return string(b) }
	// The service may still be on its way (its launcher starts the relay,
	// then becomes the service): rbflow's death does not stop it.
	testkit.WaitFor(t, 10*time.Second, "the service's first line", func() bool { return strings.Contains(log(), "before=") })
	relay := 0
	for _, m := range proc.Group(pid, 0) {
		if m.PID != pid {
			relay = m.PID
		}
	}
	if !testkit.Alive(pid) || relay == 0 {
		t.Fatalf("after rbflow was killed: service %d alive %v, group %v; want the service and its relay; log:\n%s", pid, testkit.Alive(pid), proc.Group(pid, 0), log())
	}
	testkit.WriteFile(t, flag, "")
	testkit.WaitFor(t, 10*time.Second, "the line printed after rbflow died", func() bool { return strings.Contains(log(), "after=") })
	if !strings.Contains(log(), "before=***\n") || !strings.Contains(log(), "after=***\n") || strings.Contains(log(), token) {
		t.Errorf("service log, want the secret as *** before and after rbflow died:\n%s", log())
	}

	down := filepath.Join(aux, "down.yaml")
	testkit.WriteFile(t, down, "version: 1\nname: down\nsteps:\n  - id: stop\n    service: stop\n    with: {name: talker, grace: 1s}\n")
	if _, stderr, code := rbflow(t, repo, "run", down); code != 0 {
		t.Fatalf("down exit %d: %s", code, stderr)
	}
	if testkit.Alive(pid) || testkit.Alive(relay) {
		t.Errorf("after stop: service %d alive %v, relay %d alive %v; want both gone", pid, testkit.Alive(pid), relay, testkit.Alive(relay))
	}
}

// startUntilPidfile starts cmd, an rbflow run that starts a service, and
// waits for the service's pidfile. It returns rbflow's output (written on
// as it runs) and the service's pid; what is left of the service's
// process group ends with the test.
func startUntilPidfile(t *testing.T, cmd *exec.Cmd, pidFile string) (*syncBuffer, int) {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	testkit.WaitFor(t, 15*time.Second, "the service's pidfile", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil && pid > 0
	})
	t.Cleanup(func() {
		for _, m := range proc.Group(pid, 0) {
			_ = syscall.Kill(m.PID, syscall.SIGKILL)
		}
	})
	return out, pid
}
