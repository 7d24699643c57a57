package eval

import (
	"errors"
	"fmt"
	"strings"
)

// Shell contexts an interpolation can stand in. The value is escaped for
// the context the script's own text puts it in, so that
// `echo "${{ params.who }}"` prints the value (not the value in quotes) and
// a value in a here-document cannot run a command.
type shellMode int

const (
	modePlain         shellMode = iota // a bare word: the value becomes one quoted word
	modeSingle                         // inside '...'
	modeDouble                         // inside "..."
	modeComment                        // after # to the end of the line
	modeHeredoc                        // a here-document body with an unquoted delimiter (expands $)
	modeHeredocQuoted                  // a here-document body with a quoted delimiter (literal)
)

type heredoc struct {
	delim  string
	quoted bool
	strip  bool // <<-: leading tabs are removed from lines
}

// shellCtx is where one interpolation stands.
type shellCtx struct {
	mode  shellMode
	delim string // for here-documents
}

// shellScanner follows a bash script's quoting as its text is fed in. It is
// an approximation of bash's grammar that errs on the side of quoting: what
// it does not understand is treated as a bare word.
type shellScanner struct {
	stack   []shellMode // nesting of $( ... ) and ` ... ` inside quotes
	mode    shellMode
	depth   []int // parentheses open in each $( ) level
	pending []heredoc
	cur     heredoc
	line    strings.Builder // the current line of a here-document body
	word    bool            // inside a word (a # here does not start a comment)
	escape  bool            // the previous character was an unquoted backslash
}

func (s *shellScanner) context() shellCtx {
	return shellCtx{mode: s.mode, delim: s.cur.delim}
}

// interpolated tells the scanner a value was written at this point: it is
// part of the current word and line.
func (s *shellScanner) interpolated() {
	s.word = true
	if s.mode == modeHeredoc || s.mode == modeHeredocQuoted {
		s.line.WriteString("\x00")
	}
}

func (s *shellScanner) feed(text string) {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if s.escape {
			s.escape = false
			s.word = true
			continue
		}
		switch s.mode {
		case modeSingle:
			if c == '\'' {
				s.mode = modePlain
			}
		case modeDouble:
			switch c {
			case '\\':
				s.escape = true
			case '"':
				s.mode = modePlain
			case '$':
				if i+1 < len(text) && text[i+1] == '(' {
					s.push(modeDouble, false)
					i++
				}
			case '`':
				s.push(modeDouble, true)
			}
		case modeComment:
			if c == '\n' {
				s.mode = modePlain
				s.newline()
			}
		case modeHeredoc, modeHeredocQuoted:
			if c == '\n' {
				l := s.line.String()
				s.line.Reset()
				if s.cur.strip {
					l = strings.TrimLeft(l, "\t")
				}
				if l == s.cur.delim {
					s.nextHeredoc()
				}
				continue
			}
			s.line.WriteByte(c)
		default: // plain
			i = s.plain(text, i)
		}
	}
}

// plain handles one character of a bare context and returns the index of
// the last character it consumed.
func (s *shellScanner) plain(text string, i int) int {
	c := text[i]
	switch c {
	case '\\':
		s.escape = true
	case '\'':
		s.mode = modeSingle
		s.word = true
	case '"':
		s.mode = modeDouble
		s.word = true
	case '#':
		if !s.word {
			s.mode = modeComment
		}
	case '\n':
		s.word = false
		s.newline()
	case ' ', '\t', ';', '&', '|', '(', '>':
		s.word = false
		if c == '(' && len(s.depth) > 0 && s.depth[len(s.depth)-1] >= 0 {
			s.depth[len(s.depth)-1]++
		}
	case ')':
		s.word = true
		if n := len(s.depth); n > 0 && s.depth[n-1] >= 0 {
			if s.depth[n-1] > 0 {
				s.depth[n-1]--
			} else {
				s.pop()
			}
		}
	case '`':
		if n := len(s.depth); n > 0 && s.depth[n-1] == backtick {
			s.pop()
		} else {
			s.push(modePlain, true)
		}
	case '$':
		s.word = true
		if i+1 < len(text) && text[i+1] == '(' {
			s.push(modePlain, false)
			return i + 1
		}
	case '<':
		s.word = false
		if i+1 < len(text) && text[i+1] == '<' && !(i+2 < len(text) && text[i+2] == '<') {
			return s.heredocStart(text, i+2)
		}
	default:
		s.word = true
	}
	return i
}

// backtick marks a `...` level in depth (it ends at a backtick, not at ")").
const backtick = -1

// push enters a command substitution, remembering where it returns to.
func (s *shellScanner) push(back shellMode, tick bool) {
	s.stack = append(s.stack, back)
	d := 0
	if tick {
		d = backtick
	}
	s.depth = append(s.depth, d)
	s.mode = modePlain
	s.word = false
}

func (s *shellScanner) pop() {
	if len(s.stack) == 0 {
		return
	}
	s.mode = s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	s.depth = s.depth[:len(s.depth)-1]
}

// heredocStart reads the delimiter after << and queues the here-document;
// its body starts at the next newline.
func (s *shellScanner) heredocStart(text string, i int) int {
	h := heredoc{}
	if i < len(text) && text[i] == '-' {
		h.strip = true
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	var d strings.Builder
	for ; i < len(text); i++ {
		c := text[i]
		if strings.IndexByte(" \t\n;&|<>()", c) >= 0 {
			break
		}
		if c == '\'' || c == '"' || c == '\\' {
			h.quoted = true
			continue
		}
		d.WriteByte(c)
	}
	h.delim = d.String()
	if h.delim != "" {
		s.pending = append(s.pending, h)
	}
	return i - 1
}

func (s *shellScanner) newline() {
	if len(s.pending) > 0 {
		s.nextHeredoc()
	}
}

func (s *shellScanner) nextHeredoc() {
	if len(s.pending) == 0 {
		s.mode = modePlain
		s.cur = heredoc{}
		return
	}
	s.cur = s.pending[0]
	s.pending = s.pending[1:]
	s.mode = modeHeredoc
	if s.cur.quoted {
		s.mode = modeHeredocQuoted
	}
	s.line.Reset()
}

// errUnsafe is returned when a value cannot be written where it stands.
var errUnsafe = errors.New("unsafe value")

// shellValue writes v for its context.
func shellValue(v any, ctx shellCtx) (string, error) {
	switch ctx.mode {
	case modePlain:
		return ShellQuote(v), nil
	case modeComment:
		return strings.NewReplacer("\n", " ", "\r", " ").Replace(Text(v)), nil
	case modeSingle:
		return strings.ReplaceAll(Text(v), "'", `'\''`), nil
	case modeDouble:
		return doubleEscaper.Replace(Text(v)), nil
	case modeHeredoc, modeHeredocQuoted:
		s := Text(v)
		for _, l := range strings.Split(s, "\n") {
			if l == ctx.delim || strings.TrimLeft(l, "\t") == ctx.delim {
				return "", fmt.Errorf("%w: it holds a line %q, which would end the here-document", errUnsafe, ctx.delim)
			}
		}
		if ctx.mode == modeHeredoc {
			return heredocEscaper.Replace(s), nil
		}
		return s, nil
	}
	return ShellQuote(v), nil
}

var (
	doubleEscaper  = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	heredocEscaper = strings.NewReplacer(`\`, `\\`, "$", `\$`, "`", "\\`")
)
