package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestInterruptStopsGroupRunsFinallyAndResumes: Ctrl-C during a long step
// stops its whole process group within the grace period, runs finally,
// exits 130, and the run resumes.
func TestInterruptStopsGroupRunsFinallyAndResumes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, trap string
	}{
		{"step exits on SIGTERM", `trap 'echo got-term >> "$MARKS"; exit 143' TERM`},
		{"step ignores SIGTERM", `trap '' TERM`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := testkit.GitRepo(t, nil)
			aux := t.TempDir()
			marks, pids, counter := filepath.Join(aux, "marks"), filepath.Join(aux, "pids"), filepath.Join(aux, "counter")
			procFile := filepath.Join(aux, "p.yaml")
			testkit.WriteFile(t, procFile, fmt.Sprintf(`version: 1
name: interrupt
env: {MARKS: %q, PIDS: %q, COUNTER: %q}
steps:
  - id: first
    run: echo first >> "$MARKS"
  - id: long
    run: |
      %s
      n=$(cat "$COUNTER" 2>/dev/null || echo 0); echo $((n+1)) > "$COUNTER"
      echo long-start >> "$MARKS"
      echo $$ >> "$PIDS"
      if [ "$n" = 0 ]; then
        sleep 60 & echo $! >> "$PIDS"
        wait $! || true
        sleep 60 & echo $! >> "$PIDS"
        wait $! || true
      fi
      echo long-done >> "$MARKS"
  - id: last
    run: echo last >> "$MARKS"
finally:
  - id: fin
    run: echo fin >> "$MARKS"
`, marks, pids, counter, tc.trap))
			// The grace is also all the time finally gets after the signal: on
			// a busy machine, starting the finally step can take a second.
			cmd := rbflowCmd(t, repo, "run", procFile, "--grace", "3s")
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, 10*time.Second, "the long step to start", func() bool {
				return strings.Contains(strings.Join(readLines(t, marks), " "), "long-start") && len(readLines(t, pids)) >= 2
			})
			sent := time.Now()
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			took := time.Since(sent)
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Fatalf("exit code = %d (%v), want 130\n%s", code, err, out.String())
			}
			if took > 15*time.Second {
				t.Errorf("rbflow took %s to stop after SIGINT with a 3s grace period (the step sleeps 60s)", took)
			}
			assertNoOrphans(t, pids)
			got := strings.Join(readLines(t, marks), " ")
			if !strings.Contains(got, "fin") {
				t.Errorf("finally did not run after SIGINT: marks = %q", got)
			}
			if strings.Contains(got, "last") {
				t.Errorf("a step after the interrupted one ran: marks = %q", got)
			}
			if !strings.Contains(out.String(), "rbflow resume") {
				t.Errorf("output does not say how to resume:\n%s", out.String())
			}

			stdout, stderr, code := rbflow(t, repo, "resume")
			if code != 0 {
				t.Fatalf("resume exit %d\n%s%s", code, stdout, stderr)
			}
			got = strings.Join(readLines(t, marks), " ")
			if strings.Count(got, "first") != 1 {
				t.Errorf("the step before the interruption ran again: marks = %q", got)
			}
			if !strings.HasSuffix(got, "long-done last fin") {
				t.Errorf("marks after resume = %q, want ... long-done last fin", got)
			}
		})
	}
}

// TestOneRunPerRepository: a second run on the same repository exits 3 and
// names the holder; on another repository it runs.
func TestOneRunPerRepository(t *testing.T) {
	t.Parallel()
	repo, other := testkit.GitRepo(t, nil), testkit.GitRepo(t, nil)
	aux := t.TempDir()
	gate := filepath.Join(aux, "gate")
	procFile := filepath.Join(aux, "p.yaml")
	testkit.WriteFile(t, procFile, fmt.Sprintf(`version: 1
name: hold
steps:
  - id: wait_gate
    run: |
      echo waiting
      while [ ! -e %q ]; do sleep 0.05; done
`, gate))
	quick := filepath.Join(aux, "quick.yaml")
	testkit.WriteFile(t, quick, "version: 1\nname: quick\nsteps:\n  - id: hi\n    run: echo hi\n")

	holder := rbflowCmd(t, repo, "run", procFile, "--json")
	var hout syncBuffer
	holder.Stdout, holder.Stderr = &hout, &hout
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = os.WriteFile(gate, nil, 0o644)
		_ = holder.Wait()
	}()
	testkit.WaitFor(t, 10*time.Second, "the first run to start its step", func() bool {
		return strings.Contains(hout.String(), `"step_started"`)
	})
	runID := between(hout.String(), `"run_id":"`, `"`)

	_, stderr, code := rbflow(t, repo, "run", quick)
	if code != 3 {
		t.Fatalf("second run on the same repository: exit %d, want 3\n%s", code, stderr)
	}
	if !strings.Contains(stderr, runID) || !strings.Contains(stderr, fmt.Sprint(holder.Process.Pid)) {
		t.Errorf("lock message does not name run %s and pid %d:\n%s", runID, holder.Process.Pid, stderr)
	}
	if _, stderr, code := rbflow(t, other, "run", quick); code != 0 {
		t.Errorf("run on another repository: exit %d, want 0\n%s", code, stderr)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("first run: %v\n%s", err, hout.String())
	}
	if _, stderr, code := rbflow(t, repo, "run", quick); code != 0 {
		t.Errorf("run after the lock was released: exit %d\n%s", code, stderr)
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}

// TestEditAndResume: a run fails on a wrong command; the file is fixed and
// resume --reload runs the fixed step and what follows, not what came before.
func TestEditAndResume(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	marks := filepath.Join(aux, "marks")
	procFile := filepath.Join(aux, "p.yaml")
	text := fmt.Sprintf(`version: 1
name: edit
env: {MARKS: %q}
steps:
  - id: before
    run: echo before >> "$MARKS"
  - id: broken
    run: echo broken >> "$MARKS" && no-such-command-xyz
  - id: after
    run: echo after >> "$MARKS"
`, marks)
	testkit.WriteFile(t, procFile, text)
	_, stderr, code := rbflow(t, repo, "run", procFile)
	if code != 1 {
		t.Fatalf("run with a wrong command: exit %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "broken") {
		t.Errorf("failure message does not name the step:\n%s", stderr)
	}
	testkit.WriteFile(t, procFile, strings.Replace(text, "&& no-such-command-xyz", "&& echo fixed >> \"$MARKS\"", 1))

	// Without --reload, resume keeps the text the run started with and says so.
	_, stderr, code = rbflow(t, repo, "resume")
	if code != 1 || !strings.Contains(stderr, "--reload") {
		t.Errorf("resume without --reload: exit %d, want 1 and a hint about --reload\n%s", code, stderr)
	}
	_, stderr, code = rbflow(t, repo, "resume", "--reload")
	if code != 0 {
		t.Fatalf("resume --reload: exit %d\n%s", code, stderr)
	}
	got := strings.Join(readLines(t, marks), " ")
	if want := "before broken broken broken fixed after"; got != want {
		t.Errorf("marks = %q, want %q", got, want)
	}
	stdout, _, _ := rbflow(t, repo, "status", "--json")
	if !strings.Contains(stdout, `"status": "succeeded"`) {
		t.Errorf("status after resume:\n%s", stdout)
	}
}
