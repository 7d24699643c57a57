package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFleetHandOver: rbflow worker, and run/status/resume/cancel/undo
// given --temporal or $RBFLOW_TEMPORAL, become rbflow-fleet with the same
// arguments; without rbflow-fleet they run nothing, say what to install
// and exit 2. Other commands, and run without --temporal, stay in rbflow.
func TestFleetHandOver(t *testing.T) {
	dir := t.TempDir()
	empty := t.TempDir()
	run := func(path string, env []string, args ...string) (string, string, int) {
		cmd := rbflowCmd(t, dir, args...)
		cmd.Env = append(append(cmd.Env, "PATH="+path, "RBFLOW_TEMPORAL="), env...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		return o.String(), e.String(), code
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"worker", "--temporal", "127.0.0.1:7233", "--host", "web1", "--repo", "/srv/app"}, nil, "rbflow worker needs rbflow-fleet, rbflow's fleet binary (Temporal), beside rbflow or on PATH: nothing was run; install it with 'make build'"},
		{[]string{"run", "emergency", "--temporal=127.0.0.1:7233", "--on", "web1:/srv/app"}, nil, "rbflow run --temporal needs rbflow-fleet"},
		{[]string{"status", "20261130-120000-abcdef"}, []string{"RBFLOW_TEMPORAL=127.0.0.1:7233"}, "rbflow status --temporal needs rbflow-fleet"},
	} {
		out, errs, code := run(empty, tc.env, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("rbflow %s without rbflow-fleet = exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, out, errs, tc.want)
		}
	}

	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "rbflow-fleet"), []byte("#!/bin/sh\nfor a; do printf '[%s]' \"$a\"; done; echo\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := bin + ":" + os.Getenv("PATH")
	out, errs, code := run(path, nil, "run", "emergency", "--temporal", "127.0.0.1:7233", "--on", "web1:/srv/my app", "--set", "baseline=$(id)")
	if want := "[run][emergency][--temporal][127.0.0.1:7233][--on][web1:/srv/my app][--set][baseline=$(id)]\n"; code != 0 || out != want {
		t.Errorf("rbflow run --temporal with rbflow-fleet = exit %d, stdout %q (stderr %q), want %q", code, out, errs, want)
	}
	out, _, _ = run(path, nil, "show", "emergency")
	if !strings.Contains(out, "name: emergency") {
		t.Errorf("rbflow show went elsewhere: %q", out)
	}
	out, _, code = run(path, nil, "run", filepath.Join(dir, "nosuch.yaml"))
	if code != 2 || strings.Contains(out, "[run]") {
		t.Errorf("rbflow run without --temporal = exit %d, stdout %q; want rbflow's own exit 2", code, out)
	}
}
