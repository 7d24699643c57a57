package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/testkit"
)

// TestUsage: what runs nothing exits 2 and says what to give, before any
// connection to Temporal is tried.
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nname: bad\nsteps:\n  - id: a\n    run: echo\n    needs: [nope]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("version: 1\nname: good\nsteps:\n  - id: a\n    run: echo hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", good, "--on", "web1:/srv/app"}, "give the Temporal server with --temporal ADDR"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1"}, "--on HOST:PATH"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:srv"}, "absolute path"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:/a", "--on", "web1:/a/"}, "given twice"},
		{[]string{"run", bad, "--temporal", "127.0.0.1:1", "--on", "web1:/a"}, `bad.yaml:6:13: step "a": needs unknown step "nope"`},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:/a", "--set", "x=1"}, "x"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:/a", "--answer", "a=yes"}, "only prompt steps take answers"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:/a"}, "no payload key"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:/a", "--key-file", "/nonexistent/fleet.key"}, "read payload key: open /nonexistent/fleet.key"},
		{[]string{"run", good, "--temporal", "127.0.0.1:1", "--on", "web1:/a", "--heartbeat", "2s"}, "--heartbeat 2s: give at least 3s"},
		{[]string{"worker", "--temporal", "127.0.0.1:1", "--host", "web1"}, "--repo PATH"},
		{[]string{"worker", "--temporal", "127.0.0.1:1", "--host", "web1", "--repo", "rel"}, "absolute path"},
		{[]string{"resume", "R", "--temporal", "127.0.0.1:1", "--reload"}, "--reload does not apply on Temporal"},
		{[]string{"undo", "R", "--temporal", "127.0.0.1:1", "--on", "web1:rel"}, "absolute path"},
		{[]string{"undo", "--temporal", "127.0.0.1:1"}, "give the RUN id"},
		{[]string{"undo", "R", "--temporal", "127.0.0.1:1"}, "no payload key"},
		{[]string{"stauts", "R"}, `did you mean "status"`},
	} {
		var out, errb bytes.Buffer
		code := Main(tc.args, &out, &errb, noEnv)
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("rbflow %s = exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errb.String(), tc.want)
		}
	}
}

// TestRefused: what the fleet does not run is refused before anything
// starts, at its line, naming what to change; call steps (the called
// procedure read by the starter, next to the caller) and deadline: pass
// the checks (and stop at the missing payload key here).
func TestRefused(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"dyncall.yaml":  "version: 1\nname: c\nparams:\n  p: {type: string, default: sprint}\nsteps:\n  - id: a\n    call: ${{ params.p }}\n",
		"deadline.yaml": "version: 1\nname: d\ndeadline: 5m\nsteps:\n  - id: a\n    run: echo\n",
		"call.yaml":     "version: 1\nname: c\nsteps:\n  - id: a\n    call: ./child.yaml\n",
		"child.yaml":    "version: 1\nname: child\nsteps:\n  - id: b\n    run: echo\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"dyncall.yaml":  "dyncall.yaml:7:5: step \"a\": a call target built with ${{ }} does not run on Temporal",
		"deadline.yaml": "no payload key",
		"call.yaml":     "no payload key",
	} {
		var out, errb bytes.Buffer
		code := Main([]string{"run", filepath.Join(dir, name), "--temporal", "127.0.0.1:1", "--on", "web1:/a"}, &out, &errb, func(string) string { return "" })
		if code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("run %s = exit %d, %q; want exit 2 and %q", name, code, errb.String(), want)
		}
	}
}

// TestNoServer: with a key but no server, commands fail (exit 1) naming
// the address, and the worker opens its repositories' stores first.
func TestNoServer(t *testing.T) {
	addr := testkit.FreeAddr(t)
	repo := testkit.GitRepo(t, map[string]string{"a": "a\n"})
	env := func(k string) string {
		if k == "RBFLOW_TEMPORAL_KEY" {
			return strings.Repeat("0f", 32)
		}
		return ""
	}
	for _, args := range [][]string{
		{"run", "emergency", "--temporal", addr, "--on", "web1:/srv/app"},
		{"status", "20261130-120000-abcdef", "--temporal", addr},
		{"worker", "--temporal", addr, "--host", "web1", "--repo", repo},
	} {
		var out, errb bytes.Buffer
		code := Main(args, &out, &errb, env)
		if code != 1 || !strings.Contains(errb.String(), "connect to Temporal at "+addr) {
			t.Errorf("rbflow %s = exit %d, %q; want exit 1: connect to Temporal at %s", strings.Join(args, " "), code, errb.String(), addr)
		}
	}
}

