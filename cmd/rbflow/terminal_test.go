package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rbflow/rbflow/engine/testkit"
)

// ptyRun is rbflow running on a pseudo-terminal, everything it prints
// drawn on a screen of the terminal's size.
type ptyRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	done chan struct{} // the output ended

	mu   sync.Mutex
	scr  *screen
	last time.Time // when output last came
}

func startPty(t *testing.T, dir string, cols, rows int, args ...string) *ptyRun {
	t.Helper()
	cmd := rbflowCmd(t, dir, args...)
	cmd.Env = append(filterEnv(cmd.Env, "NO_COLOR="), "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		t.Fatal(err)
	}
	p := &ptyRun{t: t, cmd: cmd, tty: f, done: make(chan struct{}), scr: newScreen(cols, rows), last: time.Now()}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		f.Close()
	})
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			p.mu.Lock()
			p.scr.Write(buf[:n])
			p.last = time.Now()
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

// still is how long the output must have paused for the screen to be
// read: the live view draws a frame in one write every 200ms.
const still = 80 * time.Millisecond

// shotWhen waits for a screen, between two frames, that cond accepts.
func (p *ptyRun) shotWhen(what string, cond func(shot) bool) shot {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var sh shot
	for time.Now().Before(deadline) {
		p.mu.Lock()
		quiet := time.Since(p.last) >= still
		sh = p.scr.shot()
		p.mu.Unlock()
		if quiet && cond(sh) {
			return sh
		}
		select {
		case <-p.done:
			p.t.Fatalf("rbflow ended before the screen showed %s:\n%s", what, sh)
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.t.Fatalf("the screen never showed %s:\n%s", what, sh)
	return sh
}

// resize makes the terminal cols wide, between two frames, and returns
// how many rows are above the screen then: a frame that filled the screen
// has rows wrapped again and pushed off the top by the reflow, where no
// program can reach them.
func (p *ptyRun) resize(cols, rows int) (above int) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := pty.Setsize(p.tty, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}); err != nil {
		p.t.Fatal(err)
	}
	p.scr.resize(cols, rows)
	return len(p.scr.lines) - rows
}

// end waits for rbflow to exit and returns its exit code and the last
// screen.
func (p *ptyRun) end() (int, shot) {
	p.t.Helper()
	err := p.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatal("the terminal's output did not end")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return code, p.scr.shot()
}

func containsRow(sh shot, re string) bool {
	r := regexp.MustCompile(re)
	for _, row := range sh.screen() {
		if r.MatchString(row.text) {
			return true
		}
	}
	return false
}

// The rows a frame of the live view is made of, and what may be printed
// around it.
var (
	headerRE  = regexp.MustCompile(`^view  run \S+  `)
	stepRE    = regexp.MustCompile(`^ (\S) (\S+) +(running|succeeded|failed|skipped|interrupted|waiting|cancelled)\b`)
	hiddenRE  = regexp.MustCompile(`^ … \d+ steps? not shown: `)
	subRE     = regexp.MustCompile(`^     [│└✖] |^       \S`)
	messageRE = regexp.MustCompile(`^rbflow: `)
	summaryRE = regexp.MustCompile(`^run \S+ `)
	warningRE = regexp.MustCompile(`^  ⚠ `) // the summary's warnings (SPEC §3)
)

// oneFrame checks that rows hold exactly one frame of the live view and
// nothing left of an earlier one: one header; every row from it down a
// row of the frame, no row continuing a row too long for the terminal,
// no step twice; above it only messages, below it only the last line
// and messages. A live frame (not final) fits the screen with a row to
// spare, and nothing is below it.
func oneFrame(t *testing.T, when string, sh shot, rows []shotRow, final bool) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s at %d×%d: %s\n%s", when, sh.cols, sh.rows, fmt.Sprintf(format, args...), sh)
	}
	if len(sh.unknown) > 0 {
		fail("the terminal got sequences a live view never sends: %q", sh.unknown)
	}
	header, frameEnd, seen := -1, -1, map[string]int{}
	inMessage := false
	for i, r := range rows {
		if strings.ContainsRune(r.text, '\uFFFD') {
			fail("row %d has a character cut in two (U+FFFD): %q", i, r.text)
		}
		switch {
		case r.wrapped && inMessage:
			continue // a message may wrap: it is printed once and never redrawn
		case r.wrapped:
			fail("row %d continues the row above, which was longer than %d columns: %q", i, sh.cols, r.text)
		case headerRE.MatchString(r.text):
			if header >= 0 {
				fail("a second header at row %d (the first at %d): a stale frame", i, header)
			}
			header, frameEnd = i, i
		case header >= 0 && frameEnd == i-1 && (stepRE.MatchString(r.text) || hiddenRE.MatchString(r.text) || subRE.MatchString(r.text)):
			frameEnd = i
			if m := stepRE.FindStringSubmatch(r.text); m != nil {
				seen[m[2]]++
				if seen[m[2]] == 2 {
					fail("step %s has two lines: a stale frame", m[2])
				}
			}
		case messageRE.MatchString(r.text):
			if header >= 0 && !final {
				fail("row %d: a message below the frame: %q", i, r.text)
			}
		case r.text == "":
		case final && header >= 0 && (summaryRE.MatchString(r.text) || warningRE.MatchString(r.text)):
		default:
			fail("row %d is neither the frame nor a message: %q", i, r.text)
		}
		inMessage = messageRE.MatchString(r.text) || r.wrapped && inMessage
	}
	if header < 0 {
		fail("no header: the frame is taller than the screen, or missing")
		return
	}
	if !final {
		if height := frameEnd - header + 1; height > sh.rows-1 {
			fail("the frame is %d rows high on a screen of %d", height, sh.rows)
		}
		for i := frameEnd + 1; i < len(rows); i++ {
			if rows[i].text != "" {
				fail("row %d is below the frame: %q", i, rows[i].text)
			}
		}
	}
}

