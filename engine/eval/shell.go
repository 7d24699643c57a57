package eval

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// Dialect is the shell language a script is parsed in.
type Dialect int

// Dialects.
const (
	Bash  Dialect = iota // bash (run: and test: by default, service and wait commands)
	POSIX                // POSIX sh (shell: sh)
)

// DialectOf returns the dialect of a step's shell: field ("", bash or sh).
func DialectOf(shell string) Dialect {
	if shell == "sh" {
		return POSIX
	}
	return Bash
}

// Script is a shell template rendered for one run of a shell. Text is what
// the shell runs: every interpolated value in it is a reference to one of
// Vars, which the caller sets in the shell's environment. No value is ever
// part of Text.
type Script struct {
	Text string
	Vars []Var
}

// Var is one environment variable of a Script.
type Var struct {
	Name, Value string
}

// Env returns the script's variables as NAME=value entries, to append to
// the environment of the process that runs Text.
func (s Script) Env() []string {
	out := make([]string, len(s.Vars))
	for i, v := range s.Vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}

// String returns the script as one self-contained text, for records that
// must be run again later without the environment (a service's start
// command) and for people: a line assigning each variable its
// single-quoted value, then Text. It runs as Text does.
func (s Script) String() string { return s.Display(nil) }

// Display is String with each value passed through mask (nil: none)
// before it is quoted, so that a secret is masked whatever quotes it holds.
func (s Script) Display(mask func(string) string) string {
	return s.Record(func(value string) []Piece {
		if mask != nil {
			value = mask(value)
		}
		return []Piece{{Text: value}}
	})
}

// Piece is a part of a value as Record writes it: text, or a reference to
// the environment variable named Ref.
type Piece struct {
	Text, Ref string
}

// Record is String with each value cut into pieces by split: text is
// quoted, a reference is written "${NAME}". A record that must not hold a
// value (a secret) refers to the variable that will carry it when the
// record is run again.
func (s Script) Record(split func(value string) []Piece) string {
	if len(s.Vars) == 0 {
		return s.Text
	}
	var b strings.Builder
	for _, v := range s.Vars {
		b.WriteString(v.Name)
		b.WriteByte('=')
		n := b.Len()
		for _, p := range split(v.Value) {
			switch {
			case p.Ref != "":
				b.WriteString(`"${` + p.Ref + `}"`)
			case p.Text != "":
				b.WriteString(Quote(p.Text))
			}
		}
		if b.Len() == n {
			b.WriteString("''")
		}
		b.WriteByte('\n')
	}
	b.WriteString(s.Text)
	return b.String()
}

// VarPrefix starts the name of every variable that carries a value into a
// script.
const VarPrefix = "RBFLOW_V_"

// chunkSize bounds one environment variable: Linux refuses a single
// environment string over 128 KiB, so a longer value is carried by several
// variables whose references are written side by side.
const chunkSize = 64 << 10

// refForm is how a reference is written where the value stands.
type refForm int

const (
	formWord         refForm = iota // an unquoted word: "${V}"
	formBare                        // inside "...", an unquoted here-document or arithmetic: ${V}
	formSingle                      // inside '...': '"${V}"'
	formDollarSingle                // inside $'...': '"${V}"$'
	formComment                     // in a comment: ${V}, read by nobody
)

// valueCheck is what a value must be where it stands, checked before the
// script starts.
type valueCheck int

const (
	checkNone     valueCheck = iota
	checkInt                 // arithmetic: bash evaluates the text, so only an integer is data
	checkName                // a variable name (unset, read, printf -v, [[ -v ]], declare -n): bash evaluates a[...] in it
	checkCompound            // a declaration's value: bash runs a value of the form (...) as an array assignment
)

// shellCtx is where one ${{ }} stands in a shell script, as the parser
// found it.
type shellCtx struct {
	form  refForm
	split bool // a list becomes one word per item; otherwise its items joined by spaces
	check valueCheck
	decl  *declWord // for checkCompound: the assigned text the value is part of
}

// declWord is the text assigned by a declaration (declare x=..., local,
// export, readonly, typeset), as segments: what the script writes
// literally, the values of ${{ }} parts, and what only bash knows.
type declWord struct {
	segs []declSeg
}

type declSeg struct {
	kind int // segLit, segValue, segUnknown
	lit  string
	part int // for segValue: index into Template.parts
}

const (
	segLit = iota
	segValue
	segUnknown
)

// compound reports whether the assigned text starts with ( and ends with )
// given the values of the parts, and a value is part of it: bash would read
// it as an array assignment and run what it holds. What only bash knows is
// taken to be neither parenthesis.
func (d *declWord) compound(text func(part int) string) bool {
	edge := func(first bool) byte {
		n := len(d.segs)
		for i := range n {
			s := d.segs[i]
			if !first {
				s = d.segs[n-1-i]
			}
			t := s.lit
			switch s.kind {
			case segUnknown:
				return 0
			case segValue:
				t = text(s.part)
			}
			if t == "" {
				continue
			}
			if first {
				return t[0]
			}
			return t[len(t)-1]
		}
		return 0
	}
	if edge(true) != '(' || edge(false) != ')' {
		return false
	}
	for _, s := range d.segs {
		if s.kind == segValue && text(s.part) != "" {
			return true
		}
	}
	return false
}

