package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a 1-based line and column in a procedure file. The zero Pos means
// "no position" (an error about the file as a whole).
type Pos struct {
	Line int
	Col  int
}

// Error is a configuration error with its position in the procedure file.
type Error struct {
	File    string
	Pos     Pos
	Step    string // step id, when the error is inside a step
	Msg     string
	Snippet string // the source line, without its newline
}

// Error formats the error as file:line:col, the step, the message, and the
// source line with a caret under the column.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	if e.Step != "" {
		fmt.Fprintf(&b, "step %q: ", e.Step)
	}
	b.WriteString(e.Msg)
	if e.Snippet != "" && e.Pos.Line > 0 {
		line := strings.ReplaceAll(e.Snippet, "\t", " ")
		fmt.Fprintf(&b, "\n%5d | %s\n      | %s^", e.Pos.Line, line, caretPad(line, e.Pos.Col))
	}
	return b.String()
}

// caretPad returns the spaces that put a caret under rune column col.
func caretPad(line string, col int) string {
	n := 0
	for range line {
		if n >= col-1 {
			break
		}
		n++
	}
	if col-1 > n {
		n = col - 1
	}
	return strings.Repeat(" ", n)
}

// ErrorList is every error found in one or more files, in file order.
type ErrorList []*Error

// Error joins the errors, one block per error.
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	s := strings.Join(parts, "\n")
	if len(l) > 1 {
		s += fmt.Sprintf("\n%d errors", len(l))
	}
	return s
}

// Sort orders the errors by file and position.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Source is a procedure file's text, used to attach snippets to errors.
type Source struct {
	File  string
	lines []string
}

// NewSource splits text into lines for snippets.
func NewSource(file string, text []byte) *Source {
	return &Source{File: file, lines: strings.Split(string(text), "\n")}
}

// Line returns line n (1-based) without its newline, or "".
func (s *Source) Line(n int) string {
	if s == nil || n < 1 || n > len(s.lines) {
		return ""
	}
	return strings.TrimRight(s.lines[n-1], "\r")
}

// Errorf builds a positioned error with the snippet of its line.
func (s *Source) Errorf(pos Pos, step, format string, args ...any) *Error {
	return &Error{File: s.File, Pos: pos, Step: step, Msg: fmt.Sprintf(format, args...), Snippet: s.Line(pos.Line)}
}

// Suggest returns the candidate closest to name, or "" when none is close.
// It is used for "did you mean" hints on unknown keys and ids.
func Suggest(name string, candidates []string) string {
	norm := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(name))
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if c == norm {
			return c
		}
		d := levenshtein(norm, c)
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(name) <= 3 {
		limit = 1
	}
	if bestD <= limit || (bestD <= len(name)/3 && bestD <= 3) {
		return best
	}
	return ""
}

// levenshtein is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours ("rnu" → "run").
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// hint formats a "did you mean" suffix.
func hint(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" && s != name {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
