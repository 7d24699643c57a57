package proc

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestGroupAndStartedAt(t *testing.T) {
	before := time.Now()
	cmd := exec.Command("bash", "-c", "sleep 30 & sleep 30; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(5 * time.Second)
	var g []Identity
	for len(g) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		g = Group(pid, 0)
	}
	if len(g) != 3 {
		t.Fatalf("Group(%d) = %v, want bash and its two sleeps", pid, g)
	}
	if pgid, err := Pgid(pid); err != nil || pgid != pid {
		t.Errorf("Pgid(%d) = %d, %v", pid, pgid, err)
	}
	start, err := StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Members that started before the bound are not counted: a pid reused
	// from an older group never belongs to a newer one.
	if later := Group(pid, start+1_000_000); len(later) != 0 {
		t.Errorf("Group with a later start bound = %v, want none", later)
	}
	at, err := StartedAt(start)
	if err != nil {
		t.Fatal(err)
	}
	if d := at.Sub(before); d < -time.Second || d > 5*time.Second {
		t.Errorf("StartedAt = %v, %v after the test started; want about now", at, d)
	}
	if Group(1<<22+1, 0) != nil {
		t.Error("Group of a pgid nobody has is not empty")
	}
}
