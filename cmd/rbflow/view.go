package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// view shows a run as it happens: a live view on a terminal, timestamped
// lines otherwise, or JSON events with --json.
type view struct {
	a     *app
	w     io.Writer
	json  bool
	live  bool
	color bool
	quiet bool

	mu       sync.Mutex
	enc      *json.Encoder
	runID    string
	proc     string
	target   time.Duration
	started  time.Time
	steps    []string
	state    map[string]*stepView
	drawn    int
	tick     *time.Ticker
	done     chan struct{}
	finished bool
	paused   bool // a prompt has the terminal
}

type stepView struct {
	status  string
	start   time.Time
	end     time.Time
	lines   []string
	err     string
	attempt int
}

// isTerminal reports whether a stream (stdin, stdout) is a terminal.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

func newView(a *app, jsonOut, noColor bool) *view {
	v := &view{a: a, w: a.stdout, json: jsonOut, quiet: a.quiet, state: map[string]*stepView{}}
	if jsonOut {
		v.enc = json.NewEncoder(a.stdout)
		return v
	}
	v.live = isTerminal(a.stdout)
	v.color = v.live && !noColor && os.Getenv("NO_COLOR") == ""
	return v
}

func (v *view) start() {
	if !v.live {
		return
	}
	v.tick = time.NewTicker(200 * time.Millisecond)
	v.done = make(chan struct{})
	go func() {
		for {
			select {
			case <-v.tick.C:
				v.mu.Lock()
				v.redraw()
				v.mu.Unlock()
			case <-v.done:
				return
			}
		}
	}()
}

func (v *view) stop() {
	if v.tick != nil {
		v.tick.Stop()
		close(v.done)
		v.mu.Lock()
		if !v.finished { // run_finished drew the last view already
			v.redraw()
		}
		v.mu.Unlock()
	}
}

// notice prints an rbflow message (signals) without breaking the view.
func (v *view) notice(msg string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json {
		_ = v.enc.Encode(map[string]any{"event": "notice", "run_id": v.runID, "time": time.Now(), "message": msg})
		return
	}
	v.clear()
	fmt.Fprintf(v.a.stderr, "rbflow: %s\n", msg)
}

// Event implements engine.Observer.
// SamplesLines: the live and the quiet view show a step's last lines only;
// the plain and the JSON ones print every line.
func (v *view) SamplesLines() bool { return !v.json && (v.live || v.quiet) }

func (v *view) Event(e engine.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json {
		_ = v.enc.Encode(e)
		return
	}
	switch e.Kind {
	case "run_started":
		v.runID, v.proc, v.started = e.RunID, e.Procedure, e.Time
		if e.StartedAt != nil {
			v.started = *e.StartedAt
		}
		v.target = time.Duration(e.Target * float64(time.Second))
		if !v.live && !v.quiet {
			v.line(e.Time, "run %s of %s %s%s", e.RunID, e.Procedure, e.Message, v.targetText())
		}
	case "step_started":
		sv := v.stepState(e.Step)
		sv.status, sv.start, sv.lines, sv.err = "running", e.Time, nil, ""
		if !v.live && !v.quiet {
			v.line(e.Time, "%s: started", e.Step)
		}
	case "step_output":
		sv := v.stepState(e.Step)
		sv.lines = append(sv.lines, e.Line)
		if len(sv.lines) > 3 {
			sv.lines = sv.lines[len(sv.lines)-3:]
		}
		if !v.live && !v.quiet {
			v.line(e.Time, "%s | %s", e.Step, e.Line)
		}
	case "step_retry":
		sv := v.stepState(e.Step)
		sv.attempt = e.Attempt
		if !v.live && !v.quiet {
			v.line(e.Time, "%s: attempt %d failed (%s); %s", e.Step, e.Attempt-1, e.Error, e.Message)
		}
	case "step_finished":
		sv := v.stepState(e.Step)
		sv.status, sv.end, sv.err = e.Status, e.Time, e.Error
		if sv.start.IsZero() {
			sv.start = e.Time
		}
		if !v.live && !(v.quiet && e.Status != "failed") {
			msg := fmt.Sprintf("%s: %s", e.Step, e.Status)
			if e.Status != "skipped" {
				msg += " in " + elapsed(sv.start, sv.end)
			}
			if e.Error != "" {
				msg += ": " + e.Error
			}
			v.line(e.Time, "%s", msg)
		}
	case "run_notice", "run_warning":
		if v.quiet && e.Kind == "run_notice" {
			return
		}
		prefix := "rbflow: "
		if e.Kind == "run_warning" {
			prefix += "warning: "
		}
		v.clear()
		fmt.Fprintln(v.a.stderr, prefix+e.Message)
	case "run_finished":
		v.finished = true
		if v.live {
			v.redraw()
			v.drawn = 0
		}
		msg := fmt.Sprintf("run %s %s in %s%s", e.RunID, e.Status, elapsed(v.started, e.Time), v.targetText())
		if v.live {
			fmt.Fprintln(v.w, v.paint(e.Status, msg))
		} else if !v.quiet || e.Status != "succeeded" {
			v.line(e.Time, "%s", msg)
		}
	}
}

