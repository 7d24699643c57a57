package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
)

// crashProcedure has 24 steps: a sequence, a parallel fan-out and fan-in, a
// step that fails twice and succeeds on its third attempt, and slow steps.
// Every step marks its start and end and records its pids.
func crashProcedure(marks, pids, counter string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nname: crash\nenv:\n  MARKS: %q\n  PIDS: %q\n  COUNTER: %q\nsteps:\n", marks, pids, counter)
	body := func(sleep string) string {
		return fmt.Sprintf(`|
      echo "$RBFLOW_STEP start" >> "$MARKS"
      echo $$ >> "$PIDS"
      sleep %s & echo $! >> "$PIDS"; wait
      echo "$RBFLOW_STEP done" >> "$MARKS"
      echo "n=$RBFLOW_STEP" >> "$RBFLOW_OUTPUT"`, sleep)
	}
	for i := 1; i <= 24; i++ {
		id := fmt.Sprintf("s%02d", i)
		fmt.Fprintf(&b, "  - id: %s\n", id)
		switch {
		case i >= 9 && i <= 12:
			b.WriteString("    needs: [s08]\n")
		case i == 13:
			b.WriteString("    needs: [s09, s10, s11, s12]\n")
		}
		if i == 14 {
			b.WriteString(`    retry: {attempts: 3, delay: 150ms}
    run: |
      echo "$RBFLOW_STEP start" >> "$MARKS"
      n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"
      if [ $n -lt 3 ]; then exit 1; fi
      echo "$RBFLOW_STEP done" >> "$MARKS"
`)
			continue
		}
		sleep := "0.08"
		if i%5 == 0 {
			sleep = "0.3"
		}
		fmt.Fprintf(&b, "    run: %s\n", body(sleep))
	}
	return b.String()
}

func countStarts(t *testing.T, marks string) map[string]int {
	t.Helper()
	out := map[string]int{}
	b, _ := os.ReadFile(marks)
	for _, line := range strings.Split(string(b), "\n") {
		if id, ok := strings.CutSuffix(line, " start"); ok {
			out[id]++
		}
	}
	return out
}

// stepRecords reads the store as rbflow left it.
func stepRecords(t *testing.T, stateDir string) (*engine.Run, map[string]*engine.StepRecord) {
	t.Helper()
	st, err := store.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	runs, err := st.Runs(ctx, "")
	if err != nil || len(runs) == 0 {
		return nil, nil
	}
	recs, err := st.Steps(ctx, runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*engine.StepRecord{}
	for _, r := range recs {
		m[r.StepID] = r
	}
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatalf("integrity check after a kill: %v", err)
	}
	return runs[0], m
}

func assertNoOrphans(t *testing.T, pidsFile string) {
	t.Helper()
	var pids []int
	for _, f := range readLines(t, pidsFile) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	testkit.WaitFor(t, 5*time.Second, "step processes to end after rbflow died", func() bool {
		for _, p := range pids {
			if testkit.Alive(p) {
				return false
			}
		}
		return true
	})
}

// killer says when killAndResume kills rbflow.
type killer struct {
	kills int                  // how many times, before the run is let finish (see sweep)
	first func() bool          // the first kill comes once this holds (nil: after delay)
	delay func() time.Duration // how long after it starts an attempt is killed
	after func()               // called after each kill (nil: nothing)
}

// randomDelay kills 30 to 430 ms after the start, as rnd says.
func randomDelay(rnd *rand.Rand) func() time.Duration {
	return func() time.Duration { return time.Duration(30+rnd.Intn(400)) * time.Millisecond }
}

