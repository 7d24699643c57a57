package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// screen is a small terminal for the tests. It draws what a program
// writes into rows of cells the way xterm does: deferred autowrap (the
// character after the last column starts a new row, marked as the
// continuation of the one above), a wide character in two cells, a
// combining mark in the cell before it. Rows that scroll off the top are
// kept, and so are the rows on the screen when it is erased from its
// first cell. Resized, it reflows its lines. In all three it does as
// tmux does. It knows the control characters and escape sequences a live
// view may use (CR, LF, BS, TAB, cursor up and down, erase in display and
// in line, colours) and records any other.
type screen struct {
	cols, rows int
	lines      []*screenRow // what scrolled off, then the screen: its rows are the last rows lines
	x, y       int          // the cursor; y counts from the screen's top
	pending    bool         // the last column was written: the next character wraps
	partial    []byte       // an escape sequence or UTF-8 character cut by the end of a write
	unknown    []string     // control characters and sequences it does not know
}

// screenRow is one row of cells. A cell holds a character and its marks;
// "" is empty and wideTail is the second cell of a wide character.
type screenRow struct {
	cells   []string
	wrapped bool // continues the row above: what was written there did not fit
}

const wideTail = "\x00"

func newScreen(cols, rows int) *screen {
	s := &screen{cols: cols, rows: rows}
	for range rows {
		s.lines = append(s.lines, s.newRow())
	}
	return s
}

func (s *screen) newRow() *screenRow { return &screenRow{cells: make([]string, s.cols)} }

func (s *screen) row(y int) *screenRow { return s.lines[len(s.lines)-s.rows+y] }

func (s *screen) Write(p []byte) (int, error) {
	data := append(s.partial, p...)
	s.partial = nil
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == 0x1b:
			n := s.escape(data[i:])
			if n == 0 {
				s.partial = append([]byte(nil), data[i:]...)
				return len(p), nil
			}
			i += n
			continue
		case c == '\r':
			s.x, s.pending = 0, false
		case c == '\n':
			s.lineFeed()
		case c == '\b':
			s.x, s.pending = max(s.x-1, 0), false
		case c == '\t':
			s.x = min((s.x/8+1)*8, s.cols-1)
		case c == 0x07:
		case c < 0x20 || c == 0x7f:
			s.unknown = append(s.unknown, fmt.Sprintf("control character %#x", c))
		default:
			if !utf8.FullRune(data[i:]) {
				s.partial = append([]byte(nil), data[i:]...)
				return len(p), nil
			}
			r, size := utf8.DecodeRune(data[i:])
			s.put(r)
			i += size
			continue
		}
		i++
	}
	return len(p), nil
}

// escape carries out the escape sequence at the start of b and returns
// its length, or 0 when b ends before the sequence does.
func (s *screen) escape(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if b[1] != '[' {
		s.unknown = append(s.unknown, fmt.Sprintf("escape %q", b[:2]))
		return 2
	}
	end := 2
	for end < len(b) && (b[end] < 0x40 || b[end] > 0x7e) {
		end++
	}
	if end == len(b) {
		return 0
	}
	params, final := string(b[2:end]), b[end]
	n := 0
	if params != "" && params[0] >= '0' && params[0] <= '9' && !strings.Contains(params, ";") {
		n, _ = strconv.Atoi(params)
	}
	switch {
	case final == 'A' && (params == "" || n > 0):
		s.y, s.pending = max(s.y-max(n, 1), 0), false
	case final == 'B' && (params == "" || n > 0):
		s.y, s.pending = min(s.y+max(n, 1), s.rows-1), false
	case final == 'J' && (params == "" || params == "0"):
		if s.x == 0 && s.y == 0 {
			s.scrollOnClear()
		}
		s.clearFrom(s.y, s.x)
		for y := s.y + 1; y < s.rows; y++ {
			*s.row(y) = *s.newRow()
		}
	case final == 'K' && (params == "" || params == "0") && s.x > 0:
		s.clearFrom(s.y, s.x)
	case final == 'K' && (params == "" || params == "0" || params == "2"):
		s.clearLine(s.y)
	case final == 'm':
	default:
		s.unknown = append(s.unknown, fmt.Sprintf("escape sequence %q", b[:end+1]))
	}
	return end + 1
}

// scrollOnClear moves the screen's rows, down to the last one written,
// into the history, as tmux does when the screen is erased from its first
// cell (its option scroll-on-clear, on by default).
func (s *screen) scrollOnClear() {
	last := -1
	for y := range s.rows {
		if s.row(y).text() != "" {
			last = y
		}
	}
	for range last + 1 {
		s.lines = append(s.lines, s.newRow())
	}
}

