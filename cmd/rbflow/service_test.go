package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
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
		if testkit.Alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
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