// exists holds once path exists.
func exists(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

// killAndResume runs rbflow with args in dir and kills it with SIGKILL as k
// says, each time going on with rbflow resume --yes, until k.kills kills
// are done; then it lets the run finish. It returns the last attempt's
// output and exit code.
func killAndResume(t *testing.T, dir string, k killer, args ...string) (string, int) {
	t.Helper()
	done := 0
	for attempt := 0; ; attempt++ {
		cmdArgs := []string{"resume", "--yes"}
		run, _ := stepRecords(t, filepath.Join(dir, ".git", "rbflow"))
		switch {
		case run == nil:
			cmdArgs = args // killed before the run was recorded
		case run.Status.Finished():
			t.Logf("killed %d times; the run ended before the last kill", done)
			return "(the run ended before the last kill)", map[engine.RunStatus]int{engine.RunSucceeded: 0, engine.RunFailed: 1}[run.Status]
		}
		cmd := rbflowCmd(t, dir, cmdArgs...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		code := func(err error) int {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			if err != nil {
				t.Fatalf("rbflow %v: %v", cmdArgs, err)
			}
			return 0
		}
		if done >= k.kills {
			t.Logf("killed %d times", done)
			err := <-exited // before the output is read: it is complete then
			return out.String(), code(err)
		}
		var trigger <-chan time.Time
		if done == 0 && k.first != nil {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(2 * time.Minute)
		wait:
			for {
				select {
				case err := <-exited:
					t.Fatalf("rbflow %v ended (exit %d) before the moment to kill it\n%s", cmdArgs, code(err), out.String())
				case <-deadline:
					t.Fatalf("rbflow %v: the moment to kill it did not come\n%s", cmdArgs, out.String())
				case <-tick.C:
					if k.first() {
						break wait
					}
				}
			}
			trigger = time.After(0)
		} else {
			trigger = time.After(k.delay())
		}
		select {
		case err := <-exited:
			t.Logf("killed %d times; the run ended before the next kill", done)
			return out.String(), code(err)
		case <-trigger:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			if err := <-exited; err == nil {
				t.Logf("killed %d times; the run ended just before the next kill", done)
				return out.String(), 0
			}
			done++
			if k.after != nil {
				k.after()
			}
		}
		if attempt > 50 {
			t.Fatalf("the run did not finish after %d attempts", attempt)
		}
	}
}

// TestCrashResume kills rbflow with SIGKILL at many points and resumes each
// time: the run finishes, no step that had succeeded runs again, a step
// that was running runs again at most once per kill, the store stays sound,
// and no step process outlives rbflow.
func TestCrashResume(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	marks, pids, counter := filepath.Join(aux, "marks"), filepath.Join(aux, "pids"), filepath.Join(aux, "counter")
	procFile := filepath.Join(aux, "crash.yaml")
	testkit.WriteFile(t, procFile, crashProcedure(marks, pids, counter))
	stateDir := filepath.Join(repo, ".git", "rbflow")

	delays := []time.Duration{20, 50, 90, 140, 200, 280, 380}
	kills := 0
	killedWhileRunning := map[string]int{}
	var succeededAt []map[string]int // per kill: step -> starts when it was recorded succeeded
	finished := false
	scale, lastDone := 1.0, 0
	for i := 0; i < 80 && !finished; i++ {
		args := []string{"resume", "--grace", "1s", "--yes"}
		if run, _ := stepRecords(t, stateDir); run == nil {
			// Killed before the run was recorded: nothing ran, start again.
			args = []string{"run", procFile, "--grace", "1s"}
		} else if run.Status == engine.RunSucceeded {
			finished = true // killed after the run had ended
			break
		}
		cmd := rbflowCmd(t, repo, args...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// A slow machine (or -race) may need longer between kills to make
		// progress: the delays stretch while kills land before any step ends.
		delay := time.Duration(float64(delays[i%len(delays)]*time.Millisecond) * scale)
		if kills >= 12 && !testkit.Long() {
			delay = time.Hour // enough kills for make test: this resume finishes
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("attempt %d (%v) ended with %v before it could be killed:\n%s", i, args, err, out.String())
			}
			finished = true
			continue
		case <-time.After(delay):
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		if err == nil {
			finished = true // it finished just before the kill
			continue
		}
		kills++
		assertNoOrphans(t, pids)
		_, recs := stepRecords(t, stateDir)
		starts := countStarts(t, marks)
		snap := map[string]int{}
		for id, rec := range recs {
			switch rec.Status {
			case engine.StepSucceeded:
				snap[id] = starts[id]
			case engine.StepRunning:
				killedWhileRunning[id]++
			}
		}
		succeededAt = append(succeededAt, snap)
		if len(snap) <= lastDone {
			scale = min(scale*1.6, 12)
		} else {
			scale = max(1, scale*0.8)
		}
		lastDone = len(snap)
	}
	if !finished {
		t.Fatalf("the run did not finish after %d kills", kills)
	}
	// Steps cost little now (direct exec): a run may end before the
	// twelfth kill, but not before the sixth.
	if least := map[bool]int{false: 6, true: 10}[testkit.Long()]; kills < least {
		t.Errorf("only %d kills landed; the test should kill rbflow at many points (at least %d)", kills, least)
	}
	run, recs := stepRecords(t, stateDir)
	if run.Status != engine.RunSucceeded {
		t.Fatalf("final run status = %s, want succeeded", run.Status)
	}
	starts := countStarts(t, marks)
	for i := 1; i <= 24; i++ {
		id := fmt.Sprintf("s%02d", i)
		if rec := recs[id]; rec == nil || rec.Status != engine.StepSucceeded {
			t.Errorf("step %s = %+v, want succeeded", id, rec)
		}
		if id != "s14" && recs[id] != nil && recs[id].Outputs["n"] != id {
			t.Errorf("step %s outputs = %v, want n=%s (restored outputs)", id, recs[id].Outputs, id)
		}
		limit := 1 + killedWhileRunning[id]
		if id == "s14" {
			limit = 3 + 3*killedWhileRunning[id] // its retries count as starts
		}
		if starts[id] > limit {
			t.Errorf("step %s started %d times; killed while running %d times, so at most %d", id, starts[id], killedWhileRunning[id], limit)
		}
		if starts[id] == 0 {
			t.Errorf("step %s never ran", id)
		}
	}
	for k, snap := range succeededAt {
		for id, n := range snap {
			if starts[id] != n {
				t.Errorf("step %s had succeeded before kill %d (started %d times) but started %d times in the end", id, k+1, n, starts[id])
			}
		}
	}
	assertNoOrphans(t, pids)
	t.Logf("%d kills, starts per step: %v", kills, starts)
}

// TestKillDuringRetryDelay: SIGKILL while a failed step waits to retry;
// resume runs the step again (it was interrupted) and the run finishes; the
// step before it does not run again.
func TestKillDuringRetryDelay(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	marks, counter := filepath.Join(aux, "marks"), filepath.Join(aux, "counter")
	procFile := filepath.Join(aux, "p.yaml")
	testkit.WriteFile(t, procFile, fmt.Sprintf(`version: 1
name: retry-kill
env: {MARKS: %q, COUNTER: %q}
steps:
  - id: before
    run: echo before >> "$MARKS"
  - id: flaky
    retry: {attempts: 3, delay: 30s}
    run: |
      n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"
      echo "flaky $n" >> "$MARKS"
      [ $n -ge 2 ]
  - id: after
    run: echo after >> "$MARKS"
`, marks, counter))
	cmd := rbflowCmd(t, repo, "run", procFile, "--json")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the retry delay", func() bool { return strings.Contains(out.String(), `"event":"step_retry"`) })
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	_, recs := stepRecords(t, filepath.Join(repo, ".git", "rbflow"))
	if recs["flaky"] == nil || recs["flaky"].Status != engine.StepRunning {
		t.Fatalf("after a kill in the retry delay, flaky = %+v, want running", recs["flaky"])
	}
	start := time.Now()
	if o, e, code := rbflow(t, repo, "resume"); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, o, e)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("resume waited out the old retry delay (%s): an interrupted step runs again at once", d)
	}
	got := strings.Join(readLines(t, marks), " ")
	if got != "before flaky 1 flaky 2 after" {
		t.Errorf("marks = %q, want before, flaky twice, after", got)
	}
}

// sweep is the number of kills a kill-and-resume test makes: n under make
// test-long, half of it (rounded up) under make test, which must stay
// under five minutes on two cores.
func sweep(n int) int {
	if testkit.Long() {
		return n
	}
	return (n + 1) / 2
}
