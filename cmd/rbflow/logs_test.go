package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestLogsFollow: `rbflow logs RUN STEP --follow` prints a running step's
// output as it comes and returns when the step ends, also when it starts
// following before the step's first line (its log is made then).
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: follow
steps:
  - id: talk
    run: sleep 0.5; for i in 1 2 3 4 5; do echo "line $i"; sleep 0.2; done
`)
	run := rbflowCmd(t, repo, "run", procFile, "--json")
	var out syncBuffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the step to start", func() bool { return strings.Contains(out.String(), `"step_started"`) })
	id := between(out.String(), `"run_id":"`, `"`)
	o, e, code := rbflow(t, repo, "logs", id, "talk", "--follow")
	if err := run.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if code != 0 {
		t.Fatalf("logs --follow: exit %d\n%s", code, e)
	}
	for i := 1; i <= 5; i++ {
		if !strings.Contains(o, "line "+string(rune('0'+i))) {
			t.Errorf("logs --follow missed line %d:\n%s", i, o)
		}
	}
}
