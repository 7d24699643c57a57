package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// An rbflow killed with SIGKILL in the middle of a for_each is finished by
// rbflow resume: the items that succeeded before the kill do not run
// again, the one cut off runs again, the rest run once.
func TestForEachResumesAfterKill(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	marks, gate := filepath.Join(aux, "marks"), filepath.Join(aux, "gate")
	procFile := filepath.Join(aux, "p.yaml")
	testkit.WriteFile(t, procFile, fmt.Sprintf(`version: 1
name: loop-kill
env: {MARKS: %q, GATE: %q}
steps:
  - id: each
    for_each: [a, b, c, d]
    run: |
      echo "ran ${{ item }}" >> "$MARKS"
      echo "item ${{ index }} is ${{ item }}"
      if [ ${{ item }} = c ]; then
        while [ ! -f "$GATE" ]; do sleep 0.05; done
      fi
  - id: after
    run: echo after >> "$MARKS"
`, marks, gate))
	cmd := rbflowCmd(t, repo, "run", procFile, "--json")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testkit.WaitFor(t, 30*time.Second, "item c to start", func() bool {
		return strings.Contains(strings.Join(readLines(t, marks), " "), "ran c")
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !strings.Contains(out.String(), `"event":"step_finished","run_id":`) || !strings.Contains(out.String(), `"step":"each","item":1,"status":"succeeded"`) {
		t.Errorf("the JSON events do not carry the item index:\n%s", out.String())
	}
	run, recs := stepRecords(t, filepath.Join(repo, ".git", "rbflow"))
	for id, want := range map[string]engine.StepStatus{"each": engine.StepRunning, "each.0": engine.StepSucceeded, "each.1": engine.StepSucceeded, "each.2": engine.StepRunning} {
		if recs[id] == nil || recs[id].Status != want {
			t.Fatalf("after the kill, %s = %+v, want %s", id, recs[id], want)
		}
	}

	testkit.WriteFile(t, gate, "")
	if o, e, code := rbflow(t, repo, "resume"); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, o, e)
	}
	if got := strings.Join(readLines(t, marks), " "); got != "ran a ran b ran c ran c ran d after" {
		t.Errorf("marks = %q: want a and b once (done before the kill), c again, d once, then after", got)
	}
	st := statusOf(t, repo, run.ID)
	if st.Status != "succeeded" || stepOf(t, st, "each").Status != "succeeded" || stepOf(t, st, "each.3").Status != "succeeded" {
		t.Errorf("resumed run %s, each %s", st.Status, stepOf(t, st, "each").Status)
	}
	if o, e, code := rbflow(t, repo, "logs", run.ID, "each.1"); code != 0 || !strings.Contains(o, "item 1 is b") {
		t.Errorf("rbflow logs RUN each.1: exit %d\n%s%s", code, o, e)
	}
}
