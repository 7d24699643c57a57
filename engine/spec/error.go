package spec

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
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
		line, col := snippet(e.Snippet, e.Pos.Col)
		fmt.Fprintf(&b, "\n%5d | %s\n      | %s^", e.Pos.Line, line, strings.Repeat(" ", col-1))
	}
	return b.String()
}

// maxSnippet is how many runes of a source line an error shows.
const maxSnippet = 100

// snippet makes a source line safe and short to print: control characters
// and invalid UTF-8 become U+FFFD, one column each so that the caret stays
// in place (and a terminal never sees escape sequences from a hostile
// file); a long line is cut to a window around col. It returns the line and
// the caret's column in it.
func snippet(src string, col int) (string, int) {
	runes := make([]rune, 0, min(len(src), 4*maxSnippet))
	for _, r := range src {
		switch {
		case r == '\t':
			r = ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			r = utf8.RuneError
		}
		runes = append(runes, r)
	}
	col = max(col, 1)
	if len(runes) <= maxSnippet {
		return string(runes), col
	}
	start := max(0, min(col-1-maxSnippet/2, len(runes)-maxSnippet))
	end := min(len(runes), start+maxSnippet)
	out := string(runes[start:end])
	if end < len(runes) {
		out += "…"
	}
	if start > 0 {
		return "…" + out, col - start + 1
	}
	return out, col
}

// maxArg is the longest string argument a message takes whole; longer ones
// keep their first keepArg runes.
const (
	maxArg  = 256
	keepArg = 60
)

// shorten cuts long strings among message arguments, so that a megabyte key
// does not make a megabyte error.
func shorten(args []any) []any {
	out := args
	cloned := false
	for i, a := range args {
		s, ok := a.(string)
		if !ok || len(s) <= maxArg {
			continue
		}
		if !cloned {
			out, cloned = slices.Clone(args), true
		}
		out[i] = fmt.Sprintf("%s…(%d bytes)", truncRunes(s, keepArg), len(s))
	}
	return out
}

func truncRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
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
	text  string
	lines []span // each line without its line break
}

type span struct{ start, end int }

// NewSource splits text into lines for snippets. Lines end where YAML's do:
// at LF, CRLF, a lone CR, NEL, LS or PS; otherwise the line numbers of the
// YAML library and of the snippets would disagree. A byte order mark is not
// part of the first line.
func NewSource(file string, text []byte) *Source {
	s := &Source{File: file, text: string(text)}
	t := s.text
	start := 0
	if strings.HasPrefix(t, "\uFEFF") {
		start = len("\uFEFF")
	}
	for i := start; i < len(t); {
		n := breakLen(t, i)
		if n == 0 {
			i++
			continue
		}
		s.lines = append(s.lines, span{start, i})
		i += n
		start = i
	}
	s.lines = append(s.lines, span{start, len(t)})
	return s
}

// breakLen is the length of the line break at t[i], or 0.
func breakLen(t string, i int) int {
	switch t[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(t) && t[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xc2:
		if strings.HasPrefix(t[i:], "\u0085") {
			return 2
		}
	case 0xe2:
		if strings.HasPrefix(t[i:], "\u2028") || strings.HasPrefix(t[i:], "\u2029") {
			return 3
		}
	}
	return 0
}

// Line returns line n (1-based) without its line break, or "".
func (s *Source) Line(n int) string {
	if s == nil || n < 1 || n > len(s.lines) {
		return ""
	}
	l := s.lines[n-1]
	return s.text[l.start:l.end]
}

// posAt is the line and rune column of byte offset off.
func (s *Source) posAt(off int) Pos {
	n := sort.Search(len(s.lines), func(i int) bool { return s.lines[i].start > off }) // first line after off
	if n == 0 {
		return Pos{Line: 1, Col: 1}
	}
	l := s.lines[n-1]
	return Pos{Line: n, Col: utf8.RuneCountInString(s.text[l.start:min(max(off, l.start), l.end)]) + 1}
}

// Errorf builds a positioned error with the snippet of its line.
func (s *Source) Errorf(pos Pos, step, format string, args ...any) *Error {
	// The YAML library places an empty value at the end of a file that
	// lacks a final line break on a line after it.
	if n := len(s.lines); pos.Line > n {
		pos = Pos{Line: n, Col: utf8.RuneCountInString(s.Line(n)) + 1}
	}
	return &Error{File: s.File, Pos: pos, Step: step, Msg: fmt.Sprintf(format, shorten(args)...), Snippet: s.Line(pos.Line)}
}

// synonyms maps words that people bring from other tools (GitHub Actions,
// Taskfile, Ansible, or plain English) to this language's keys: the first
// of them that is a candidate where the word stands (inputs is with in a
// step, params at the top).
var synonyms = map[string][]string{
	"environment":       {"env"},
	"enviroment":        {"env"},
	"environ":           {"env"},
	"envs":              {"env"},
	"variables":         {"env"},
	"vars":              {"env"},
	"depends_on":        {"needs"},
	"dependencies":      {"needs"},
	"deps":              {"needs"},
	"after":             {"needs"},
	"requires":          {"needs"},
	"working_directory": {"dir"},
	"working_dir":       {"dir"},
	"workdir":           {"dir"},
	"cwd":               {"dir"},
	"chdir":             {"dir"},
	"directory":         {"dir"},
	"when":              {"if"},
	"condition":         {"if"},
	"args":              {"with"},
	"arguments":         {"with"},
	"inputs":            {"with", "params"},
	"timeout_minutes":   {"timeout"},
	"retries":           {"retry"},
	"ignore_errors":     {"continue_on_error"},
	"ignore_error":      {"continue_on_error"},
	"allow_failure":     {"continue_on_error"},
	"script":            {"run"},
	"shell_script":      {"run"},
	"cmd":               {"run"},
	"command":           {"run"},
	"name":              {"description"},
	"jobs":              {"steps"},
	"tasks":             {"steps"},
	"on_error":          {"on_failure"},
	"on_fail":           {"on_failure"},
	"always":            {"finally"},
	"cleanup":           {"finally"},
	"parameters":        {"params"},
	"integer":           {"int"},
	"number":            {"int"},
	"boolean":           {"bool"},
	"str":               {"string"},
	"text":              {"string"},
	"array":             {"list"},
	"sequence":          {"list"},
	"options":           {"enum"},
	"choices":           {"enum"},
}

// Suggest returns the candidate closest to name, or "" when none is close.
// It is used for "did you mean" hints on unknown keys and ids: dashes for
// underscores, case, one transposed pair and the words of other tools
// (environment, depends_on, working-directory) are all forgiven.
func Suggest(name string, candidates []string) string {
	if len(name) > 64 {
		return "" // no key or id is that long
	}
	norm := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(name))
	if slices.Contains(candidates, norm) {
		return norm
	}
	for _, s := range synonyms[norm] {
		if slices.Contains(candidates, s) {
			return s
		}
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(norm, c)
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

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Long names are never close to a key; do not spend time on them.
	if d := len(ra) - len(rb); d > 8 || d < -8 {
		return max(len(ra), len(rb))
	}
	rows := [3][]int{make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		pp, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		rows[0], rows[1], rows[2] = prev, cur, pp
	}
	return rows[1][len(rb)]
}

// Hint formats a "did you mean" suffix for name among candidates: ` (did
// you mean "x"?)`, or "" when none is close.
func Hint(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" && s != name {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
