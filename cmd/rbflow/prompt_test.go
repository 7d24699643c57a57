package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rbflow/rbflow/engine/testkit"
)

const askProcedure = `version: 1
name: ask
steps:
  - id: target
    prompt: Roll back which environment?
    with: {choices: [staging, production]}
  - id: go
    prompt: Reset ${{ steps.target.outputs.answer }} to baseline?
    with: {type: confirm}
  - id: why
    prompt: Reason for the rollback?
    with: {default: unknown}
  - id: done
    run: echo answers ${{ steps.target.outputs.answer }} ${{ steps.go.outputs.confirmed }} ${{ steps.why.outputs.answer }} > answers.txt
`

var resumeCmdRE = regexp.MustCompile(`rbflow resume (\S+) --answer (\S+)`)

// TestPromptWaitsThenResumes: without a terminal and without an answer the
// run stops with exit 4 and prints the command that answers; running that
// command goes on, and --yes answers the confirm.
func TestPromptWaitsThenResumes(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), askProcedure)
	_, stderr, code := rbflow(t, repo, "run", "p.yaml", "--answer", "why=disk full")
	if code != 4 {
		t.Fatalf("run: exit %d, want 4\n%s", code, stderr)
	}
	m := resumeCmdRE.FindStringSubmatch(stderr)
	if m == nil || m[2] != "target=staging" || !strings.Contains(stderr, "step target asks \"Roll back which environment?\"") ||
		!strings.Contains(stderr, "(the answer one of: staging, production)") {
		t.Fatalf("run stderr does not name the resume command:\n%s", stderr)
	}
	runID := m[1]

	// The exact command printed, with the other choice.
	_, stderr, code = rbflow(t, repo, "resume", runID, "--answer", "target=production")
	if code != 4 || !strings.Contains(stderr, "rbflow resume "+runID+" --answer go=yes (or go=no)") {
		t.Fatalf("resume: exit %d, want 4 at the confirm\n%s", code, stderr)
	}
	stdout, stderr, code := rbflow(t, repo, "resume", "--yes")
	if code != 0 {
		t.Fatalf("resume --yes: exit %d\n%s%s", code, stdout, stderr)
	}
	// why was answered by the first run's --answer, stored with the run.
	b, err := os.ReadFile(filepath.Join(repo, "answers.txt"))
	if err != nil || string(b) != "answers production true disk full\n" {
		t.Errorf("answers.txt = %q, %v", b, err)
	}
	stdout, _, _ = rbflow(t, repo, "status", runID)
	if !regexp.MustCompile(`target +succeeded .*answer=production`).MatchString(stdout) {
		t.Errorf("status:\n%s", stdout)
	}
}

// TestRunStoresAnswers: --answer values given to run are stored with the
// run at its start, so a resume after a failure still has them.
func TestRunStoresAnswers(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), `version: 1
name: stored
steps:
  - id: flaky
    run: test -e fixed
  - id: why
    prompt: Reason?
  - id: done
    run: echo ${{ steps.why.outputs.answer }} > why.txt
`)
	if _, stderr, code := rbflow(t, repo, "run", "p.yaml", "--answer", "why=tests red"); code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s", code, stderr)
	}
	testkit.WriteFile(t, filepath.Join(repo, "fixed"), "")
	if _, stderr, code := rbflow(t, repo, "resume"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "why.txt")); string(b) != "tests red\n" {
		t.Errorf("why.txt = %q, want the answer given to run", b)
	}
}

// TestPromptTerminal runs rbflow on a pseudo-terminal: the live view pauses,
// the choices are numbered, a wrong reply is asked again, Enter takes the
// default.
func TestPromptTerminal(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), askProcedure)
	cmd := rbflowCmd(t, repo, "run", "p.yaml")
	cmd.Env = append(cmd.Env, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
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
	send := func(after, line string) {
		t.Helper()
		testkit.WaitFor(t, 20*time.Second, "the prompt "+after, func() bool { return strings.Contains(out.String(), after) })
		if _, err := tty.Write([]byte(line + "\r")); err != nil {
			t.Fatal(err)
		}
	}
	send("choose 1-2: ", "3")
	send("\"3\" is not one of staging, production", "2")
	send("[y/n] ", "maybe")
	send("\"maybe\" is not a yes or no", "y")
	send("answer (default unknown): ", "")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		t.Fatalf("rbflow did not finish; output:\n%s", out.String())
	}
	<-copied
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, out.String())
	}
	text := out.String()
	t.Logf("terminal output: %q", text)
	for _, want := range []string{
		"? Roll back which environment?  (step target)\r\n  1) staging\r\n  2) production\r\n",
		"? Reset production to baseline?  (step go)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%q", want, text)
		}
	}
	if b, err := os.ReadFile(filepath.Join(repo, "answers.txt")); err != nil || string(b) != "answers production true unknown\n" {
		t.Errorf("answers.txt = %q, %v", b, err)
	}
}

// TestReportAfterSIGINT: Ctrl-C during a step; the summary in finally
// reports the run interrupted, the step cut off, and its timeline.
func TestReportAfterSIGINT(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	started := filepath.Join(t.TempDir(), "started")
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), `version: 1
name: cut
env: {STARTED: `+started+`}
steps:
  - id: first
    run: "true"
  - id: long
    run: touch "$STARTED"; sleep 60
  - id: never
    run: "true"
finally:
  - id: summary
    report: reports/summary.md
`)
	cmd := rbflowCmd(t, repo, "run", "p.yaml", "--grace", "1s")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the long step", func() bool { _, err := os.Stat(started); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d, want 130\n%s", code, out.String())
	}
	b, err := os.ReadFile(filepath.Join(repo, "reports/summary.md"))
	if err != nil {
		t.Fatalf("no report: %v\n%s", err, out.String())
	}
	report := string(b)
	for _, want := range []string{
		" interrupted\n",
		"| `long` | run | ⏸️ interrupted |",
		"| `never` | run | · not run |",
		"```mermaid\ngantt\n    title cut run ",
		"    dateFormat YYYY-MM-DD HH:mm:ss.SSS\n",
		"    section steps\n    first succeeded :done, s_first, ",
		"    long interrupted :active, s_long, ",
		"    section finally\n    summary running :active, s_summary, ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

// TestReportsTickChecklist: the built-in analysis and notification reports
// work with rbflow checklist: an analysis report ticks "analysis", and
// "lessons" only once the lessons are written instead of the placeholder.
func TestReportsTickChecklist(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	writeApproved(t, repo, filepath.Join(repo, "p.yaml"), `version: 1
name: reports
params:
  lessons: {type: string, default: ""}
steps:
  - id: analysis
    report: rollbacks/analysis.md
    with: {kind: analysis}
  - id: note
    report: rollbacks/notification.md
    with: {kind: notification}
`)
	for _, tc := range []struct {
		lessons string
		ticked  bool
	}{{"", false}, {"Pin the dependency versions.", true}} {
		if out, errOut, code := rbflow(t, repo, "run", "p.yaml", "--set", "lessons="+tc.lessons); code != 0 {
			t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code := rbflow(t, repo, "checklist")
		if code != 0 {
			t.Fatalf("checklist: exit %d\n%s", code, errOut)
		}
		marks := checkMarks(t, out)
		if !marks["analysis"] || marks["lessons"] != tc.ticked {
			t.Errorf("lessons %q: analysis %v, lessons %v; want true, %v\n%s", tc.lessons, marks["analysis"], marks["lessons"], tc.ticked, out)
		}
	}
}
