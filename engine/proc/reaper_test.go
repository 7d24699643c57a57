package proc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if IsReaper() {
		os.Exit(ReaperMain())
	}
	if IsRelay() {
		os.Exit(RelayMain())
	}
	if IsSupervisor() {
		os.Exit(SupervisorMain())
	}
	if script := os.Getenv("PROC_TEST_SUPERVISED"); script != "" {
		os.Exit(supervisedHelper(script))
	}
	os.Exit(m.Run())
}

// TestReaperRefusesOutsideRbflow: the reaper variable set by hand (no new
// process group, no pipe) must not make the process signal its caller's
// process group.
func TestReaperRefusesOutsideRbflow(t *testing.T) {
	cmd := exec.Command(os.Args[0], "sleep", "0")
	cmd.Env = append(os.Environ(), reaperEnv+"=1000")
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd.ExtraFiles = []*os.File{devnull}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "not started by rbflow") {
		t.Fatalf("reaper outside rbflow: %v %s, want exit 2 and a refusal", err, out)
	}
	// This test process, in the caller's group, is still here to say so.
}

// TestRunEndsTheGroup: Run passes the exit status on, and a process the
// command left in the background dies with it.
func TestRunEndsTheGroup(t *testing.T) {
	// Under a run's supervisor, which kills the group as it reaps the
	// command, and under a reaper of its own, where Run does.
	sup := NewSupervisor()
	defer sup.Close()
	for _, s := range []*Supervisor{sup, nil} {
		var out bytes.Buffer
		pidFile := t.TempDir() + "/pid"
		code, err := Run(context.Background(), Command{Path: "bash", Args: []string{"-c", "sleep 30 & echo $! > " + pidFile + "; exit 3"},
			Env: os.Environ(), Stdout: &out, Stderr: &out, Grace: time.Second, Supervisor: s}, nil)
		if err != nil || code != 3 {
			t.Fatalf("supervisor %v: Run = %d, %v; want 3, nil (%s)", s != nil, code, err, out.String())
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid); err != nil {
			t.Fatal(err)
		}
		// Gone as Run returns: the group is killed before the exit is
		// reported (a zombie of the supervisor's is gone too).
		deadline := time.Now().Add(5 * time.Second)
		for {
			st := State(pid)
			if st == "" || st == "Z" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("supervisor %v: background process %d outlived its step", s != nil, pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRunBackgroundHoldingOutput: a step that succeeds while a background
// process it started still holds its output open ends at once, successfully.
func TestRunBackgroundHoldingOutput(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	code, err := Run(context.Background(), Command{Path: "bash", Args: []string{"-c", "echo hi; sleep 30 & exit 0"},
		Env: os.Environ(), Stdout: &out, Stderr: &out, Grace: time.Second}, nil)
	if err != nil || code != 0 || !strings.Contains(out.String(), "hi") {
		t.Fatalf("Run = %d, %v (%q); want 0, nil", code, err, out.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Run waited %s for a background process", d)
	}
}
