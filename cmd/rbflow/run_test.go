package main

import (
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