// clearLine empties a row. Like tmux, it forgets that the row continued
// the one above and that the row below continued it.
func (s *screen) clearLine(y int) {
	*s.row(y) = *s.newRow()
	if y+1 < s.rows {
		s.row(y + 1).wrapped = false
	}
}

func (s *screen) clearFrom(y, x int) {
	r := s.row(y)
	for i := x; i < s.cols; i++ {
		r.cells[i] = ""
	}
}

func (s *screen) lineFeed() {
	s.pending = false
	if s.y < s.rows-1 {
		s.y++
		return
	}
	s.lines = append(s.lines, s.newRow())
}

func (s *screen) put(r rune) {
	w := uniseg.StringWidth(string(r))
	if w == 0 { // a combining mark joins the character before it
		x := s.x
		if !s.pending {
			x--
		}
		cells := s.row(s.y).cells
		for x > 0 && cells[x] == wideTail {
			x--
		}
		if x >= 0 {
			cells[x] += string(r)
		}
		return
	}
	if s.pending || s.x+w > s.cols {
		s.x = 0
		s.lineFeed()
		s.row(s.y).wrapped = true
	}
	cells := s.row(s.y).cells
	cells[s.x] = string(r)
	if w == 2 {
		cells[s.x+1] = wideTail
	}
	s.x += w
	if s.x >= s.cols {
		s.x, s.pending = s.cols-1, true
	}
}

// resize gives the screen a new size and reflows its lines, as tmux does:
// rows that continue one another are one line, cut again at the new
// width, and the cursor keeps its place in its line.
func (s *screen) resize(cols, rows int) {
	type line struct {
		cells  []string
		cursor int // the cursor's cell in the line, or -1
	}
	var lines []line
	cursorRow := len(s.lines) - s.rows + s.y
	for i, r := range s.lines {
		if !r.wrapped || len(lines) == 0 {
			lines = append(lines, line{cursor: -1})
		}
		l := &lines[len(lines)-1]
		if i == cursorRow {
			l.cursor = len(l.cells) + s.x
			if s.pending {
				l.cursor++
			}
		}
		l.cells = append(l.cells, r.cells...)
	}
	s.cols, s.rows = cols, rows
	s.lines = nil
	newCursor, newX := 0, 0
	for _, l := range lines {
		used := len(l.cells)
		for used > 0 && l.cells[used-1] == "" && (l.cursor < 0 || used > l.cursor) {
			used--
		}
		r := s.newRow()
		s.lines = append(s.lines, r)
		x := 0
		for i := 0; i <= used; i++ {
			if i == l.cursor {
				newCursor, newX = len(s.lines)-1, x
			}
			if i == used {
				break
			}
			c := l.cells[i]
			if c == wideTail {
				continue
			}
			w := 1
			if i+1 < len(l.cells) && l.cells[i+1] == wideTail {
				w = 2
			}
			if x+w > cols {
				r = s.newRow()
				r.wrapped = true
				s.lines = append(s.lines, r)
				x = 0
			}
			r.cells[x] = c
			if w == 2 {
				r.cells[x+1] = wideTail
			}
			x += w
		}
	}
	top := max(0, newCursor-(rows-1))
	for len(s.lines) < top+rows {
		s.lines = append(s.lines, s.newRow())
	}
	s.lines = s.lines[:top+rows]
	s.y, s.x, s.pending = newCursor-top, min(newX, cols-1), false
}

// text is what a row shows, without trailing blanks.
func (r *screenRow) text() string {
	var b strings.Builder
	for _, c := range r.cells {
		switch c {
		case "":
			b.WriteByte(' ')
		case wideTail:
		default:
			b.WriteString(c)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// shot is a copy of the screen at one moment: the rows that scrolled off
// and the rows on the screen, and the sequences it did not know.
type shot struct {
	cols, rows int
	lines      []shotRow // history, then the screen's rows
	unknown    []string
}

type shotRow struct {
	text    string
	wrapped bool
}

func (s *screen) shot() shot {
	sh := shot{cols: s.cols, rows: s.rows, unknown: append([]string(nil), s.unknown...)}
	for _, r := range s.lines {
		sh.lines = append(sh.lines, shotRow{r.text(), r.wrapped})
	}
	return sh
}

// screen is the rows on the screen.
func (sh shot) screen() []shotRow { return sh.lines[len(sh.lines)-sh.rows:] }

func (sh shot) String() string {
	var b strings.Builder
	for i, r := range sh.lines {
		mark := "|"
		if r.wrapped {
			mark = "+"
		}
		if i == len(sh.lines)-sh.rows {
			fmt.Fprintf(&b, "%s\n", strings.Repeat("=", sh.cols+4))
		}
		fmt.Fprintf(&b, "%2d%s %s\n", i, mark, r.text)
	}
	return b.String()
}