// viewProcedure has more steps than a 24-row screen has rows, output
// lines longer than 80 columns, wide characters, combining marks, escape
// sequences and a tab in its output, and a test step whose go test -json
// events come one by one.
func viewProcedure(t *testing.T) string {
	var b strings.Builder
	b.WriteString("version: 1\nname: view\ntarget: 10m\nsteps:\n")
	for i := 1; i <= 22; i++ {
		fmt.Fprintf(&b, "  - id: s%02d\n    run: \"true\"\n", i)
	}
	b.WriteString(`  - id: a_step_whose_id_is_longer_than_a_narrow_terminal_has_room_for
    run: "true"
  - id: long
    run: |
      printf 'long: %s\n' "$(printf 'x%.0s' $(seq 150))"
      printf '漢字%.0s' $(seq 40); echo
      printf 'e\xcc\x81%.0s' $(seq 90); printf '\t\033[31mred\033[0m\033[1Aup\n'
      sleep 2
  - id: tests
    test: |
      ev() { printf '{"Action":"%s","Package":"example.com/m/pkg","Test":"%s"}\n' "$1" "$2"; }
      for i in $(seq 12); do ev run TestPass$i; ev pass TestPass$i; done
      ev run TestBroken; ev fail TestBroken
      sleep 2
      printf '{"Action":"fail","Package":"example.com/m/pkg","Elapsed":0.5}\n'
    with:
      format: go-json
    continue_on_error: true
`)
	file := filepath.Join(t.TempDir(), "view.yaml")
	testkit.WriteFile(t, file, b.String())
	return file
}

// TestViewTerminal runs a procedure on a real pseudo-terminal and reads
// the screen back: while a step prints long lines, while a test step
// runs, and at the end, the screen holds one frame that fits it.
func TestViewTerminal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		cols, resize int
	}{{"80x24", 80, 0}, {"60x24", 60, 0}, {"80x24 narrowed to 60", 80, 60}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := testkit.GitRepo(t, nil)
			p := startPty(t, repo, tc.cols, 24, "run", viewProcedure(t))

			sh := p.shotWhen("the long step's output", func(sh shot) bool {
				return containsRow(sh, `^ ▶ long `) && containsRow(sh, `^     │ e\x{301}`)
			})
			oneFrame(t, "while the long step runs", sh, sh.screen(), false)
			for _, want := range []string{`^     │ long: x+…$`, `^     │ (漢字)+漢?…$`, `^     │ (e\x{301})+…$`, `^ … \d+ steps not shown: \d+ succeeded$`} {
				if !containsRow(sh, want) {
					t.Errorf("while the long step runs, no row matches %s:\n%s", want, sh)
				}
			}
			above := 0
			if tc.resize > 0 {
				above = p.resize(tc.resize, 24)
				sh = p.shotWhen("a frame after the resize", func(sh shot) bool {
					return containsRow(sh, `^ ▶ (long|tests) `) && !containsRow(sh, `.{61}`)
				})
				oneFrame(t, fmt.Sprintf("after a resize to %d columns", tc.resize), sh, sh.screen(), false)
			}

			sh = p.shotWhen("the test counts", func(sh shot) bool { return containsRow(sh, `12 passed, 1 failed`) })
			oneFrame(t, "while the test step runs", sh, sh.screen(), false)
			if !containsRow(sh, `^     ✖ pkg\.TestBroken$`) {
				t.Errorf("while the test step runs, the failed test is not named:\n%s", sh)
			}
			if containsRow(sh, `"Action"`) {
				t.Errorf("the test step's raw JSON is on the screen:\n%s", sh)
			}

			code, sh := p.end()
			if code != 0 {
				t.Errorf("exit code %d, want 0 (the failed test step continues on error):\n%s", code, sh)
			}
			oneFrame(t, "at the end", sh, sh.lines[above:], true)
			all := ""
			for _, r := range sh.lines[above:] {
				all += r.text + "\n"
			}
			for i := 1; i <= 22; i++ {
				if want := fmt.Sprintf("\n ✔ s%02d ", i); !strings.Contains(all, want) {
					t.Errorf("the last frame lacks step s%02d", i)
				}
			}
			for _, want := range []string{"\n ✖ tests ", "     └ tests failed: 1 failed", "pkg.TestBroken", "\nrun "} {
				if !strings.Contains(all, want) {
					t.Errorf("the end lacks %q:\n%s", want, sh)
				}
			}
		})
	}
}

// TestViewTerminalInterrupt presses Ctrl-C while a step runs: the notice
// is printed above the frame, at the start of its row, and the frame
// stays whole below it.
func TestViewTerminalInterrupt(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	file := filepath.Join(t.TempDir(), "view.yaml")
	testkit.WriteFile(t, file, `version: 1
name: view
steps:
  - id: first
    run: "true"
  - id: wait
    run: echo waiting for Ctrl-C; sleep 30
`)
	p := startPty(t, repo, 80, 24, "run", file)
	p.shotWhen("the waiting step", func(sh shot) bool { return containsRow(sh, `^     │ waiting for Ctrl-C$`) })
	if _, err := io.WriteString(p.tty, "\x03"); err != nil {
		t.Fatal(err)
	}
	code, sh := p.end()
	if code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	oneFrame(t, "after Ctrl-C", sh, sh.lines, true)
	if !containsRow(sh, `^rbflow: interrupt: stopping the running steps`) {
		t.Errorf("the notice does not start a row of its own:\n%s", sh)
	}
	if !containsRow(sh, `^ ⏸ wait +interrupted`) {
		t.Errorf("the last frame does not show the step interrupted:\n%s", sh)
	}
}
