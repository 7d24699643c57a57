package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/rbflow/rbflow/engine"
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

// TestViewFit: text is cut by the columns it takes, never inside a
// character or between a letter and its marks, and says it was cut.
func TestViewFit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"漢字漢字", 8, "漢字漢字"},
		{"漢字漢字", 7, "漢字漢…"},
		{"漢字漢字", 6, "漢字…"}, // 漢字漢 is 6 columns: the ellipsis needs one
		{"e\u0301e\u0301e\u0301e\u0301", 3, "e\u0301e\u0301…"},
		{"🇩🇪🇩🇪🇩🇪", 5, "🇩🇪🇩🇪…"},
		{"abc", 0, ""},
	} {
		got := fit(tc.in, tc.width)
		if got != tc.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
		if w := textWidth(got); w > tc.width || !utf8.ValidString(got) {
			t.Errorf("fit(%q, %d) = %q: %d columns, valid UTF-8 %v", tc.in, tc.width, got, w, utf8.ValidString(got))
		}
	}
}

// TestViewPrintable: a step's output reaches the terminal without
// anything that moves the cursor, changes colour or is not UTF-8.
func TestViewPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"line\r\n", "line"},
		{"10%\r50%\r100%", "100%"},
		{"\x1b[31mred\x1b[0m \x1b[2A\x1b[Jup", "red up"},
		{"\x1b]0;title\x07after \x1b]8;;http://x\x1b\\link", "after link"},
		{"a\tb", "a       b"},
		{"漢\tb", "漢      b"},
		{"cut \xe6\xbc", "cut \uFFFD\uFFFD"},
		{"bell\x07 nul\x00 c1\u009b2J", "bell nul c12J"},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestViewWrap: a long error is cut into rows of the width, after a