// TestMain lets a worker's steps start this binary as their supervisor.
func TestMain(m *testing.M) {
	testkit.Main()
	os.Exit(m.Run())
}

// TestEndedAfterCancel: rbflow cancel exits 0 when the targets ended
// cancelled as it asked, 1 when a finally step failed; rbflow run exits
// 1 for a cancelled target.
func TestEndedAfterCancel(t *testing.T) {
	target := fleet.Target{Host: "web1", Path: "/srv/app"}
	cancelled := &fleet.Outcome{RunID: "R-1", Target: target, Status: engine.RunCancelled, Steps: []*engine.StepRecord{
		{StepID: "hang", Section: spec.SectionMain, Status: engine.StepCancelled, Conclusion: engine.StepCancelled},
		{StepID: "fin", Section: spec.SectionFinally, Status: engine.StepSucceeded, Conclusion: engine.StepSucceeded},
	}}
	finFailed := &fleet.Outcome{RunID: "R-1", Target: target, Status: engine.RunCancelled, Steps: []*engine.StepRecord{
		{StepID: "fin", Section: spec.SectionFinally, Status: engine.StepFailed, Conclusion: engine.StepFailed},
	}}
	for _, tc := range []struct {
		cancelling bool
		out        *fleet.Outcome
		want       int
	}{
		{true, cancelled, exitOK},
		{true, finFailed, exitFailed},
		{false, cancelled, exitFailed},
	} {
		var out bytes.Buffer
		a := &app{stdout: &out, cancelling: tc.cancelling}
		code := exitOK
		var exit *exitError
		if err := a.ended("R", []*fleet.Outcome{tc.out}); errors.As(err, &exit) {
			code = exit.code
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.want {
			t.Errorf("cancelling %v, %s: exit %d, want %d\n%s", tc.cancelling, tc.out.Steps[len(tc.out.Steps)-1].Status, code, tc.want, out.String())
		}
	}
}

// TestEndedWarnings: a target whose run succeeded while a
// continue_on_error step failed says so with the step, as a local run
// does, and exits 0.
func TestEndedWarnings(t *testing.T) {
	o := &fleet.Outcome{RunID: "R-1", Target: fleet.Target{Host: "web1", Path: "/srv/app"}, Status: engine.RunSucceeded, Steps: []*engine.StepRecord{
		{StepID: "verify", Section: spec.SectionMain, Status: engine.StepFailed, Outcome: engine.StepFailed, Conclusion: engine.StepSucceeded, Error: "exit status 3"},
		{StepID: "fin", Section: spec.SectionFinally, Status: engine.StepSucceeded, Outcome: engine.StepSucceeded, Conclusion: engine.StepSucceeded},
	}}
	var out bytes.Buffer
	a := &app{stdout: &out}
	if err := a.ended("R", withWarnings([]*fleet.Outcome{o})); err != nil {
		t.Fatalf("exit: %v, want 0", err)
	}
	for _, want := range []string{"web1:/srv/app  run R-1 succeeded with 1 warning\n", "web1:/srv/app  ⚠ step verify failed (continue_on_error): exit status 3\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if got := stepStatus(o.Steps[0]); got != "failed (continued)" {
		t.Errorf("verify shown %q, want failed (continued)", got)
	}
}

// TestStepLine: a step's line says its status and why once ("skipped:
// skipped: ..." was printed for every step skipped after a failure).
func TestStepLine(t *testing.T) {
	for _, tc := range []struct {
		rec  engine.StepRecord
		want string
	}{
		{engine.StepRecord{Status: engine.StepSkipped, Error: "skipped: an earlier step failed"}, "skipped: an earlier step failed"},
		{engine.StepRecord{Status: engine.StepSkipped}, "skipped"},
		{engine.StepRecord{Status: engine.StepFailed, Outcome: engine.StepFailed, Conclusion: engine.StepFailed, Error: "exit status 3\nmore"}, "failed: exit status 3"},
		{engine.StepRecord{Status: engine.StepFailed, Outcome: engine.StepFailed, Conclusion: engine.StepSucceeded, Error: "exit status 1"}, "failed (continued): exit status 1"},
		{engine.StepRecord{Status: engine.StepCancelled, Error: "cancelled while it ran"}, "cancelled: cancelled while it ran"},
		{engine.StepRecord{Status: engine.StepSucceeded, Error: "retried: exit status 1"}, "succeeded"},
	} {
		if got := stepLine(&tc.rec); got != tc.want {
			t.Errorf("stepLine(%s, %q) = %q, want %q", tc.rec.Status, tc.rec.Error, got, tc.want)
		}
	}
}

// TestErrMessage: an error the workflow returned (an answer it refused)
// is shown by its message, without the SDK's "(type: ..., retryable: ...)".
func TestErrMessage(t *testing.T) {
	err := fmt.Errorf("update: %w", temporal.NewApplicationError(`--answer go=maybe: "maybe" is not a yes or no`, "usageError"))
	if got, want := errMessage(err), `--answer go=maybe: "maybe" is not a yes or no`; got != want {
		t.Errorf("errMessage = %q, want %q", got, want)
	}
	if got := errMessage(errors.New("plain")); got != "plain" {
		t.Errorf("errMessage(plain) = %q", got)
	}
}

// TestRunErrorOtherKey: a run whose workers have another payload key fails
// with an error this command cannot open; it says so, with its key's id,
// instead of the SDK's "Encoded failure".
func TestRunErrorOtherKey(t *testing.T) {
	a := &app{keyID: "48c3fe9a"}
	err := a.runError("R", errors.New("workflow execution error (type: , workflowID: rbflow/incident/R): Encoded failure (type: wrapError, retryable: true): Encoded failure"))
	if want := "run R failed, and why is sealed with a payload key other than this command's (key 48c3fe9a): the workers have another key"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want %q", err, want)
	}
	if err := a.runError("R", errors.New("boom")); err.Error() != "run R: boom" {
		t.Errorf("error %q, want run R: boom", err)
	}
}