func (v *view) targetText() string {
	if v.target <= 0 {
		return ""
	}
	if v.started.IsZero() {
		return fmt.Sprintf(" (target %s)", v.target)
	}
	used := time.Since(v.started)
	if used > v.target {
		return fmt.Sprintf(" (target %s: OVER by %s)", v.target, (used - v.target).Round(time.Second))
	}
	return fmt.Sprintf(" (target %s)", v.target)
}

func (v *view) stepState(id string) *stepView {
	sv, ok := v.state[id]
	if !ok {
		sv = &stepView{}
		v.state[id] = sv
		v.steps = append(v.steps, id)
	}
	return sv
}

func (v *view) line(t time.Time, format string, args ...any) {
	fmt.Fprintf(v.w, "%s %s\n", t.Format("15:04:05"), fmt.Sprintf(format, args...))
}

var marks = map[string]string{
	"running": "▶", "succeeded": "✔", "failed": "✖", "skipped": "○", "interrupted": "⏸", "waiting": "?", "cancelled": "✖",
}

func (v *view) paint(status, s string) string {
	if !v.color {
		return s
	}
	code := map[string]string{"succeeded": "32", "failed": "31", "running": "36", "skipped": "90", "interrupted": "33", "waiting": "33"}[status]
	if code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// clear erases what the live view drew last.
func (v *view) clear() {
	if !v.live || v.drawn == 0 {
		return
	}
	fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.drawn)
	v.drawn = 0
}

// pause clears the live view and stops its redraws while a prompt has
// the terminal; the returned func lets it draw again.
func (v *view) pause() (resume func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	v.paused = true
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.paused = false
	}
}

// redraw draws one line per step, the running steps' last lines, and the
// time used against the target.
func (v *view) redraw() {
	if !v.live || v.runID == "" || v.paused {
		return
	}
	v.clear()
	var b strings.Builder
	head := fmt.Sprintf("%s  run %s  %s%s", v.proc, v.runID, elapsed(v.started, time.Time{}), v.targetText())
	b.WriteString(head + "\n")
	for _, id := range v.steps {
		sv := v.state[id]
		mark := marks[sv.status]
		if mark == "" {
			mark = "·"
		}
		t := ""
		if sv.status != "skipped" {
			t = elapsed(sv.start, sv.end)
		}
		line := fmt.Sprintf(" %s %-24s %-11s %s", mark, id, sv.status, t)
		if sv.attempt > 1 && sv.status == "running" {
			line += fmt.Sprintf(" (attempt %d)", sv.attempt)
		}
		b.WriteString(v.paint(sv.status, line) + "\n")
		if sv.status == "running" {
			for _, l := range sv.lines {
				if len(l) > 100 {
					l = l[:100] + "…"
				}
				b.WriteString("     │ " + l + "\n")
			}
		} else if sv.status == "failed" && sv.err != "" {
			b.WriteString("     └ " + sv.err + "\n")
		}
	}
	out := b.String()
	fmt.Fprint(v.w, out)
	v.drawn = strings.Count(out, "\n")
}
