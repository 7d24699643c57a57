package main

import (
	"bytes"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestLiveViewOnTerminal runs rbflow on a pseudo-terminal: it draws one
// line per step with a status mark and elapsed time, the running step's
// output, the time against the target, and colour unless NO_COLOR.
func TestLiveViewOnTerminal(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: live
target: 5m
steps:
  - id: first
    run: echo working on it; sleep 0.6
  - id: second
    run: "true"
  - id: never
    if: "false"
    run: "true"
`)
	for _, tc := range []struct {
		name    string
		env     []string
		colored bool
	}{{"colour", nil, true}, {"NO_COLOR", []string{"NO_COLOR=1"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := rbflowCmd(t, repo, "run", procFile)
			cmd.Env = append(filterEnv(cmd.Env, "NO_COLOR="), append(tc.env, "TERM=xterm")...)
			f, err := pty.Start(cmd)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			done := make(chan struct{})
			go func() { io.Copy(&out, f); close(done) }()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("run on a terminal: %v\n%s", err, out.String())
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
			f.Close()
			s := out.String()
			for _, want := range []string{"live  run ", "(target 5m0s)", "✔ first", "✔ second", "○ never", "│ working on it", "\x1b[J"} {
				if !strings.Contains(s, want) {
					t.Errorf("live view lacks %q:\n%q", want, s)
				}
			}
			if regexp.MustCompile(`^\d\d:\d\d:\d\d `).MatchString(s) {
				t.Errorf("live view printed timestamped plain lines:\n%s", s)
			}
			if hasColor := strings.Contains(s, "\x1b[32m"); hasColor != tc.colored {
				t.Errorf("colour codes present = %v, want %v", hasColor, tc.colored)
			}
		})
	}
}

func filterEnv(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