// TestStatusJSON: status --json gives each target's run with the keys of a
// local status --json (SPEC §3: id, procedure, status, started_at,
// ended_at, steps), and the incident and target; it printed Go's field
// names (RunID, StepID, ...) and internals (PID, LogPath).
func TestStatusJSON(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	o := &fleet.Outcome{RunID: "R-1", Procedure: "p", Target: fleet.Target{Host: "web1", Path: "/srv/app"}, Status: engine.RunRunning, StartedAt: start,
		Steps: []*engine.StepRecord{{StepID: "a", Section: spec.SectionMain, Status: engine.StepSucceeded, StartedAt: start, EndedAt: start.Add(time.Second), Attempts: 1, PID: 42, LogPath: "/x"}}}
	b, err := json.Marshal(toJSON("R", o))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"incident": "R", "target": "web1:/srv/app", "repo": "/srv/app", "id": "R-1", "procedure": "p", "status": "running", "started_at": "2026-11-30T12:00:00Z", "ended_at": nil} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v\n%s", k, v, ok, want, b)
		}
	}
	steps, _ := got["steps"].([]any)
	if len(steps) != 1 {
		t.Fatalf("steps = %v", got["steps"])
	}
	st := steps[0].(map[string]any)
	if st["id"] != "a" || st["status"] != "succeeded" || st["ended_at"] != "2026-11-30T12:00:01Z" || st["attempts"] != 1.0 {
		t.Errorf("step = %v", st)
	}
	for _, k := range []string{"PID", "pid", "LogPath", "StepID"} {
		if _, ok := st[k]; ok {
			t.Errorf("step has %s: %s", k, b)
		}
	}
}

// TestEndedLockedOut: a target whose run failed at a step because a local
// run held the repository's lock exits 3, as a local run finding the lock
// held; another failure exits 1.
func TestEndedLockedOut(t *testing.T) {
	locked := (&engine.LockError{Path: "/srv/app/.git/rbflow/lock", RunID: "L"}).Error()
	for _, tc := range []struct {
		err  string
		want int
	}{{locked, exitLocked}, {"exit status 3", exitFailed}} {
		o := &fleet.Outcome{RunID: "R-1", Target: fleet.Target{Host: "web1", Path: "/srv/app"}, Status: engine.RunFailed, FailedStep: "one",
			Steps: []*engine.StepRecord{{StepID: "one", Status: engine.StepFailed, Conclusion: engine.StepFailed, Error: tc.err}}}
		var out bytes.Buffer
		code := exitOK
		var exit *exitError
		if err := (&app{stdout: &out}).ended("R", []*fleet.Outcome{o}); errors.As(err, &exit) {
			code = exit.code
		}
		if code != tc.want {
			t.Errorf("failed at one with %q: exit %d, want %d", tc.err, code, tc.want)
		}
	}
}
