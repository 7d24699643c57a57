package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestDeadlineStopsRun: a run that passes its procedure's deadline is
// stopped as on Ctrl-C (SIGTERM, SIGKILL after the grace period, for a
// step that ignores SIGTERM too), on_failure and finally still run, the
// steps after it do not, and the run ends failed (exit 1, not resumable as
// interrupted) with the deadline as its reason, in the output and in
// status. A resume has the whole deadline again.
func TestDeadlineStopsRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, step string }{
		{"step ends on SIGTERM", `[ -e "$FAST" ] && exit 0; echo $$ > "$PIDS"; exec sleep 30`},
		{"step ignores SIGTERM", `[ -e "$FAST" ] && exit 0; trap '' TERM; echo $$ > "$PIDS"; sleep 30 & echo $! >> "$PIDS"; wait $!; wait $!`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := testkit.GitRepo(t, nil)
			aux := t.TempDir()
			marks, pids, fast := filepath.Join(aux, "marks"), filepath.Join(aux, "pids"), filepath.Join(aux, "fast")
			procFile := filepath.Join(aux, "p.yaml")
			testkit.WriteFile(t, procFile, fmt.Sprintf(`version: 1
name: bounded
deadline: 3s
env: {MARKS: %q, PIDS: %q, FAST: %q}
steps:
  - id: slow
    run: %s
  - id: after
    run: echo after >> "$MARKS"
on_failure:
  - id: tell
    run: echo on_failure >> "$MARKS"
finally:
  - id: fin
    if: failure()
    run: echo finally >> "$MARKS"
`, marks, pids, fast, quoteYAML(tc.step)))
			start := time.Now()
			stdout, stderr, code := rbflow(t, repo, "run", procFile, "--grace", "2s")
			took := time.Since(start)
			if code != 1 {
				t.Fatalf("run exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			// 3s of deadline (time for bash to start on a busy machine) and
			// 2s of grace, with room to spare: the step alone takes 30s.
			if took > 20*time.Second {
				t.Errorf("run took %s with a 3s deadline and a 2s grace period (the step sleeps 30s)", took)
			}
			if len(readLines(t, pids)) == 0 {
				t.Fatalf("the step wrote no pid\n%s%s", stdout, stderr)
			}
			assertNoOrphans(t, pids)
			if got := strings.Join(readLines(t, marks), " "); got != "on_failure finally" {
				t.Errorf("marks = %q, want on_failure and finally, and not the step after the deadline", got)
			}
			want := "deadline 3s passed 3s after the run started; stopped step slow; not started: after"
			if !strings.Contains(stderr, want) {
				t.Errorf("run's message lacks %q:\n%s", want, stderr)
			}

			out, errOut, code := query(t, repo, "status", "--json")
			if code != 0 {
				t.Fatalf("status exit %d: %s", code, errOut)
			}
			var st struct {
				Status     string  `json:"status"`
				FailedStep string  `json:"failed_step"`
				Deadline   float64 `json:"deadline_seconds"`
				Steps      []struct {
					ID, Status, Error string
				} `json:"steps"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil {
				t.Fatalf("status --json: %v\n%s", err, out)
			}
			if st.Status != "failed" || st.FailedStep != "slow" || st.Deadline != 3 {
				t.Errorf("status --json = %s, failed at %s, deadline %vs; want failed at slow, deadline 3s", st.Status, st.FailedStep, st.Deadline)
			}
			for _, s := range st.Steps {
				if s.ID == "slow" && (s.Status != "failed" || !strings.Contains(s.Error, "deadline 3s passed")) {
					t.Errorf("step slow: %s, %q; want failed by the deadline", s.Status, s.Error)
				}
				if s.ID == "after" {
					t.Errorf("step after has a record (%s): it ran after the deadline", s.Status)
				}
			}
			text, _, _ := query(t, repo, "status")
			for _, w := range []string{"failed", "deadline 3s from each start, resume or retry", "stopped: deadline 3s passed"} {
				if !strings.Contains(text, w) {
					t.Errorf("status lacks %q:\n%s", w, text)
				}
			}

			// The deadline counts from each resume: more than 3s have gone
			// by since the run started, and the resumed run still has its
			// whole deadline for the (now quick) step and the one after it.
			testkit.WriteFile(t, fast, "")
			if stdout, stderr, code := rbflow(t, repo, "resume"); code != 0 {
				t.Fatalf("resume exit %d, want 0\n%s%s", code, stdout, stderr)
			}
			if got := strings.Join(readLines(t, marks), " "); got != "on_failure finally after" {
				t.Errorf("marks after resume = %q, want the step after (and finally's if: failure() false)", got)
			}
		})
	}
}

// quoteYAML writes s as a YAML double-quoted scalar.
func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
