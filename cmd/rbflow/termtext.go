package main

import (
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Text for the live view, measured in terminal columns: a wide (East
// Asian) character takes two, a combining mark none, and a grapheme
// cluster (a letter and its marks, an emoji sequence) is never cut.

// textWidth is the number of columns s takes on a terminal.
func textWidth(s string) int { return uniseg.StringWidth(s) }

// fit cuts s to at most width columns, ending it with "…" when it was cut.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if textWidth(s) <= width {
		return s
	}
	head, _ := cutColumns(s, width-1)
	return head + "…"
}

// pad fits s to width columns and fills it with spaces to width.
func pad(s string, width int) string {
	s = fit(s, width)
	if n := width - textWidth(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// cutColumns splits s after as many whole grapheme clusters as fit in
// width columns.
func cutColumns(s string, width int) (head, rest string) {
	used, state := 0, -1
	for rest = s; rest != ""; {
		_, next, w, st := uniseg.FirstGraphemeClusterInString(rest, state)
		if used+w > width {
			break
		}
		used, state, rest = used+w, st, next
	}
	return s[:len(s)-len(rest)], rest
}

// wrap cuts s into lines of at most width columns each, after a space
// where one is near the end of a line.
func wrap(s string, width int) []string {
	if width < 2 {
		width = 2 // a wide character must fit
	}
	var lines []string
	for {
		head, rest := cutColumns(s, width)
		if rest == "" {
			return append(lines, head)
		}
		if i := strings.LastIndexByte(head, ' '); i > 0 && textWidth(head[:i]) > width/2 {
			head, rest = head[:i], s[i+1:]
		}
		lines = append(lines, head)
		s = rest
	}
}

// printable is s as one line that draws only where it is written: what a
// carriage return overwrote is dropped, escape sequences (colours, cursor
// moves) and other control characters are removed, tabs are expanded and
// invalid UTF-8 becomes U+FFFD. A step's output reaches the terminal only
// through it.
func printable(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 {
		s = s[i+1:] // a progress bar redrawn in place: its last state
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	col := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			i = skipEscape(s, i)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
			col++
		case r < 0x20 || r >= 0x7f && r < 0xa0:
			// C0 and C1 controls (0x9b is a CSI of its own)
		default:
			b.WriteRune(r)
			col += uniseg.StringWidth(string(r))
		}
	}
	return b.String()
}

// skipEscape returns the index just past the escape sequence that starts
// at s[i] (an ESC): CSI, OSC and the string sequences (DCS, SOS, PM, APC),
// or ESC with intermediates and a final byte.
func skipEscape(s string, i int) int {
	i++
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		for i++; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']', 'P', 'X', '^', '_':
		for i++; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	}
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	return min(i+1, len(s))
}
