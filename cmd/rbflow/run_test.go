package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestRunSetReportsTheRealError: a --set the user got wrong is reported
// alone, exit 2, nothing run; a required param is not said missing next to
// a --set that may have been meant for it.
func TestRunSetReportsTheRealError(t *testing.T) {
	tests := []struct {
		sets []string
		want string // the whole of stderr
	}{
		{[]string{"=x"}, "rbflow: --set =x: the param name is missing: --set takes NAME=VALUE (sprint takes sprint, baseline, reason, test_command, test_dir)\n"},
		{[]string{"3"}, "rbflow: param 3: --set takes NAME=VALUE\n"},
		{[]string{"sprnt=3"}, "rbflow: param sprnt: unknown param (did you mean \"sprint\"?); sprint takes sprint, baseline, reason, test_command, test_dir\n"},
		{[]string{"baseline=main"}, "rbflow: param sprint: required: pass --set sprint=VALUE\n"},
	}
	repo := t.TempDir()
	testkit.Git(t, repo, "init", "-q")
	for _, tt := range tests {
		args := []string{"run", "sprint", "--state", t.TempDir()}
		for _, s := range tt.sets {
			args = append(args, "--set", s)
		}
		stdout, stderr, code := query(t, repo, args...)
		if code != 2 || stderr != tt.want || strings.TrimSpace(stdout) != "" {
			t.Errorf("rbflow %s = exit %d, stdout %q, stderr %q; want exit 2, stderr %q", strings.Join(args, " "), code, stdout, stderr, tt.want)
		}
	}
}

// TestStepsGetNoStateFile: a step's command, run directly or by bash, has
// none of rbflow's state files open: the run's lock is held by its
// supervisor, started ahead of the run and handed the lock, and no command
// inherits it. It leaked into every step, and a step's process that kept
// it would have held the lock after the run.
func TestStepsGetNoStateFile(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	testkit.Git(t, repo, "init", "-q")
	proc := filepath.Join(t.TempDir(), "fds.yaml")
	testkit.WriteFile(t, proc, "version: 1\nname: fds\nsteps:\n  - id: direct\n    run: ls -l /proc/self/fd\n  - id: bash\n    run: ls -l /proc/$$/fd; echo listed\n")
	out, errOut, code := rbflow(t, repo, "run", proc)
	if code != 0 || !strings.Contains(out, "direct | ") || !strings.Contains(out, "bash | listed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if state := filepath.Join(repo, ".git", "rbflow"); strings.Contains(out, state) {
		t.Errorf("a step has a file of %s open:\n%s", state, out)
	}
}

// TestRunEndsWhatItsStepsLeft: a step that succeeds but leaves processes
// behind (setsid, nohup, a double fork, and a chain of ten sessions, each
// the parent of the next, which the supervisor can only end one level at a
// time) does not leave them to outlive the run: when rbflow run, or the
// rbflow resume that finishes a failed run, returns, every one of them is
// gone, checked by pid. The supervisor ends them while the store closes,
// and rbflow waits for it.
func TestRunEndsWhatItsStepsLeft(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"run", "resume"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			testkit.Git(t, repo, "init", "-q")
			aux := t.TempDir()
			pids, chain, gate := filepath.Join(aux, "pids"), filepath.Join(aux, "chain.sh"), filepath.Join(aux, "gate")
			testkit.WriteFile(t, chain, `echo $$ >> "$PIDS"
if [ "$1" -gt 0 ]; then setsid bash "$0" $(($1 - 1)) & fi
exec sleep 300
`)
			proc := filepath.Join(aux, "left.yaml")
			testkit.WriteFile(t, proc, fmt.Sprintf(`version: 1
name: left
env: {PIDS: %q, CHAIN: %q, GATE: %q}
steps:
  - id: gate
    run: test -e "$GATE"
  - id: leave
    run: |
      setsid sleep 300 & echo $! >> "$PIDS"
      nohup sleep 301 >/dev/null 2>&1 & echo $! >> "$PIDS"
      ( sleep 302 & echo $! >> "$PIDS" )
      setsid bash "$CHAIN" 9 &
      until [ "$(wc -l < "$PIDS")" -ge 13 ]; do sleep 0.01; done
`, pids, chain, gate))
			args := []string{"run", proc}
			if how == "resume" {
				if out, errOut, code := rbflow(t, repo, args...); code != 1 {
					t.Fatalf("the run before the gate opens: exit %d\n%s%s", code, out, errOut)
				}
				args = []string{"resume"}
			}
			testkit.WriteFile(t, gate, "")
			// Its output goes to a file, as to a terminal: through a
			// pipe, Wait would also wait for every process that has the
			// pipe open.
			cmd := rbflowCmd(t, repo, args...)
			out, err := os.Create(filepath.Join(aux, "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, testkit.ReadFile(t, out.Name()))
			}
			var left []string
			fields := strings.Fields(testkit.ReadFile(t, pids))
			for _, f := range fields {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pid file holds %q", f)
				}
				if syscall.Kill(pid, 0) != syscall.ESRCH {
					left = append(left, f)
					_ = syscall.Kill(pid, syscall.SIGKILL) // the test's own
				}
			}
			if len(fields) != 13 || len(left) > 0 {
				t.Errorf("pids %v: %v still there once rbflow %s returned", fields, left, args[0])
			}
		})
	}
}
