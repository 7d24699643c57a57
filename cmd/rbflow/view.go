package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

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
	deadline time.Duration // 0: none
	began    time.Time     // this execution's start, which the deadline counts from
	started  time.Time
	steps    []string
	state    map[string]*stepView
	term     *os.File // the terminal the live view draws on
	drawn    []int    // the columns of each line of the frame on the screen
	tick     *time.Ticker
	done     chan struct{}
	finished bool
	paused   bool // a prompt has the terminal
}

type stepView struct {
	status   string
	start    time.Time
	end      time.Time
	lines    []string
	err      string
	attempt  int
	progress *engine.Progress // a test step's counts so far
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
	// A closed stdout (| head) stops the view, not the run: after the
	// first failed write nothing more is written there.
	v := &view{a: a, w: &closableOut{w: a.stdout}, json: jsonOut, quiet: a.quiet, state: map[string]*stepView{}}
	if jsonOut {
		v.enc = json.NewEncoder(v.w)
		return v
	}
	v.live = isTerminal(a.stdout)
	if v.live {
		v.term = a.stdout.(*os.File)
	}
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
				v.draw(false)
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
			v.draw(true)
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
	v.say("rbflow: " + msg)
}

// Event implements engine.Observer.
// SamplesLines: the live and the quiet view show a step's last lines only;
// the plain and the JSON ones print every line.
func (v *view) SamplesLines() bool { return !v.json && (v.live || v.quiet) }

