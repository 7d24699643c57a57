package main

import (
	"encoding/json"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rbflow/rbflow/engine/testkit"
)

// me is who the tests' rbflow processes run as, and where; as recorded
// when SUDO_USER names someone else.
func me(t *testing.T) (name, host string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if host, err = os.Hostname(); err != nil {
		t.Fatal(err)
	}
	return u.Username, host
}

// statusJSON runs status --json on a run and decodes it.
func statusJSON(t *testing.T, repo, id string) runJSON {
	t.Helper()
	out, stderr, code := query(t, repo, "status", id, "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d\n%s", code, stderr)
	}
	var r runJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return r
}

const approveProcedure = `version: 1
name: approve
steps:
  - id: go
    prompt: Reset production to baseline?
    with: {type: confirm, wait: 10m, default: "no"}
  - id: reset
    if: steps.go.outputs.confirmed
    run: echo approved > approved.txt
finally:
  - id: summary
    report: summary.md
    with: {kind: summary}
`

var answerCmdRE = regexp.MustCompile(`rbflow answer (\S+) go=yes \(or go=no\)`)

// TestAnswerFromAnotherShell: a run without a terminal waits on a prompt
// with a wait; a second process answers it with rbflow answer. Answers
// the prompt cannot take, and answers for steps that are not waiting
// prompts, are refused with exit 2 and change nothing. The answer is
// taken, and status, status --json and the summary say who gave it.
func TestAnswerFromAnotherShell(t *testing.T) {
	t.Parallel()
	name, host := me(t)
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), approveProcedure)
	cmd := rbflowCmd(t, repo, "run", "p.yaml")
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	finished := false
	defer func() {
		if !finished {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}()
	testkit.WaitFor(t, 30*time.Second, "the prompt to say how to answer it", func() bool { return answerCmdRE.MatchString(stderr.String()) })
	id := answerCmdRE.FindStringSubmatch(stderr.String())[1]
	for _, want := range []string{
		`step go waits for an answer to "Reset production to baseline?" (on ` + host + `, rbflow pid `,
		", repository " + repo + ") for up to 10m0s, then takes its default no; answer from another shell with: rbflow answer " + id + " go=yes (or go=no)",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the waiting run does not say %q:\n%s", want, stderr.String())
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"answer", id, "go=perhaps"}, `rbflow: go=perhaps: "perhaps" is not a yes or no: answer y, yes, true, n, no or false; nothing was recorded`},
		{[]string{"answer", id, "reset=yes"}, "step reset of run " + id + " is not a prompt waiting for an answer (waiting: go); nothing was recorded"},
		{[]string{"answer", "19990101-000000-000000", "go=yes"}, `no run "19990101-000000-000000"`},
		{[]string{"answer", id, "go"}, "answer takes STEP=VALUE after the run id"},
	} {
		_, errOut, code := rbflow(t, repo, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("rbflow %s: exit %d, want 2 and %q\n%s", strings.Join(c.args, " "), code, c.want, errOut)
		}
	}
	if r := statusJSON(t, repo, id); len(r.Answers) != 0 || r.Status != "running" {
		t.Fatalf("after refused answers the run is %s with answers %+v, want running with none", r.Status, r.Answers)
	}

	// A unique prefix of the id names the run, as elsewhere.
	answer := rbflowCmd(t, repo, "answer", id[:len(id)-2], "go=Y")
	answer.Env = append(answer.Env, "SUDO_USER=alice-approver")
	out, err := answer.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "run "+id+" took the answer go=yes and goes on") {
		t.Fatalf("rbflow answer: %v\n%s", err, out)
	}
	select {
	case err := <-done:
		finished = true
		if err != nil {
			t.Fatalf("run: %v\n%s%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the run did not finish after the answer\n%s%s", stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(repo, "approved.txt")); err != nil {
		t.Errorf("the step after the approval did not run: %v", err)
	}

	approver := "alice-approver (sudo as " + name + ")"
	r := statusJSON(t, repo, id)
	if r.Status != "succeeded" || r.User != name || r.Host != host {
		t.Errorf("status --json: %s, user %q, host %q; want succeeded, %q, %q", r.Status, r.User, r.Host, name, host)
	}
	for _, st := range r.Steps {
		if st.User != name || st.Host != host {
			t.Errorf("step %s ran by %q on %q, want %q on %q", st.ID, st.User, st.Host, name, host)
		}
		if st.ID == "go" && (st.Outputs["answer"] != "yes" || st.Outputs["source"] != "command") {
			t.Errorf("go outputs = %v, want answer yes from command", st.Outputs)
		}
	}
	if len(r.Answers) != 1 {
		t.Fatalf("status --json answers = %+v, want one", r.Answers)
	}
	a := r.Answers[0]
	if a.Step != "go" || a.Value != "yes" || a.Source != "command" || a.User != approver || a.Host != host ||
		a.Question != "Reset production to baseline?" || !strings.HasPrefix(a.Via, "rbflow answer, pid ") || a.At == nil {
		t.Errorf("status --json answer = %+v, want go=yes from rbflow answer by %q on %q", a, approver, host)
	}
	plain, _, _ := query(t, repo, "status", id)
	if want := "go: yes, by " + approver + " on " + host + " at "; !strings.Contains(plain, want) || !strings.Contains(plain, "from rbflow answer, pid ") {
		t.Errorf("status does not say who answered (%q):\n%s", want, plain)
	}
	summary, err := os.ReadFile(filepath.Join(repo, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "| `go` | Reset production to baseline? | yes | " + approver + " on " + host + " | "; !strings.Contains(string(summary), want) {
		t.Errorf("the summary does not list the approval (%q):\n%s", want, summary)
	}

	_, errOut, code := rbflow(t, repo, "answer", id, "go=no")
	if code != 2 || !strings.Contains(errOut, "it waits for no answer") {
		t.Errorf("answering a finished run: exit %d, want 2\n%s", code, errOut)
	}
}

// TestPromptWaitTimesOut: nobody answers a prompt that waits; when the wait
// runs out it takes its default, recorded as answered by "timeout". A
// prompt without a default stops the run (exit 4) instead, and an answer
// recorded then is taken by rbflow resume.
func TestPromptWaitTimesOut(t *testing.T) {
	t.Parallel()
	_, host := me(t)
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), strings.Replace(approveProcedure, "wait: 10m", "wait: 1s", 1))
	stdout, stderr, code := rbflow(t, repo, "run", "p.yaml")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "for up to 1s, then takes its default no") || !strings.Contains(stdout, "go | > no (from the default: nobody answered in time)") {
		t.Errorf("the run does not say it waits and took the default:\n%s%s", stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(repo, "approved.txt")); err == nil {
		t.Errorf("the step that needs a yes ran after a timeout took no")
	}
	r := statusJSON(t, repo, lastRunID(t, repo))
	if len(r.Answers) != 1 || r.Answers[0].Value != "no" || r.Answers[0].Source != "timeout" || r.Answers[0].User != "timeout" || r.Answers[0].Host != host {
		t.Errorf("status --json answers = %+v, want go=no by timeout on %s", r.Answers, host)
	}
	for _, st := range r.Steps {
		if st.ID == "go" && (st.Outputs["source"] != "timeout" || st.Outputs["confirmed"] != false) {
			t.Errorf("go outputs = %v", st.Outputs)
		}
	}

	writeApproved(t, repo, filepath.Join(repo, "nodefault.yaml"), `version: 1
name: nodefault
steps:
  - id: why
    prompt: Reason for the rollback?
    with: {wait: 1s}
  - id: done
    run: printf '%s\n' ${{ steps.why.outputs.answer }} > why.txt
`)
	_, stderr, code = rbflow(t, repo, "run", "nodefault.yaml")
	if code != 4 || !strings.Contains(stderr, "nobody answered within 1s and it has no default") {
		t.Fatalf("run without a default: exit %d, want 4\n%s", code, stderr)
	}
	id := lastRunID(t, repo)
	out, errOut, code := rbflow(t, repo, "answer", id, "why=disk full")
	if code != 0 || !strings.Contains(out, "recorded the answer why='disk full' for run "+id+", which is waiting; go on with: rbflow resume "+id) {
		t.Fatalf("answer: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := rbflow(t, repo, "resume", id); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "why.txt")); string(b) != "disk full\n" {
		t.Errorf("why.txt = %q", b)
	}
}

// TestAnswerStoppedRun: a run that stopped at a prompt (exit 4) gets its
// answers from rbflow answer; rbflow resume takes them without --answer.
// An answer the prompt cannot take is refused and not recorded; a hostile
// answer stays data.
func TestAnswerStoppedRun(t *testing.T) {
	t.Parallel()
	name, host := me(t)
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), `version: 1
name: stopped
steps:
  - id: env
    prompt: Roll back which environment?
    with: {choices: [staging, production]}
  - id: why
    prompt: Reason?
  - id: done
    run: printf '%s|%s\n' ${{ steps.env.outputs.answer }} ${{ steps.why.outputs.answer }} > answers.txt
`)
	_, stderr, code := rbflow(t, repo, "run", "p.yaml")
	if code != 4 || !strings.Contains(stderr, "record the answer with rbflow answer ") {
		t.Fatalf("run: exit %d, want 4 naming rbflow answer\n%s", code, stderr)
	}
	id := lastRunID(t, repo)
	if _, errOut, code := rbflow(t, repo, "answer", id, "env=qa"); code != 2 || !strings.Contains(errOut, `"qa" is not one of staging, production; nothing was recorded`) {
		t.Errorf("answer env=qa: exit %d, want 2\n%s", code, errOut)
	}
	if _, errOut, code := rbflow(t, repo, "answer", id, "why=too early"); code != 2 || !strings.Contains(errOut, "step why of run "+id+" is not a prompt waiting for an answer (waiting: env)") {
		t.Errorf("answer for a prompt not asked yet: exit %d, want 2\n%s", code, errOut)
	}
	if r := statusJSON(t, repo, id); len(r.Answers) != 0 {
		t.Fatalf("refused answers were recorded: %+v", r.Answers)
	}
	plain, _, _ := query(t, repo, "status", id)
	if !strings.Contains(plain, `env asks "Roll back which environment?" since `) || !strings.Contains(plain, "answer with: rbflow answer "+id+" env=VALUE") {
		t.Errorf("status does not show the waiting prompt:\n%s", plain)
	}

	out, errOut, code := rbflow(t, repo, "answer", id, "env=Production")
	if code != 0 || !strings.Contains(out, "recorded the answer env=production for run "+id+", which is waiting; go on with: rbflow resume "+id) {
		t.Fatalf("answer env: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := rbflow(t, repo, "resume", id); code != 4 || !strings.Contains(errOut, "step why asks") {
		t.Fatalf("resume: exit %d, want 4 at why\n%s", code, errOut)
	}
	hostile := `it's $(touch pwned) "x"; rm -rf ~`
	if out, errOut, code := rbflow(t, repo, "answer", id, "why="+hostile); code != 0 {
		t.Fatalf("answer why: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := rbflow(t, repo, "resume", id); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "answers.txt")); string(b) != "production|"+hostile+"\n" {
		t.Errorf("answers.txt = %q", b)
	}
	if _, err := os.Stat(filepath.Join(repo, "pwned")); err == nil {
		t.Errorf("the answer ran as code")
	}
	r := statusJSON(t, repo, id)
	if len(r.Answers) != 2 {
		t.Fatalf("answers = %+v, want env and why", r.Answers)
	}
	for _, a := range r.Answers {
		if a.Source != "command" || a.User != name || a.Host != host || !strings.HasPrefix(a.Via, "rbflow answer, pid ") {
			t.Errorf("answer %+v, want from rbflow answer by %s on %s", a, name, host)
		}
	}
}

// TestUndoRecordsWho: an undo is a run, recorded with the user (through
// sudo too) and host that ran it and its steps.
func TestUndoRecordsWho(t *testing.T) {
	t.Parallel()
	name, host := me(t)
	repo := testkit.GitRepo(t, map[string]string{"kept.txt": "kept\n"})
	testkit.WriteFile(t, filepath.Join(repo, "scratch.txt"), "work in progress\n")
	proc := filepath.Join(t.TempDir(), "clean.yaml")
	testkit.WriteFile(t, proc, "version: 1\nname: clean\nsteps:\n  - id: clean\n    git: clean\n")
	if out, errOut, code := rbflow(t, repo, "run", proc); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, repo)
	if _, err := os.Stat(filepath.Join(repo, "scratch.txt")); err == nil {
		t.Fatal("clean left scratch.txt")
	}
	undo := rbflowCmd(t, repo, "undo", id)
	undo.Env = append(undo.Env, "SUDO_USER=carol-undoer")
	if out, err := undo.CombinedOutput(); err != nil {
		t.Fatalf("undo: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "scratch.txt")); string(b) != "work in progress\n" {
		t.Fatalf("undo did not bring scratch.txt back: %q", b)
	}
	undoID := lastRunID(t, repo)
	runs, _, _ := query(t, repo, "runs", "--json")
	var undoRun, cleanRun runJSON
	for _, line := range strings.Split(strings.TrimSpace(runs), "\n") {
		var r runJSON
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("runs --json: %v\n%s", err, runs)
		}
		switch r.ID {
		case undoID:
			undoRun = r
		case id:
			cleanRun = r
		}
	}
	undoer := "carol-undoer (sudo as " + name + ")"
	if undoRun.Procedure != "undo" || undoRun.User != undoer || undoRun.Host != host {
		t.Errorf("runs --json undo run = %+v, want procedure undo by %q on %q", undoRun, undoer, host)
	}
	if cleanRun.User != name || cleanRun.Host != host {
		t.Errorf("runs --json rolled-back run = %+v, want by %q on %q", cleanRun, name, host)
	}
	r := statusJSON(t, repo, undoID)
	if len(r.Steps) == 0 {
		t.Fatalf("undo run has no steps")
	}
	for _, st := range r.Steps {
		if st.User != undoer || st.Host != host {
			t.Errorf("undo step %s by %q on %q, want %q on %q", st.ID, st.User, st.Host, undoer, host)
		}
	}
}

// TestAnswerWhileTerminalAsks: a run asks on its terminal; the answer given
// with rbflow answer from another shell ends the question there, and the
// run goes on with it.
func TestAnswerWhileTerminalAsks(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), `version: 1
name: onterminal
steps:
  - id: go
    prompt: Reset production to baseline?
    with: {type: confirm}
  - id: done
    run: echo ${{ steps.go.outputs.confirmed }} > answers.txt
`)
	cmd := rbflowCmd(t, repo, "run", "p.yaml")
	cmd.Env = append(cmd.Env, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out syncBuffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, tty) // ends with EIO when rbflow exits
		close(copied)
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	finished := false
	defer func() {
		if !finished {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}()
	testkit.WaitFor(t, 30*time.Second, "the question on the terminal", func() bool { return strings.Contains(out.String(), "[y/n] ") })
	id := lastRunID(t, repo)
	answer := rbflowCmd(t, repo, "answer", id, "go=yes")
	if b, err := answer.CombinedOutput(); err != nil || !strings.Contains(string(b), "run "+id+" took the answer go=yes") {
		t.Fatalf("rbflow answer: %v\n%s", err, b)
	}
	select {
	case err := <-done:
		finished = true
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the run did not finish after the answer:\n%s", out.String())
	}
	<-copied
	if b, _ := os.ReadFile(filepath.Join(repo, "answers.txt")); string(b) != "true\n" {
		t.Errorf("answers.txt = %q; terminal:\n%s", b, out.String())
	}
	if r := statusJSON(t, repo, id); len(r.Answers) != 1 || r.Answers[0].Source != "command" {
		t.Errorf("answers = %+v, want go from rbflow answer", r.Answers)
	}
}