// space when one is near the end.
func TestViewWrap(t *testing.T) {
	got := wrap("tests failed: 1 failed (example.com/m/pkg.TestBroken)", 30)
	want := []string{"tests failed: 1 failed", "(example.com/m/pkg.TestBroken)"}
	if !slices.Equal(got, want) {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	for _, l := range wrap(strings.Repeat("漢", 20), 7) {
		if textWidth(l) > 7 {
			t.Errorf("wrap of wide characters gave %q, %d columns", l, textWidth(l))
		}
	}
}

// TestViewHomeCountsRows: the cursor goes back up the rows the frame
// takes at the terminal's width now, not its lines.
func TestViewHomeCountsRows(t *testing.T) {
	v := &view{drawn: []int{79, 79, 10, 0}}
	if got, rows := v.home(60); got != "\r\x1b[6A" || rows != 6 {
		t.Errorf("home(60) after lines of 79, 79, 10 and 0 columns = %q, %d, want 6 rows up", got, rows)
	}
	if len(v.drawn) != 0 {
		t.Errorf("home kept %v", v.drawn)
	}
	if got, rows := v.home(60); got != "\r" || rows != 0 {
		t.Errorf("home with nothing drawn = %q, %d, want a carriage return alone", got, rows)
	}
}

// TestViewFrameFits lays out a run with more steps than rows, two steps
// running with long output and a test step counting, at sizes down to 60
// columns and a few rows: every line fits, the frame has a row to spare,
// and the running steps and the newest finished one are shown.
func TestViewFrameFits(t *testing.T) {
	now := time.Now()
	v := &view{runID: "20260101-000000-abcdef", proc: "emergency", started: now.Add(-time.Minute), target: 5 * time.Minute, state: map[string]*stepView{}}
	for i := range 30 {
		sv := v.stepState(fmt.Sprintf("step_%02d", i))
		sv.status, sv.start, sv.end = "succeeded", now.Add(-time.Minute), now.Add(-50*time.Second)
		if i == 3 {
			sv.status, sv.err = "failed", "exit status 1: "+strings.Repeat("long reason ", 20)
		}
	}
	long := v.stepState("a_step_with_an_id_much_longer_than_the_column")
	long.status, long.start = "running", now
	long.lines = []string{strings.Repeat("x", 300), strings.Repeat("漢字", 80), "\x1b[31mred\x1b[0m\tand a tab"}
	tests := v.stepState("tests")
	tests.status, tests.start = "running", now
	tests.progress = &engine.Progress{Passed: 120, Failed: 4, Skipped: 2, Failures: []string{"pkg.TestA", "pkg.TestB", "pkg.TestC", "pkg.TestD"}}
	for _, cols := range []int{59, 79, 119} {
		for _, rows := range []int{4, 8, 23, 60} {
			lines := v.frame(cols, rows, false)
			if len(lines) > rows {
				t.Errorf("frame(%d, %d) has %d lines", cols, rows, len(lines))
			}
			var text []string
			for _, l := range lines {
				text = append(text, l.text)
				if w := textWidth(l.text); w > cols {
					t.Errorf("frame(%d, %d): %d columns in %q", cols, rows, w, l.text)
				}
			}
			all := strings.Join(text, "\n")
			if !strings.HasPrefix(all, "emergency  run ") {
				t.Errorf("frame(%d, %d) does not start with the header:\n%s", cols, rows, all)
			}
			if rows >= 8 {
				for _, want := range []string{" ▶ a_step_with", " ▶ tests", "│ 120 passed, 4 failed, 2 skipped", "✖ pkg.TestD"} {
					if !strings.Contains(all, want) {
						t.Errorf("frame(%d, %d) lacks %q:\n%s", cols, rows, want, all)
					}
				}
			}
			// 42 lines: the header, 30 finished steps and an error, 2
			// running steps with 3 lines under each and a failure more.
			if shown, want := strings.Contains(all, " steps not shown: "), rows < 42; shown != want {
				t.Errorf("frame(%d, %d) counts the steps not shown = %v, want %v:\n%s", cols, rows, shown, want, all)
			}
			if rows >= 23 && !strings.Contains(all, " ✔ step_29") {
				t.Errorf("frame(%d, %d) lacks the newest finished step:\n%s", cols, rows, all)
			}
			if strings.Contains(all, "pkg.TestA") {
				t.Errorf("frame(%d, %d) names more than the last 3 failures:\n%s", cols, rows, all)
			}
		}
	}
	final := v.frame(59, 10, true)
	if len(final) < 33 {
		t.Errorf("the final frame has %d lines, want every step", len(final))
	}
	for _, l := range final {
		if textWidth(l.text) > 59 {
			t.Errorf("final frame: %d columns in %q", textWidth(l.text), l.text)
		}
	}
}

// The live view's header shows the deadline and the time left before it
// stops the run, counted from this execution's start (a resumed run has
// its whole deadline again); the plain start line names it.
func TestViewDeadline(t *testing.T) {
	now := time.Now()
	v := &view{runID: "20260101-000000-abcdef", proc: "emergency", started: now.Add(-time.Hour), began: now.Add(-time.Minute),
		deadline: 5 * time.Minute, state: map[string]*stepView{}}
	head := v.frame(100, 10, false)[0].text
	if !strings.Contains(head, "(deadline 5m0s: 4m0s left)") {
		t.Errorf("header %q lacks the deadline and the 4m0s left of it", head)
	}
	v.began = now.Add(-6 * time.Minute)
	if head := v.frame(100, 10, false)[0].text; !strings.Contains(head, "(deadline 5m0s: passed, stopping)") {
		t.Errorf("header %q does not say the deadline passed", head)
	}
	v.deadline = 0
	if head := v.frame(100, 10, false)[0].text; strings.Contains(head, "deadline") {
		t.Errorf("header %q names a deadline the procedure has not", head)
	}
	var out bytes.Buffer
	p := &view{w: &out, state: map[string]*stepView{}}
	p.Event(engine.Event{Kind: "run_started", RunID: "r1", Procedure: "p", Message: "started", Time: now, Deadline: 300})
	if !strings.Contains(out.String(), "run r1 of p started (deadline 5m0s: ") {
		t.Errorf("plain start line %q lacks the deadline", out.String())
	}
}
