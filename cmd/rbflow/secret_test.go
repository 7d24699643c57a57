package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestSecretsMasked greps every artifact of a run — its folder, stdout,
// stderr, JSON events, status and logs — for a secret param's value.
func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-Zq9"
	repo := testkit.GitRepo(t, nil)
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: secret
params:
  token: {type: string, required: true, secret: true}
env:
  AUTH: "Bearer ${{ params.token }}"
steps:
  - id: use
    run: |
      echo "token=${{ params.token }}"
      echo "env=$RBFLOW_PARAM_TOKEN auth=$AUTH"
      echo "leak=${{ params.token }}" >> "$RBFLOW_OUTPUT"
      printf '%s' "$AUTH" >&2
  - id: fail
    run: echo "failing with ${{ params.token }}"; exit 1
finally:
  - id: after
    run: echo "after ${{ steps.use.outputs.leak }}"
`)
	var all strings.Builder
	stdout, stderr, code := rbflow(t, repo, "run", procFile, "--set", "token="+secret)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	all.WriteString(stdout + stderr)
	for _, args := range [][]string{
		{"run", procFile, "--set", "token=" + secret, "--json"},
		{"status"}, {"status", "--json"}, {"runs", "--json"},
	} {
		o, e, _ := rbflow(t, repo, args...)
		all.WriteString(o + e)
	}
	runs, _, _ := rbflow(t, repo, "runs", "--json")
	id := between(runs, `"id":"`, `"`)
	o, e, _ := rbflow(t, repo, "logs", id)
	all.WriteString(o + e)
	if !strings.Contains(o, "token=***") || !strings.Contains(o, "auth=Bearer ***") {
		t.Errorf("logs do not show the masked lines:\n%s", o)
	}
	if strings.Contains(all.String(), secret) {
		t.Errorf("the secret appears in rbflow's output:\n%s", all.String())
	}
	runsDir := filepath.Join(repo, ".git", "rbflow", "runs")
	testkit.Files(t, runsDir, func(path string, perm fs.FileMode, b []byte) {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret:\n%s", path, b)
		}
		if perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want 0600", path, perm)
		}
	})
	for _, dir := range []string{filepath.Join(repo, ".git", "rbflow"), runsDir} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v (%v), want 0700", dir, fi.Mode().Perm(), err)
		}
	}
}
