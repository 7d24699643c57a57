package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestOnResumePolicies kills rbflow inside a step and checks what resume
// does with it under each on_resume policy.
func TestOnResumePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy   string
		code     int    // exit of the first resume
		stderr   string // in its message
		marks    string // after the first resume
		thenCode int    // exit of "resume --yes", -1 if not run
	}{
		{policy: "idempotent: false", code: 4, stderr: "--yes", marks: "step-start", thenCode: 0},
		{policy: "on_resume: ask", code: 4, stderr: "--skip step", marks: "step-start", thenCode: 0},
		{policy: "on_resume: rerun", code: 0, marks: "step-start step-start step-done after", thenCode: -1},
		{policy: "on_resume: skip", code: 0, marks: "step-start after", thenCode: -1},
		{policy: "on_resume: fail", code: 1, stderr: "on_resume: fail", marks: "step-start", thenCode: -1},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			repo := testkit.GitRepo(t, nil)
			aux := t.TempDir()
			marks, gate := filepath.Join(aux, "marks"), filepath.Join(aux, "gate")
			procFile := filepath.Join(aux, "p.yaml")
			testkit.WriteFile(t, procFile, fmt.Sprintf(`version: 1
name: policy
env: {MARKS: %q, GATE: %q}
steps:
  - id: step
    %s
    run: |
      echo step-start >> "$MARKS"
      if [ ! -e "$GATE" ]; then touch "$GATE"; sleep 30; fi
      echo step-done >> "$MARKS"
  - id: after
    run: echo after >> "$MARKS"
`, marks, gate, tc.policy))
			cmd := rbflowCmd(t, repo, "run", procFile)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The gate is made just before the sleep: a kill before it would
			// leave the rerun to sleep out its 30 seconds.
			testkit.WaitFor(t, 10*time.Second, "the step to reach its sleep", func() bool {
				_, err := os.Stat(gate)
				return err == nil
			})
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()

			_, stderr, code := rbflow(t, repo, "resume")
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("resume: exit %d, want %d with %q in:\n%s", code, tc.code, tc.stderr, stderr)
			}
			if got := strings.Join(readLines(t, marks), " "); got != tc.marks {
				t.Errorf("marks after resume = %q, want %q", got, tc.marks)
			}
			if tc.thenCode < 0 {
				return
			}
			_, stderr, code = rbflow(t, repo, "resume", "--yes")
			if code != tc.thenCode {
				t.Fatalf("resume --yes: exit %d, want %d\n%s", code, tc.thenCode, stderr)
			}
			if got := strings.Join(readLines(t, marks), " "); got != "step-start step-start step-done after" {
				t.Errorf("marks after resume --yes = %q", got)
			}
		})
	}
}

// TestLoudStepBoundedMemory: a step printing 90 MB goes to its log file;
// rbflow's memory and the stored tail stay small. rbflow's own peak is about
// 65 MB, so keeping the output would show above the 120 MB bound.
func TestLoudStepBoundedMemory(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: loud
steps:
  - id: loud
    run: |
      head -c 80000000 /dev/zero | tr '\0' 'x' | fold -w 100
      head -c 10000000 /dev/zero | tr '\0' 'y'
`)
	cmd := rbflowCmd(t, repo, "run", procFile, "-q")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	maxRSSKB := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	if maxRSSKB > 120*1024 {
		t.Errorf("rbflow's peak memory was %d MB for a step printing 90 MB; it should stay bounded", maxRSSKB/1024)
	}
	_, recs := stepRecords(t, filepath.Join(repo, ".git", "rbflow"))
	if n := len(recs["loud"].Tail); n == 0 || n > 16<<10 {
		t.Errorf("stored tail is %d bytes, want a small bounded tail", n)
	}
	t.Logf("peak RSS %d MB", maxRSSKB/1024)
}
