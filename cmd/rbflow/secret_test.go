package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
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

// TestSecretsAtRest: rbflow never writes a secret to disk (SPEC §4.1).
// Secrets given with --set, from_env and from_file reach the steps; after
// a failed run and after its resume, no byte of them is in .git (the state
// folder, refs, objects) or in rbflow's temp folder. Resume reads from_env
// and from_file again, and asks for the --set one again: without it
// resume changes nothing and says how to give it.
func TestSecretsAtRest(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	tmp := filepath.Join(aux, "tmp")
	tokFile := filepath.Join(aux, "tok")
	procFile := filepath.Join(aux, "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: secrets
params:
  token: {type: string, required: true, secret: true}
  envtok: {type: string, required: true, secret: true, from_env: RBFLOW_TEST_TOKEN}
  filetok: {type: string, secret: true, from_file: `+tokFile+`}
  plain: {type: string, default: shown}
steps:
  - id: use
    run: |
      echo "leak=${{ params.token }}-${{ params.envtok }}" >> "$RBFLOW_OUTPUT"
      echo "using ${{ params.token }} ${{ params.envtok }} ${{ params.filetok }}"
  - id: gate
    run: |
      [ -f `+filepath.Join(aux, "open")+` ] || { echo "closed for ${{ params.token }}"; exit 1; }
      printf '%s|%s|%s|%s' ${{ params.token }} ${{ params.envtok }} ${{ params.filetok }} ${{ steps.use.outputs.leak }} | sha256sum > `+filepath.Join(aux, "got")+`
finally:
  - id: summary
    report: ${{ run.dir }}/summary.md
    with: {kind: summary, data: {token: "${{ params.token }}", file: "${{ params.filetok }}"}}
`)
	testkit.WriteFile(t, tokFile, "file-secret-F1\n")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	run := func(envTok string, args ...string) (string, int) {
		t.Helper()
		cmd := rbflowCmd(t, repo, args...)
		cmd.Env = append(cmd.Env, "RBFLOW_TEST_TOKEN="+envTok, "TMPDIR="+tmp)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	secrets := []string{"set-secret-S1", "env-secret-E1", "file-secret-F1", "env-secret-E2", "file-secret-F2"}
	noSecretOnDisk := func(when string) {
		t.Helper()
		for _, dir := range []string{filepath.Join(repo, ".git"), tmp} {
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				for _, s := range secrets {
					if bytes.Contains(b, []byte(s)) {
						t.Errorf("%s: %s holds the secret %s", when, path, s)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	out, code := run("env-secret-E1", "run", procFile, "--set", "token=set-secret-S1")
	if code != 1 || !strings.Contains(out, "closed for ***") {
		t.Fatalf("run: exit %d, want 1 at the gate with the secret masked\n%s", code, out)
	}
	noSecretOnDisk("after the run")
	status, _, _ := query(t, repo, "status")
	if !strings.Contains(status, "token=***") || !strings.Contains(status, "plain=shown") {
		t.Errorf("status does not show the params, secrets masked:\n%s", status)
	}

	// Without the --set secret, resume changes nothing and says how.
	testkit.WriteFile(t, filepath.Join(aux, "open"), "")
	testkit.WriteFile(t, tokFile, "file-secret-F2\n")
	out, code = run("env-secret-E2", "resume")
	if code != 2 || !strings.Contains(out, "param token: secret, given when the run started; rbflow does not keep secrets: give it again with --set token=VALUE") {
		t.Fatalf("resume without the secret: exit %d, want 2 asking for token\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(aux, "got")); err == nil {
		t.Fatal("resume without the secret ran the gate")
	}
	if out, code = run("env-secret-E2", "resume", "--set", "plain=x"); code != 2 || !strings.Contains(out, "--set plain: a resumed run keeps the params it started with") {
		t.Fatalf("resume --set of a plain param: exit %d, want 2\n%s", code, out)
	}
	if status2, _, _ := query(t, repo, "status"); status2 != status {
		t.Errorf("a refused resume changed the run:\n%s\nwas:\n%s", status2, status)
	}

	// With it, the gate runs with the --set secret given again, from_env
	// and from_file read again, and the output of the step before it as
	// the store kept it: masked.
	if out, code = run("env-secret-E2", "resume", "--set", "token=set-secret-S1"); code != 0 {
		t.Fatalf("resume --set token: exit %d\n%s", code, out)
	}
	sum := sha256.Sum256([]byte("set-secret-S1|env-secret-E2|file-secret-F2|***-***"))
	if got := readFile(t, filepath.Join(aux, "got")); !strings.HasPrefix(got, hex.EncodeToString(sum[:])) {
		t.Errorf("the resumed step got other values (sha256 %s, want %x)", got, sum)
	}
	noSecretOnDisk("after the resume")
	summaries, _ := filepath.Glob(filepath.Join(repo, ".git", "rbflow", "runs", "*", "summary.md"))
	if len(summaries) != 1 || !strings.Contains(readFile(t, summaries[0]), "token: ***") {
		t.Errorf("the summary report (%q) does not show the secret masked", summaries)
	}
}
