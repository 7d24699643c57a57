package main

import (
	"path/filepath"
	"strings"
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