// placeholder is what stands for the k-th ${{ }} while the script is
// parsed: a parameter expansion wherever bash expands one, plain text in
// quotes and comments.
func placeholder(k int) string { return fmt.Sprintf("${_rbflow_ph%d_}", k) }

var placeholderRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{_rbflow_ph([0-9]+)_\}`) })

// ShellTemplate compiles src, a script that bash (or sh, for POSIX) runs,
// with ${{ }} values. The script is parsed with every ${{ }} replaced by a
// placeholder, and each value's context is decided by the parser: a script
// the parser rejects, a ${{ }} where bash would not read a value (after a
// backslash, in a here-document delimiter or a quoted here-document), a
// value run as code (eval, bash -c, sh -c, source, trap) that is not a
// param of type command, and a list or bool where bash reads an integer
// are errors with the offset of the ${{ }} in src.
func (c *Compiler) ShellTemplate(src string, d Dialect) (*Template, error) {
	t, err := c.Template(src)
	if err != nil {
		return nil, err
	}
	t.shell = true
	if t.IsLiteral() {
		f, err := parseShell(src, d)
		if err != nil {
			return nil, shellParseError(err, src, nil, d)
		}
		if e := githubFiles(f); e != nil {
			return nil, e
		}
		return t, nil
	}
	a := &shellAnalysis{c: c, t: t, intVars: map[string]bool{}}
	if err := a.run(d); err != nil {
		return nil, err
	}
	return t, nil
}

// githubFiles refuses a script that writes to GitHub Actions' files
// ($GITHUB_OUTPUT, $GITHUB_ENV) by habit: a redirection to one, or tee
// of one. Outside GitHub Actions the variable is unset (bash: ambiguous
// redirect); inside a job, what the step wrote would go to the job, never
// to steps.<id>.outputs. The parser decides what is a redirection, so
// text, comments and here-documents that mention the name are not
// refused. A script that means the job's file says so with an expansion
// that is not bare: ${GITHUB_OUTPUT:?}. The Error's offset is into the
// parsed text.
func githubFiles(f *syntax.File) *Error {
	var found *Error
	check := func(w *syntax.Word) {
		if found != nil || w == nil {
			return
		}
		if name, pos := githubFile(w); name != "" {
			found = &Error{Offset: pos, Msg: githubFileMsg[name]}
		}
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.Redirect:
			switch x.Op {
			case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.RdrAll, syntax.AppAll, syntax.DplOut, syntax.RdrInOut:
				check(x.Word)
			}
		case *syntax.CallExpr:
			if len(x.Args) > 0 && x.Args[0].Lit() == "tee" {
				for _, a := range x.Args[1:] {
					check(a)
				}
			}
		}
		return found == nil
	})
	return found
}

// githubFileMsg says, for each of GitHub Actions' files, what to write
// instead. A message is at most 256 bytes, which an error shows whole.
var githubFileMsg = map[string]string{
	"GITHUB_OUTPUT": `$GITHUB_OUTPUT is GitHub Actions' file: rbflow reads a step's outputs from $RBFLOW_OUTPUT (did you mean "$RBFLOW_OUTPUT"?); ` +
		`in a GitHub Actions job, ${GITHUB_OUTPUT:?} writes the job's file`,
	"GITHUB_ENV": `$GITHUB_ENV is GitHub Actions' file: rbflow has none for later steps' environment; write KEY=value to "$RBFLOW_OUTPUT" ` +
		`and give a later step env: {KEY: "${{ steps.<id>.outputs.KEY }}"}; in a GitHub Actions job, ${GITHUB_ENV:?} writes the job's file`,
}

// githubFile returns the name of the GitHub Actions file a word is, bare
// or in double quotes ($GITHUB_OUTPUT, "${GITHUB_ENV}"), with its offset.
func githubFile(w *syntax.Word) (string, int) {
	if len(w.Parts) != 1 {
		return "", 0
	}
	part := w.Parts[0]
	if dq, ok := part.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
		part = dq.Parts[0]
	}
	pe, ok := part.(*syntax.ParamExp)
	if !ok || pe.Param == nil || pe.Excl || pe.Length || pe.Index != nil || pe.Slice != nil || pe.Repl != nil || pe.Names != 0 || pe.Exp != nil {
		return "", 0
	}
	if _, known := githubFileMsg[pe.Param.Value]; !known {
		return "", 0
	}
	return pe.Param.Value, int(pe.Pos().Offset())
}

