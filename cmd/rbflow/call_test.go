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

// A parent run killed with SIGKILL while its child runs is finished by
// rbflow resume on the parent: the child goes on where it stopped (its
// completed steps do not run again) and the parent finishes after it.
func TestCallResumeAfterKill(t *testing.T) {
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	marks, pids, flag := filepath.Join(aux, "marks"), filepath.Join(aux, "pids"), filepath.Join(aux, "flag")
	env := fmt.Sprintf("{MARKS: %q, PIDS: %q, FLAG: %q}", marks, pids, flag)
	testkit.WriteFile(t, filepath.Join(aux, "child.yaml"), `version: 1
name: child
env: `+env+`
params:
  label: {type: string, required: true}
steps:
  - id: one
    run: echo "one ${{ params.label }}" >> "$MARKS"
  - id: slow
    run: |
      echo slow >> "$MARKS"
      if [ ! -f "$FLAG" ]; then
        touch "$FLAG"
        sleep 60 & echo $! >> "$PIDS"; wait
      fi
      echo "done=yes" >> "$RBFLOW_OUTPUT"
  - id: three
    run: echo three >> "$MARKS"
`)
	parent := filepath.Join(aux, "parent.yaml")
	testkit.WriteFile(t, parent, `version: 1
name: parent
env: `+env+`
steps:
  - id: before
    run: echo before >> "$MARKS"
  - id: sub
    call: ./child.yaml
    with: {params: {label: "from-${{ run.procedure }}"}}
  - id: after
    run: echo "after ${{ steps.sub.outputs.slow.done }} ${{ steps.sub.outputs.status }}" >> "$MARKS"
`)
	cmd := rbflowCmd(t, repo, "run", parent)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 15*time.Second, "the child's slow step to start", func() bool {
		return len(readLines(t, pids)) > 0
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	assertNoOrphans(t, pids)
	if got := strings.Join(readLines(t, marks), " "); got != "before one from-parent slow" {
		t.Fatalf("marks before resume = %q\n%s", got, out.String())
	}

	stdout, stderr, code := rbflow(t, repo, "resume")
	if code != 0 {
		t.Fatalf("resume exit %d\n%s%s", code, stdout, stderr)
	}
	if got, want := strings.Join(readLines(t, marks), " "), "before one from-parent slow slow three after yes succeeded"; got != want {
		t.Errorf("marks after resume = %q, want %q (no completed step again, the interrupted one once more)", got, want)
	}

	// runs hides the child unless --all; status shows the relation both ways.
	stdout, _, _ = rbflow(t, repo, "runs", "--json")
	var parentRun runJSON
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &parentRun) != nil || parentRun.Procedure != "parent" || parentRun.Status != "succeeded" {
		t.Fatalf("runs --json = %q, want the parent only, succeeded", stdout)
	}
	stdout, _, _ = rbflow(t, repo, "runs", "--all", "--json")
	var childRun runJSON
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r runJSON
		if json.Unmarshal([]byte(l), &r) == nil && r.Procedure == "child" {
			childRun = r
		}
	}
	if childRun.ParentRun != parentRun.ID || childRun.Status != "succeeded" {
		t.Fatalf("runs --all: child = %+v, want a succeeded child of %s", childRun, parentRun.ID)
	}
	stdout, _, _ = rbflow(t, repo, "runs")
	if strings.Contains(stdout, childRun.ID) {
		t.Errorf("runs lists the child run:\n%s", stdout)
	}
	stdout, _, _ = rbflow(t, repo, "status", parentRun.ID)
	if !strings.Contains(stdout, fmt.Sprintf("step sub called run %s (child, succeeded)", childRun.ID)) {
		t.Errorf("parent status does not name its child run:\n%s", stdout)
	}
	stdout, _, _ = rbflow(t, repo, "status", childRun.ID)
	if !strings.Contains(stdout, fmt.Sprintf("child of run %s (step sub)", parentRun.ID)) {
		t.Errorf("child status does not name its parent:\n%s", stdout)
	}
}

// A call: target that names nothing, or a callee that would refuse its
// params, is a validation error at the call: exit 2, positioned, with a
// hint; run of it runs nothing (not even the step before the call) and
// records nothing.
func TestCallCheckedAtLoad(t *testing.T) {
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	mark := filepath.Join(aux, "ran")
	tests := []struct {
		call string // the call step's call: and with:
		want string // stderr after the file name
	}{
		{"call: sprnt", `:8:11: step "sub": cannot call "sprnt": "sprnt" is not a file or a built-in procedure (did you mean "sprint"?)`},
		{"call: sprint\n    with: {params: {sprnt: 4}}", `:9:21: step "sub": unknown param "sprnt" (did you mean "sprint"?): sprint takes sprint, baseline`},
		{"call: ./p.yaml", `:8:11: step "sub": call cycle: ` + filepath.Join(aux, "p.yaml") + ` calls itself`},
	}
	for _, tt := range tests {
		p := filepath.Join(aux, "p.yaml")
		testkit.WriteFile(t, p, fmt.Sprintf(`version: 1
name: p
env: {MARK: %q}
steps:
  - id: first
    run: touch "$MARK"
  - id: sub
    %s
`, mark, tt.call))
		stdout, stderr, code := rbflow(t, repo, "validate", p)
		if code != 2 || !strings.Contains(stderr, p+tt.want) {
			t.Errorf("validate with %q: exit %d, stderr\n%s\nwant exit 2 and %s%s", tt.call, code, stderr, p, tt.want)
		}
		if strings.Contains(stdout, "ok") {
			t.Errorf("validate with %q: stdout %q", tt.call, stdout)
		}
		_, stderr, code = rbflow(t, repo, "run", p)
		if code != 2 || !strings.Contains(stderr, p+tt.want) {
			t.Errorf("run with %q: exit %d, stderr\n%s\nwant exit 2 and %s%s", tt.call, code, stderr, p, tt.want)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("run with %q: the step before the call ran", tt.call)
		}
		if stdout, _, _ := rbflow(t, repo, "runs", "--all", "--json"); strings.TrimSpace(stdout) != "" {
			t.Fatalf("run with %q recorded a run: %s", tt.call, stdout)
		}
	}
}
