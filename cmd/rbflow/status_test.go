package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestStatusTellsTheTruth (issue 15): after a SIGKILL, status showed the
// step that was cut off as "running" with a growing duration and exit 0,
// nested outputs as "{6 keys}" and an empty one as "<nil>", and a resumed
// run's duration counted the time it lay interrupted.
func TestStatusTellsTheTruth(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	flag := filepath.Join(aux, "flag")
	testkit.WriteFile(t, filepath.Join(aux, "child.yaml"), "version: 1\nname: child\nsteps:\n  - id: x\n    run: echo v=1 >> \"$RBFLOW_OUTPUT\"\n")
	parent := filepath.Join(aux, "parent.yaml")
	testkit.WriteFile(t, parent, fmt.Sprintf(`version: 1
name: parent
steps:
  - id: sub
    call: ./child.yaml
  - id: n
    run: echo n=5 >> "$RBFLOW_OUTPUT"
  - id: slow
    run: |
      if [ ! -f %q ]; then touch %q; sleep 60; fi
`, flag, flag))
	cmd := rbflowCmd(t, repo, "run", parent)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the slow step to start", func() bool {
		_, err := os.Stat(flag)
		return err == nil
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	out, _, code := query(t, repo, "status")
	if code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	if !regexp.MustCompile(`(?m)^slow +interrupted +cut off *$`).MatchString(out) {
		t.Errorf("status after SIGKILL should show slow interrupted, cut off, no exit code:\n%s", out)
	}
	if regexp.MustCompile(`(?m)^\S+ +running `).MatchString(out) || strings.Contains(out, "keys}") || strings.Contains(out, "<nil>") {
		t.Errorf("status shows running, a key count or <nil>:\n%s", out)
	}
	if !strings.Contains(out, `x={"v":"1"}`) {
		t.Errorf("status does not show the call's outputs as data:\n%s", out)
	}
	js, _, _ := query(t, repo, "status", "--json")
	if !strings.Contains(js, `"status": "interrupted"`) || strings.Contains(js, `"status": "running"`) {
		t.Errorf("status --json should say the step was interrupted:\n%s", js)
	}

	time.Sleep(3 * time.Second) // lying interrupted: not running time
	if o, e, code := rbflow(t, repo, "resume", "--yes"); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, o, e)
	}
	out, _, _ = query(t, repo, "status")
	if !regexp.MustCompile(`took [0-9.]+s from start to end, [0-9.]+m?s of it running steps`).MatchString(out) {
		t.Errorf("status of the resumed run should tell running time from the time it lay interrupted:\n%s", out)
	}
}