func parseShell(src string, d Dialect) (*syntax.File, error) {
	lang := syntax.LangBash
	if d == POSIX {
		lang = syntax.LangPOSIX
	}
	p := syntax.NewParser(syntax.KeepComments(true), syntax.Variant(lang))
	return p.Parse(strings.NewReader(src), "")
}

// Shell evaluates a template compiled by ShellTemplate into a Script: each
// value is carried by environment variables, and the script refers to them
// as where each value stands requires (a list one word per item where bash
// splits words). A value that is not what its place requires (an integer
// in arithmetic, a variable name, no array assignment in a declaration)
// and a value holding a NUL byte, which no environment variable can carry,
// are errors that name the ${{ }}.
func (t *Template) Shell(env *Env) (Script, error) {
	if !t.shell {
		return Script{}, fmt.Errorf("eval: template %q was not compiled by ShellTemplate", t.Source)
	}
	vals := make([]any, len(t.parts))
	for i, p := range t.parts {
		if p.prog == nil {
			continue
		}
		v, err := t.run(env, p)
		if err != nil {
			return Script{}, err
		}
		vals[i] = v
	}
	text := func(i int) string { return Text(vals[i]) }
	var w scriptWriter
	for i, p := range t.parts {
		if p.prog == nil {
			w.b.WriteString(p.lit)
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("${{ %s }}: %s", strings.TrimSpace(p.expr), fmt.Sprintf(format, args...))
		}
		if p.ctx.check == checkCompound && p.ctx.decl != nil && p.ctx.decl.compound(text) {
			return Script{}, fail("bash would read the assigned text (...) as an array assignment and run what it holds: a value in declare, local, export, readonly or typeset cannot make it start with ( and end with )")
		}
		words, list := []string{text(i)}, isList(vals[i])
		if p.ctx.split {
			words = items(vals[i])
		}
		for j, s := range words {
			if strings.IndexByte(s, 0) >= 0 {
				return Script{}, fail("the value holds a NUL byte, which no environment variable can carry")
			}
			switch p.ctx.check {
			case checkInt:
				v := vals[i]
				if list {
					v = s
				}
				n, ok := integer(v)
				if !ok {
					return Script{}, fail("the shell evaluates this value as arithmetic, so it must be an integer, not %q", clip(s))
				}
				words[j] = n
			case checkName:
				if !nameRE().MatchString(s) {
					return Script{}, fail("the shell takes this value as a variable name, so it must be one (letters, digits and _), not %q", clip(s))
				}
			}
		}
		w.write(words, p.ctx.form)
	}
	return Script{Text: w.b.String(), Vars: w.vars}, nil
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

func isList(v any) bool {
	switch v.(type) {
	case []string, []any:
		return true
	}
	return false
}

// items are the words a value becomes where bash splits words: a list
// one per item, anything else one.
func items(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = Text(e)
		}
		return out
	}
	return []string{Text(v)}
}

// integer returns v as a decimal integer: an int, a whole float, or text
// of decimal digits with an optional sign (010 is ten, as people read it,
// not bash's octal eight).
func integer(v any) (string, bool) {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10), true
		}
		return "", false
	case string:
		if !intRE().MatchString(x) {
			return "", false
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(x, "+"), 10, 64)
		if err != nil {
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

var intRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[+-]?[0-9]+$`) })

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// scriptWriter writes a script's text and allocates its variables.
type scriptWriter struct {
	b    strings.Builder
	vars []Var
	refs map[string]string // value -> its expansion, to carry a value once
}

// ref allocates the variables that carry s and returns the expansion that
// gives s back: ${RBFLOW_V_1}, or several side by side for a long value.
// A value written twice is carried once.
func (w *scriptWriter) ref(s string) string {
	if r, ok := w.refs[s]; ok {
		return r
	}
	var r strings.Builder
	for rest, first := s, true; first || rest != ""; first = false {
		n := len(rest)
		if n > chunkSize {
			n = chunkSize
			for n > 0 && !utf8.RuneStart(rest[n]) {
				n--
			}
			if n == 0 {
				n = chunkSize
			}
		}
		name := VarPrefix + strconv.Itoa(len(w.vars)+1)
		w.vars = append(w.vars, Var{Name: name, Value: rest[:n]})
		r.WriteString("${" + name + "}")
		rest = rest[n:]
	}
	if w.refs == nil {
		w.refs = map[string]string{}
	}
	w.refs[s] = r.String()
	return w.refs[s]
}

// write writes the references to words as form requires.
func (w *scriptWriter) write(words []string, form refForm) {
	for j, s := range words {
		if j > 0 {
			w.b.WriteByte(' ')
		}
		r := w.ref(s)
		switch form {
		case formWord:
			w.b.WriteString(`"` + r + `"`)
		case formSingle:
			w.b.WriteString(`'"` + r + `"'`)
		case formDollarSingle:
			w.b.WriteString(`'"` + r + `"$'`)
		default: // formBare, formComment
			w.b.WriteString(r)
		}
	}
}