func (v *view) Event(e engine.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json {
		if e.Kind != "step_progress" { // every output line is in the stream already
			_ = v.enc.Encode(e)
		}
		return
	}
	if e.Item != nil {
		// One item of a step with for_each: a line of its own, named as
		// its record and log are (rbflow logs RUN STEP.INDEX).
		e.Step = engine.ItemID(e.Step, *e.Item)
	}
	switch e.Kind {
	case "run_started":
		v.runID, v.proc, v.started = e.RunID, e.Procedure, e.Time
		if e.StartedAt != nil {
			v.started = *e.StartedAt
		}
		v.target = time.Duration(e.Target * float64(time.Second))
		v.deadline, v.began = time.Duration(e.Deadline*float64(time.Second)), e.Time
		if !v.live && !v.quiet {
			v.line(e.Time, "run %s of %s %s%s%s", e.RunID, e.Procedure, e.Message, v.targetText(), v.deadlineText())
		}
	case "step_started":
		sv := v.stepState(e.Step)
		sv.status, sv.start, sv.lines, sv.err, sv.progress = "running", e.Time, nil, "", nil
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
	case "step_progress":
		if e.Progress != nil {
			p := *e.Progress
			v.stepState(e.Step).progress = &p
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
		if v.live {
			v.say(prefix + e.Message)
		} else {
			fmt.Fprintln(v.a.stderr, prefix+e.Message)
		}
	case "run_finished":
		v.finished = true
		v.draw(true)
		status := e.Status
		if len(e.Warnings) > 0 {
			status += fmt.Sprintf(" with %d warning%s", len(e.Warnings), plural(len(e.Warnings), "", "s"))
		}
		msg := fmt.Sprintf("run %s %s in %s%s", e.RunID, status, elapsed(v.started, e.Time), v.targetText())
		lines := []string{msg}
		for _, w := range e.Warnings {
			lines = append(lines, "  ⚠ "+w)
		}
		if v.live {
			paintAs := e.Status
			if len(e.Warnings) > 0 {
				paintAs = "waiting" // the warning colour
			}
			width, _ := v.size()
			for _, l := range lines {
				fmt.Fprintln(v.w, v.paint(paintAs, fit(l, width-1)))
			}
		} else if !v.quiet || e.Status != "succeeded" || len(e.Warnings) > 0 {
			v.line(e.Time, "%s", strings.Join(lines, "\n"))
		}
	}
}

// deadlineText is the procedure's deadline and, once the run is under
// way, the time left before it stops the run.
func (v *view) deadlineText() string {
	if v.deadline <= 0 {
		return ""
	}
	if v.began.IsZero() {
		return fmt.Sprintf(" (deadline %s)", v.deadline)
	}
	left := v.deadline - time.Since(v.began)
	if left <= 0 {
		return fmt.Sprintf(" (deadline %s: passed, stopping)", v.deadline)
	}
	return fmt.Sprintf(" (deadline %s: %s left)", v.deadline, left.Round(time.Second))
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

// size is the terminal's width and height, asked again for every frame
// so that a resized window gets frames of its new size.
func (v *view) size() (width, height int) {
	width, height = 80, 24
	if v.term != nil {
		if w, h, err := term.GetSize(int(v.term.Fd())); err == nil && w > 0 && h > 0 {
			width, height = w, h
		}
	}
	return width, height
}

// home returns what takes the cursor back to the first row of the frame
// on the screen, and forgets the frame. The frame's rows are counted at
// the terminal's width now: a terminal made narrower since has wrapped
// its longer lines again (tmux, VTE, iTerm2 and most others reflow). The
// carriage return comes first because a ^C echoed below the frame moved
// the cursor right.
func (v *view) home(width int) (seq string, rows int) {
	for _, cols := range v.drawn {
		rows += max(1, (cols+width-1)/width)
	}
	v.drawn = v.drawn[:0]
	if rows == 0 {
		return "\r", 0
	}
	return fmt.Sprintf("\r\x1b[%dA", rows), rows
}

// clear erases what the live view drew last and leaves the cursor where
// its first row was. It erases row by row: tmux moves the whole screen
// into its history when it is erased from its first cell (scroll-on-clear),
// which would keep a copy of the frame there each time.
func (v *view) clear() {
	if !v.live || len(v.drawn) == 0 {
		return
	}
	width, _ := v.size()
	seq, rows := v.home(width)
	var b strings.Builder
	b.WriteString(seq)
	for i := range rows {
		if i > 0 {
			b.WriteString("\x1b[B")
		}
		b.WriteString("\x1b[2K")
	}
	if rows > 1 {
		fmt.Fprintf(&b, "\x1b[%dA", rows-1)
	}
	io.WriteString(v.w, b.String())
}

// say prints a message around the live view, never over it: the frame is
// cleared, the message printed in its place and the frame drawn below it.
// A message to a stderr that is not the terminal leaves the frame as it is.
func (v *view) say(msg string) {
	if v.live && isTerminal(v.a.stderr) {
		v.clear()
		fmt.Fprintln(v.a.stderr, msg)
		v.draw(false)
		return
	}
	fmt.Fprintln(v.a.stderr, msg)
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

// draw replaces the frame on the screen with a new one, in one write:
// each row is erased whole, then written (a terminal that reflows forgets
// then that the row continued another, as tmux does), and what is left
// below of a taller frame is erased last (never from the screen's first
// cell; see clear). Every line is one column narrower than the terminal,
// so that no terminal wraps it (some wrap as soon as the last column is
// written), and a live frame leaves the last row free for the cursor:
// the rows to go back up are then always the rows drawn. The final frame
// is drawn once and stays: it has every step and whole error messages.
func (v *view) draw(final bool) {
	if !v.live || v.runID == "" || v.paused || v.finished && !final {
		return // the final frame stays as it was drawn
	}
	width, height := v.size()
	var b strings.Builder
	seq, _ := v.home(width)
	b.WriteString(seq)
	for _, l := range v.frame(width-1, height-1, final) {
		b.WriteString("\x1b[2K")
		b.WriteString(v.paint(l.status, l.text))
		b.WriteByte('\n')
		v.drawn = append(v.drawn, textWidth(l.text))
	}
	b.WriteString("\x1b[J")
	io.WriteString(v.w, b.String())
	if final {
		v.drawn = v.drawn[:0]
	}
}

// frameLine is one line of the live view, painted by its status.
type frameLine struct{ text, status string }

// stepBlock is a step's lines in the live view: its own line, then its
// last output lines, its test counts or its error.
type stepBlock struct {
	lines   []frameLine
	keep    int // how many lines go last when the frame is too tall
	running bool
	status  string
}

// frame lays the live view out in cols columns and, unless final, at
// most rows rows: the time against the target, then one line per step
// with what is under it. When the steps do not fit, the oldest finished
// steps give way to a line that counts them, then the running steps'
// older output lines, then the oldest running steps.
func (v *view) frame(cols, rows int, final bool) []frameLine {
	head := frameLine{text: fit(fmt.Sprintf("%s  run %s  %s%s%s", v.proc, v.runID, elapsed(v.started, time.Time{}), v.targetText(), v.deadlineText()), cols)}
	blocks := make([]stepBlock, len(v.steps))
	total := 1
	for i, id := range v.steps {
		blocks[i] = v.block(id, cols, final)
		total += len(blocks[i].lines)
	}
	hidden := make([]bool, len(blocks))
	nHidden := 0
	tooTall := func() bool { return !final && total+min(nHidden, 1) > rows }
	hide := func(i int) {
		hidden[i] = true
		nHidden++
		total -= len(blocks[i].lines)
	}
	for i := 0; i < len(blocks) && tooTall(); i++ {
		if !blocks[i].running {
			hide(i)
		}
	}
	for tooTall() {
		most := -1
		for i, b := range blocks {
			if !hidden[i] && len(b.lines) > b.keep && (most < 0 || len(b.lines)-b.keep > len(blocks[most].lines)-blocks[most].keep) {
				most = i
			}
		}
		if most < 0 {
			break
		}
		b := &blocks[most]
		b.lines = append(b.lines[:b.keep], b.lines[b.keep+1:]...) // the oldest line
		total--
	}
	for i := 0; i < len(blocks) && tooTall(); i++ {
		if !hidden[i] {
			hide(i)
		}
	}
	out := []frameLine{head}
	if nHidden > 0 {
		out = append(out, hiddenLine(blocks, hidden, cols))
	}
	for i, b := range blocks {
		if !hidden[i] {
			out = append(out, b.lines...)
		}
	}
	if !final && len(out) > max(rows, 1) {
		out = out[:max(rows, 1)]
	}
	return out
}

// hiddenLine counts the steps a frame has no room for, by status.
func hiddenLine(blocks []stepBlock, hidden []bool, cols int) frameLine {
	n, by, order := 0, map[string]int{}, []string(nil)
	for i, b := range blocks {
		if !hidden[i] {
			continue
		}
		n++
		if by[b.status] == 0 {
			order = append(order, b.status)
		}
		by[b.status]++
	}
	parts := make([]string, len(order))
	for i, st := range order {
		parts[i] = fmt.Sprintf("%d %s", by[st], st)
	}
	what := "steps"
	if n == 1 {
		what = "step"
	}
	status := ""
	if by["failed"] > 0 {
		status = "failed"
	}
	return frameLine{text: fit(fmt.Sprintf(" … %d %s not shown: %s", n, what, strings.Join(parts, ", ")), cols), status: status}
}

// Under a step's line: its output, its test counts, its error.
const (
	gutter     = "     │ "
	errGutter  = "     └ "
	failGutter = "     ✖ "
	moreGutter = "       "
)

// block lays out one step in cols columns. The step's id is shortened
// before its status and time when the line is too wide.
func (v *view) block(id string, cols int, final bool) stepBlock {
	sv := v.state[id]
	mark := marks[sv.status]
	if mark == "" {
		mark = "·"
	}
	t := ""
	if sv.status != "skipped" {
		t = elapsed(sv.start, sv.end)
	}
	left := " " + mark + " "
	right := " " + pad(sv.status, 11) + " " + t
	if sv.attempt > 1 && sv.status == "running" {
		right += fmt.Sprintf(" (attempt %d)", sv.attempt)
	}
	idCols := 24
	if room := cols - textWidth(left) - textWidth(right); room < idCols {
		idCols = max(room, 8)
	}
	b := stepBlock{running: sv.status == "running", status: sv.status, keep: 1}
	line := strings.TrimRight(left+pad(printable(id), idCols)+right, " ")
	b.lines = append(b.lines, frameLine{fit(line, cols), sv.status})
	switch {
	case sv.status == "running" && sv.progress != nil:
		p := sv.progress
		counts := fmt.Sprintf("%d passed, %d failed", p.Passed, p.Failed)
		if p.Skipped > 0 {
			counts += fmt.Sprintf(", %d skipped", p.Skipped)
		}
		b.lines = append(b.lines, frameLine{text: fit(gutter+counts, cols)})
		b.keep = 2
		names := p.Failures
		if len(names) > 3 {
			names = names[len(names)-3:]
		}
		for _, name := range names {
			b.lines = append(b.lines, frameLine{fit(failGutter+printable(name), cols), "failed"})
		}
	case sv.status == "running":
		for _, l := range sv.lines {
			b.lines = append(b.lines, frameLine{text: fit(gutter+printable(l), cols)})
		}
	case sv.status == "failed" && sv.err != "":
		if !final {
			first, _, _ := strings.Cut(sv.err, "\n")
			b.lines = append(b.lines, frameLine{text: fit(errGutter+printable(first), cols)})
			break
		}
		prefix := errGutter
		for _, l := range strings.Split(strings.TrimRight(sv.err, "\n"), "\n") {
			for _, part := range wrap(printable(l), cols-textWidth(moreGutter)) {
				b.lines = append(b.lines, frameLine{text: prefix + part})
				prefix = moreGutter
			}
		}
	}
	return b
}

// closableOut writes to w until a write fails (a closed pipe), then drops
// everything: the run's output goes on to its logs.
type closableOut struct {
	w      io.Writer
	closed atomic.Bool
}

func (c *closableOut) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return len(p), nil
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.closed.Store(true)
	}
	return n, err
}
