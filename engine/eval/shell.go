package eval

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
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
	if len(s.Vars) == 0 {
		return s.Text
	}
	var b strings.Builder
	for _, v := range s.Vars {
		value := v.Value
		if mask != nil {
			value = mask(value)
		}
		b.WriteString(v.Name)
		b.WriteByte('=')
		b.WriteString(Quote(value))
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

var placeholderRE = regexp.MustCompile(`\$\{_rbflow_ph([0-9]+)_\}`)

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
		if _, err := parseShell(src, d); err != nil {
			return nil, shellParseError(err, src, nil, d)
		}
		return t, nil
	}
	a := &shellAnalysis{c: c, t: t, intVars: map[string]bool{}}
	if err := a.run(d); err != nil {
		return nil, err
	}
	return t, nil
}

func parseShell(src string, d Dialect) (*syntax.File, error) {
	lang := syntax.LangBash
	if d == POSIX {
		lang = syntax.LangPOSIX
	}
	p := syntax.NewParser(syntax.KeepComments(true), syntax.Variant(lang))
	return p.Parse(strings.NewReader(src), "")
}

// mark is where the placeholder of one ${{ }} stands in the parsed text.
type mark struct {
	part               int // index into Template.parts
	srcStart, srcEnd   int // in the parsed text
	tmplStart, tmplEnd int // the ${{ }} in the template's source
}

// shellAnalysis finds the context of every ${{ }} of a shell template.
type shellAnalysis struct {
	c       *Compiler
	t       *Template
	src     string // the script with placeholders
	marks   []mark
	found   []bool
	intVars map[string]bool // variables declared -i: assigning them is arithmetic
	err     *Error
}

func (a *shellAnalysis) run(d Dialect) error {
	var b strings.Builder
	for i, p := range a.t.parts {
		if p.prog == nil {
			if j := strings.Index(p.lit, "_rbflow_ph"); j >= 0 {
				return &Error{Offset: a.litOffset(i) + j, Msg: "the text _rbflow_ph is reserved for rbflow's own use in scripts"}
			}
			b.WriteString(p.lit)
			continue
		}
		k := len(a.marks)
		ph := placeholder(k)
		a.marks = append(a.marks, mark{part: i, srcStart: b.Len(), srcEnd: b.Len() + len(ph),
			tmplStart: p.offset, tmplEnd: p.offset + len("${{") + len(p.expr) + len("}}")})
		b.WriteString(ph)
	}
	a.src = b.String()
	a.found = make([]bool, len(a.marks))
	f, err := parseShell(a.src, d)
	if err != nil {
		return shellParseError(err, a.t.Source, a, d)
	}
	a.collectIntVars(f)
	a.stmts(f.Stmts, where{})
	if a.err != nil {
		return a.err
	}
	var comments [][2]int
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.Comment); ok {
			comments = append(comments, [2]int{int(c.Pos().Offset()), int(c.End().Offset())})
		}
		return true
	})
	for k, m := range a.marks {
		if a.found[k] {
			continue
		}
		inComment := false
		for _, c := range comments {
			inComment = inComment || m.srcStart >= c[0] && m.srcEnd <= c[1]
		}
		if !inComment {
			return &Error{Offset: m.tmplStart, Msg: "this ${{ }} " + notAValue}
		}
		a.t.parts[m.part].ctx = shellCtx{form: formComment}
	}
	return nil
}

// notAValue says why a ${{ }} bash would not expand is refused.
const notAValue = "follows a backslash or a $, or stands inside a word that bash takes literally: write it as a word of its own, or inside \"...\""

// litOffset is the offset in the template's source of literal part i.
func (a *shellAnalysis) litOffset(i int) int {
	off := 0
	for j := 0; j < i; j++ {
		p := a.t.parts[j]
		if p.prog == nil {
			off += len(p.lit)
		} else {
			off = p.offset + len("${{") + len(p.expr) + len("}}")
		}
	}
	return off
}

// tmplOffset maps an offset in the parsed text to one in the template.
func (a *shellAnalysis) tmplOffset(off int) int {
	if a == nil {
		return off
	}
	prevSrc, prevTmpl := 0, 0
	for _, m := range a.marks {
		if off < m.srcStart {
			break
		}
		if off < m.srcEnd {
			return m.tmplStart
		}
		prevSrc, prevTmpl = m.srcEnd, m.tmplEnd
	}
	return prevTmpl + off - prevSrc
}

// shellParseError turns a parser error into an *Error at its offset in the
// template, speaking of ${{ }} rather than of placeholders.
func shellParseError(err error, tmpl string, a *shellAnalysis, d Dialect) error {
	shell := "bash"
	if d == POSIX {
		shell = "sh"
	}
	clean := func(s string) string { return placeholderRE.ReplaceAllString(s, "${{ }}") }
	switch e := err.(type) {
	case syntax.ParseError:
		return &Error{Offset: min(a.tmplOffset(int(e.Pos.Offset())), len(tmpl)), Msg: fmt.Sprintf("%s cannot parse this script: %s", shell, clean(e.Text))}
	case syntax.LangError:
		verb := "is"
		if strings.HasSuffix(e.Feature, "s") {
			verb = "are"
		}
		return &Error{Offset: min(a.tmplOffset(int(e.Pos.Offset())), len(tmpl)),
			Msg: fmt.Sprintf("%s cannot parse this script: %s %s not POSIX sh (this step has shell: sh; use shell: bash)", shell, clean(e.Feature), verb)}
	}
	return &Error{Offset: 0, Msg: fmt.Sprintf("%s cannot parse this script: %s", shell, clean(err.Error()))}
}

// fail keeps the first error, at the ${{ }} of mark k.
func (a *shellAnalysis) fail(k int, format string, args ...any) {
	if a.err == nil {
		a.err = &Error{Offset: a.marks[k].tmplStart, Msg: fmt.Sprintf(format, args...)}
	}
}

// quoteKind is the quoting a word part stands in.
type quoteKind int

const (
	qNone    quoteKind = iota
	qDouble            // "..."
	qHeredoc           // the body of a here-document with an unquoted delimiter
)

// where is the context the walk is in.
type where struct {
	quote quoteKind
	arith bool // an arithmetic expression: written ${V}, the value must be an integer
	split bool // the word is one of a command's arguments (or for items, array elements)
	check valueCheck
	decl  *declWord
	code  string       // the command that runs values here as code
	word  *syntax.Word // the word the walk is in
}

// values returns the context of placeholders inside w's quoted strings
// and nested words: no splitting, the same checks.
func (w where) inner() where {
	w.split = false
	return w
}

func (a *shellAnalysis) stmts(list []*syntax.Stmt, w where) {
	for _, s := range list {
		a.stmt(s, w)
	}
}

func (a *shellAnalysis) stmt(s *syntax.Stmt, w where) {
	if s == nil {
		return
	}
	stdin := ""
	if call, ok := s.Cmd.(*syntax.CallExpr); ok {
		stdin = shellReadingStdin(call.Args)
	}
	if s.Cmd != nil {
		a.command(s.Cmd, w)
	}
	for _, r := range s.Redirs {
		rw := where{code: w.code}
		if stdin != "" {
			rw.code = stdin
		}
		switch r.Op {
		case syntax.Hdoc, syntax.DashHdoc:
			a.refuse(r.Word, "stands in a here-document's delimiter, which bash reads literally: write the delimiter out")
			if r.Hdoc == nil {
				continue
			}
			if delimQuoted(r.Word) {
				a.refuse(r.Hdoc, "stands in a here-document whose delimiter is quoted, which bash copies literally: "+
					"unquote the delimiter (<<EOF) so the value is expanded there, or pass the value another way (an argument, a variable)")
				continue
			}
			rw.quote = qHeredoc
			a.word(r.Hdoc, rw)
		default:
			a.word(r.Word, rw)
		}
	}
}

// refuse fails for any placeholder inside n.
func (a *shellAnalysis) refuse(n syntax.Node, why string) {
	if n == nil {
		return
	}
	for _, k := range a.marksIn(n) {
		a.found[k] = true
		a.fail(k, "this ${{ }} %s", why)
	}
}

// marksIn lists the placeholders whose text lies inside n's source.
func (a *shellAnalysis) marksIn(n syntax.Node) []int {
	start, end := int(n.Pos().Offset()), int(n.End().Offset())
	var out []int
	for k, m := range a.marks {
		if m.srcStart >= start && m.srcEnd <= end {
			out = append(out, k)
		}
	}
	return out
}

// delimQuoted reports whether a here-document delimiter is quoted, which
// makes the document literal.
func delimQuoted(w *syntax.Word) bool {
	for _, p := range w.Parts {
		l, ok := p.(*syntax.Lit)
		if !ok || strings.ContainsRune(l.Value, '\\') {
			return true
		}
	}
	return false
}

func (a *shellAnalysis) command(cmd syntax.Command, w where) {
	switch c := cmd.(type) {
	case *syntax.CallExpr:
		a.call(c, w)
	case *syntax.IfClause:
		a.stmts(c.Cond, w)
		a.stmts(c.Then, w)
		if c.Else != nil {
			a.command(c.Else, w)
		}
	case *syntax.WhileClause:
		a.stmts(c.Cond, w)
		a.stmts(c.Do, w)
	case *syntax.ForClause:
		switch l := c.Loop.(type) {
		case *syntax.WordIter:
			for _, it := range l.Items {
				a.word(it, where{split: true, code: w.code})
			}
		case *syntax.CStyleLoop:
			for _, e := range []syntax.ArithmExpr{l.Init, l.Cond, l.Post} {
				a.arith(e, w)
			}
		}
		a.stmts(c.Do, w)
	case *syntax.CaseClause:
		a.word(c.Word, where{code: w.code})
		for _, it := range c.Items {
			for _, p := range it.Patterns {
				a.word(p, where{code: w.code})
			}
			a.stmts(it.Stmts, w)
		}
	case *syntax.Block:
		a.stmts(c.Stmts, w)
	case *syntax.Subshell:
		a.stmts(c.Stmts, w)
	case *syntax.BinaryCmd:
		x := w
		if c.Op == syntax.Pipe || c.Op == syntax.PipeAll {
			if call, ok := c.Y.Cmd.(*syntax.CallExpr); ok {
				if sh := shellReadingStdin(call.Args); sh != "" {
					x.code = sh
				}
			}
		}
		a.stmt(c.X, x)
		a.stmt(c.Y, w)
	case *syntax.FuncDecl:
		a.stmt(c.Body, w)
	case *syntax.ArithmCmd:
		a.arith(c.X, w)
	case *syntax.TestClause:
		a.test(c.X, where{code: w.code})
	case *syntax.DeclClause:
		a.declClause(c, w)
	case *syntax.LetClause:
		for _, e := range c.Exprs {
			a.arith(e, w)
		}
	case *syntax.TimeClause:
		a.stmt(c.Stmt, w)
	case *syntax.CoprocClause:
		if c.Name != nil {
			a.word(c.Name, where{code: w.code})
		}
		a.stmt(c.Stmt, w)
	case *syntax.TestDecl:
		a.stmt(c.Body, w)
	}
}

func (a *shellAnalysis) call(c *syntax.CallExpr, w where) {
	for _, as := range c.Assigns {
		a.assign(as, w, as.Name != nil && a.intVars[as.Name.Value])
	}
	roles := argRoles(c.Args)
	for i, arg := range c.Args {
		r := roles[i]
		// Where arguments have roles, a list split into several words
		// would move the words after it into other roles (read -p PROMPT
		// NAME): there it stays one word, unless every item is checked
		// to be a variable name.
		aw := where{split: !r.special || r.check == checkName, check: r.check, code: w.code}
		if r.code != "" {
			aw.code = r.code
		}
		if r.decl {
			a.declArg(arg, r.flags, aw)
			continue
		}
		a.word(arg, aw)
	}
}

// declFlags are the attributes a declaration gives its names.
type declFlags struct {
	integer, nameref bool
}

func (a *shellAnalysis) declClause(c *syntax.DeclClause, w where) {
	var fl declFlags
	for _, as := range c.Args {
		if as.Naked && as.Name == nil && as.Value != nil {
			if o := as.Value.Lit(); isOption(o) {
				fl.add(c.Variant.Value, o)
			}
		}
	}
	for _, as := range c.Args {
		aw := where{code: w.code, split: true}
		switch {
		case as.Naked && as.Name == nil && as.Value != nil:
			if isOption(as.Value.Lit()) {
				continue
			}
			a.declArg(as.Value, fl, aw)
		case as.Name != nil && as.Value != nil && as.Index == nil && !as.Naked:
			vw := aw.inner()
			switch {
			case fl.integer:
				vw.check = checkInt
			case fl.nameref:
				vw.check = checkName
			default:
				vw.check, vw.decl = checkCompound, a.declShape(as.Value.Parts)
			}
			a.word(as.Value, vw)
		default:
			a.assign(as, w, fl.integer || as.Name != nil && a.intVars[as.Name.Value])
		}
	}
}

// add takes the option word opt of builtin (export -n un-exports; the
// others' -n makes a name reference).
func (fl *declFlags) add(builtin, opt string) {
	if strings.HasPrefix(opt, "-") {
		fl.integer = fl.integer || strings.ContainsRune(opt, 'i')
		fl.nameref = fl.nameref || builtin != "export" && strings.ContainsRune(opt, 'n')
	}
}

func isOption(s string) bool {
	return len(s) > 1 && (s[0] == '-' || s[0] == '+')
}

// declArg walks an argument of a declaration builtin that is not an
// option: a name, or name=value when a literal = comes before any value.
func (a *shellAnalysis) declArg(word *syntax.Word, fl declFlags, w where) {
	segs := a.segments(word.Parts)
	eq := -1
	for i, s := range segs {
		if s.kind != segLit {
			break
		}
		if j := strings.IndexByte(s.lit, '='); j >= 0 {
			eq = i
			segs[i].lit = s.lit[j+1:]
			break
		}
	}
	switch {
	case eq < 0:
		w.check = checkName
	case fl.integer:
		w.check = checkInt
	case fl.nameref:
		w.check = checkName
	default:
		w.check, w.decl = checkCompound, &declWord{segs: segs[eq:]}
	}
	a.word(word, w)
}

// declShape is the assigned text of a declaration as segments.
func (a *shellAnalysis) declShape(parts []syntax.WordPart) *declWord {
	return &declWord{segs: a.segments(parts)}
}

func (a *shellAnalysis) segments(parts []syntax.WordPart) []declSeg {
	var segs []declSeg
	for _, p := range parts {
		switch x := p.(type) {
		case *syntax.Lit:
			if strings.ContainsRune(a.src[x.Pos().Offset():x.End().Offset()], '\\') {
				segs = append(segs, declSeg{kind: segUnknown})
			} else {
				segs = append(segs, declSeg{kind: segLit, lit: x.Value})
			}
		case *syntax.SglQuoted:
			if x.Dollar || strings.Contains(x.Value, "_rbflow_ph") {
				segs = append(segs, declSeg{kind: segUnknown})
			} else {
				segs = append(segs, declSeg{kind: segLit, lit: x.Value})
			}
		case *syntax.DblQuoted:
			segs = append(segs, a.segments(x.Parts)...)
		case *syntax.ParamExp:
			if k, ok := a.placeholderOf(x); ok {
				segs = append(segs, declSeg{kind: segValue, part: a.marks[k].part})
			} else {
				segs = append(segs, declSeg{kind: segUnknown})
			}
		default:
			segs = append(segs, declSeg{kind: segUnknown})
		}
	}
	return segs
}

func (a *shellAnalysis) assign(as *syntax.Assign, w where, integer bool) {
	if as.Index != nil {
		a.arith(as.Index, w)
	}
	if as.Value != nil {
		vw := where{code: w.code}
		if integer {
			vw.check = checkInt
		}
		a.word(as.Value, vw)
	}
	if as.Array != nil {
		for _, el := range as.Array.Elems {
			if el.Index != nil {
				a.arith(el.Index, w)
			}
			if el.Value != nil {
				ew := where{split: true, code: w.code}
				if integer {
					ew.check = checkInt
				}
				a.word(el.Value, ew)
			}
		}
	}
}

func (a *shellAnalysis) arith(e syntax.ArithmExpr, w where) {
	w = where{arith: true, check: checkInt, quote: w.quote, code: w.code}
	switch x := e.(type) {
	case nil:
	case *syntax.BinaryArithm:
		a.arith(x.X, w)
		a.arith(x.Y, w)
	case *syntax.UnaryArithm:
		a.arith(x.X, w)
	case *syntax.ParenArithm:
		a.arith(x.X, w)
	case *syntax.FlagsArithm:
		a.arith(x.X, w)
	case *syntax.Word:
		a.word(x, w)
	}
}

func (a *shellAnalysis) test(e syntax.TestExpr, w where) {
	switch x := e.(type) {
	case *syntax.BinaryTest:
		ow := w
		switch x.Op {
		case syntax.TsEql, syntax.TsNeq, syntax.TsLeq, syntax.TsGeq, syntax.TsLss, syntax.TsGtr:
			ow.check = checkInt // [[ ]] evaluates both sides arithmetically
		}
		a.test(x.X, ow)
		a.test(x.Y, ow)
	case *syntax.UnaryTest:
		ow := w
		if x.Op == syntax.TsVarSet || x.Op == syntax.TsRefVar {
			ow.check = checkName
		}
		a.test(x.X, ow)
	case *syntax.ParenTest:
		a.test(x.X, w)
	case *syntax.Word:
		a.word(x, w)
	}
}

func (a *shellAnalysis) word(wd *syntax.Word, w where) {
	if wd == nil {
		return
	}
	w.word = wd
	for _, p := range wd.Parts {
		a.wordPart(p, w)
	}
}

func (a *shellAnalysis) wordPart(p syntax.WordPart, w where) {
	switch x := p.(type) {
	case *syntax.Lit:
		a.refuse(x, notAValue)
	case *syntax.SglQuoted:
		a.singleQuoted(x, w)
	case *syntax.DblQuoted:
		iw := w.inner()
		if iw.quote == qNone {
			iw.quote = qDouble
		}
		for _, q := range x.Parts {
			a.wordPart(q, iw)
		}
	case *syntax.ParamExp:
		if k, ok := a.placeholderOf(x); ok {
			a.found[k] = true
			a.place(k, w, a.formOf(w))
			return
		}
		// A value inside ${x:-...}, ${x#...} or ${x/.../...} is quoted there,
		// which makes it literal in patterns.
		sub := where{check: w.check, decl: w.decl, code: w.code}
		if x.Index != nil {
			a.arith(x.Index, w)
		}
		if x.Slice != nil {
			a.arith(x.Slice.Offset, w)
			a.arith(x.Slice.Length, w)
		}
		if x.Repl != nil {
			a.word(x.Repl.Orig, sub)
			a.word(x.Repl.With, sub)
		}
		if x.Exp != nil {
			a.word(x.Exp.Word, sub)
		}
	case *syntax.CmdSubst:
		a.stmts(x.Stmts, where{})
	case *syntax.ProcSubst:
		a.stmts(x.Stmts, where{})
	case *syntax.ArithmExp:
		a.arith(x.X, w)
	case *syntax.ExtGlob:
		a.refuse(x, "stands in an extended glob, which bash reads as a pattern: match the value in another way (case \"$v\" in ...)")
	case *syntax.BraceExp:
		for _, e := range x.Elems {
			a.word(e, w)
		}
	}
}

// formOf is how a reference is written for a parameter expansion in w.
func (a *shellAnalysis) formOf(w where) refForm {
	if w.arith || w.quote != qNone {
		return formBare
	}
	return formWord
}

// placeholderOf reports whether x is the placeholder of a ${{ }}, and which.
func (a *shellAnalysis) placeholderOf(x *syntax.ParamExp) (int, bool) {
	start, end := int(x.Pos().Offset()), int(x.End().Offset())
	if end > len(a.src) {
		return 0, false
	}
	m := placeholderRE.FindStringSubmatch(a.src[start:end])
	if m == nil || len(m[0]) != end-start {
		return 0, false
	}
	k, err := strconv.Atoi(m[1])
	if err != nil || k >= len(a.marks) || a.marks[k].srcStart != start {
		return 0, false
	}
	return k, true
}

// singleQuoted places the placeholders inside '...' or $'...'.
func (a *shellAnalysis) singleQuoted(x *syntax.SglQuoted, w where) {
	form := formSingle
	if x.Dollar {
		form = formDollarSingle
	}
	for _, k := range a.marksIn(x) {
		a.found[k] = true
		if x.Dollar {
			// An odd run of backslashes before it would escape the quote
			// that closes the string before the reference.
			n := 0
			for i := a.marks[k].srcStart - 1; i >= 0 && a.src[i] == '\\'; i-- {
				n++
			}
			if n%2 == 1 {
				a.fail(k, "this ${{ }} follows a backslash inside $'...': write the value outside the escape")
				continue
			}
		}
		a.place(k, w.inner(), form)
	}
}

// place records the context of placeholder k, checking at load what can
// be checked: a value run as code must be a command param, and a list or
// a bool cannot be an integer.
func (a *shellAnalysis) place(k int, w where, form refForm) {
	p := &a.t.parts[a.marks[k].part]
	expr := strings.TrimSpace(p.expr)
	if w.code != "" && !a.isCommandParam(p) {
		a.fail(k, "%s runs ${{ %s }} as code: only a param declared type: command (a value that is code, such as a start command) may stand there; %s",
			w.code, expr, codeHint(w.code, expr))
		return
	}
	check := w.check
	if w.arith || check == checkName && a.inSubscript(w.word, k) {
		check = checkInt // a[${{ i }}] where bash takes a name: the subscript is arithmetic
	}
	if check == checkInt || check == checkName {
		switch kindOf(p) {
		case reflect.Slice, reflect.Array, reflect.Map:
			if check == checkInt || !w.split {
				a.fail(k, "${{ %s }} is a list, and bash reads %s here", expr, checkWhat(check))
				return
			}
		case reflect.Bool:
			a.fail(k, "${{ %s }} is true or false, and bash reads %s here", expr, checkWhat(check))
			return
		case reflect.Int, reflect.Int64, reflect.Float64:
			if check == checkName {
				a.fail(k, "${{ %s }} is a number, and bash reads a variable name here", expr)
				return
			}
		}
	}
	p.ctx = shellCtx{form: form, split: w.split && form == formWord, check: check, decl: w.decl}
}

// codeHint says how to pass data to a command that runs code.
func codeHint(code, expr string) string {
	switch {
	case strings.HasSuffix(code, " -c"):
		sh := strings.TrimSuffix(code, " -c")
		return fmt.Sprintf("to pass data, give it as an argument: %s -c '... \"$1\" ...' _ ${{ %s }}", sh, expr)
	case strings.HasPrefix(code, "| "):
		sh := strings.TrimPrefix(code, "| ")
		return fmt.Sprintf("to pass data, give it as an argument: %s -s -- ${{ %s }} (it is then $1)", sh, expr)
	case code == "eval":
		return "to pass data, use it without eval"
	case code == "trap":
		return "to pass data, set a variable and trap a command that reads it"
	}
	return "source a file the procedure names itself"
}

// inSubscript reports whether placeholder k stands inside [...] in word.
func (a *shellAnalysis) inSubscript(word *syntax.Word, k int) bool {
	if word == nil {
		return false
	}
	start := int(word.Pos().Offset())
	if start > a.marks[k].srcStart {
		return false
	}
	pre := a.src[start:a.marks[k].srcStart]
	return strings.Count(pre, "[") > strings.Count(pre, "]")
}

func checkWhat(c valueCheck) string {
	if c == checkInt {
		return "an integer (arithmetic)"
	}
	return "a variable name"
}

// kindOf is the static kind of a part's value (Interface when unknown).
func kindOf(p *part) reflect.Kind {
	t := p.prog.Node().Type()
	if t == nil {
		return reflect.Interface
	}
	return t.Kind()
}

// isCommandParam reports whether a part is exactly params.NAME for a param
// declared type: command.
func (a *shellAnalysis) isCommandParam(p *part) bool {
	m, ok := p.prog.Node().(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "params" {
		return false
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return false
	}
	for _, pm := range a.c.decl.Params {
		if pm.Name == prop.Value {
			return pm.Type == "command"
		}
	}
	return false
}

// collectIntVars finds the variables the script declares integer: an
// assignment to one is arithmetic.
func (a *shellAnalysis) collectIntVars(f *syntax.File) {
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.DeclClause:
			var fl declFlags
			for _, as := range x.Args {
				if as.Naked && as.Name == nil && as.Value != nil && isOption(as.Value.Lit()) {
					fl.add(x.Variant.Value, as.Value.Lit())
				}
			}
			if fl.integer {
				for _, as := range x.Args {
					if as.Name != nil {
						a.intVars[as.Name.Value] = true
					} else if as.Value != nil && !isOption(as.Value.Lit()) {
						a.intVars[declName(as.Value.Lit())] = true
					}
				}
			}
		case *syntax.CallExpr:
			if len(x.Args) == 0 || !declBuiltins[x.Args[0].Lit()] {
				return true
			}
			var fl declFlags
			for _, w := range x.Args[1:] {
				if isOption(w.Lit()) {
					fl.add(x.Args[0].Lit(), w.Lit())
				}
			}
			if fl.integer {
				for _, w := range x.Args[1:] {
					if l := w.Lit(); l != "" && !isOption(l) {
						a.intVars[declName(l)] = true
					}
				}
			}
		}
		return true
	})
}

func declName(s string) string {
	if i := strings.IndexAny(s, "=+["); i >= 0 {
		return s[:i]
	}
	return s
}

var declBuiltins = map[string]bool{"declare": true, "typeset": true, "local": true, "export": true, "readonly": true}

// specialBuiltins give their arguments roles by position (see argRoles).
var specialBuiltins = map[string]bool{"eval": true, "source": true, ".": true, "trap": true, "unset": true, "read": true,
	"mapfile": true, "readarray": true, "getopts": true, "wait": true, "test": true, "[": true, "let": true}

// shells are the programs that run their -c argument (or their standard
// input) as shell code.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true, "ash": true, "rbash": true}

// role is what a command does with one of its arguments.
type role struct {
	check   valueCheck
	code    string // the argument is run as code by this command
	decl    bool   // an argument of a declaration builtin
	flags   declFlags
	special bool // the command gives its arguments roles by position
}

// argRoles says, for each argument of a simple command, what bash does
// with it beyond passing it: run it as code (eval, source, trap, a shell's
// -c), take it as a variable name (unset, read, printf -v, mapfile,
// getopts, wait -p, test -v), declare it, or evaluate it arithmetically
// (let).
func argRoles(args []*syntax.Word) []role {
	roles := make([]role, len(args))
	i := 0
	for i < len(args) && (args[i].Lit() == "command" || args[i].Lit() == "builtin") {
		i++
		for i < len(args) && isOption(args[i].Lit()) {
			i++
		}
	}
	shellArgs(args, roles)
	if i >= len(args) {
		return roles
	}
	name := args[i].Lit()
	rest := args[i+1:]
	rr := roles[i+1:]
	if specialBuiltins[name] || declBuiltins[name] {
		for j := range rr {
			rr[j].special = true
		}
	}
	set := func(j int, r role) {
		if j >= 0 && j < len(rr) {
			if r.code == "" {
				r.code = rr[j].code
			}
			r.special = true
			rr[j] = r
		}
	}
	switch name {
	case "eval":
		for j := range rr {
			rr[j].code = "eval"
		}
	case "source", ".":
		set(firstOperand(rest, ""), role{code: name})
	case "trap":
		set(firstOperand(rest, ""), role{code: "trap"})
	case "unset":
		for _, j := range operands(rest, "") {
			set(j, role{check: checkName})
		}
	case "read":
		optArgs(rest, "adinNptu", func(j int, letter byte) {
			if letter == 'a' {
				set(j, role{check: checkName})
			}
		})
		for _, j := range operands(rest, "adinNptu") {
			set(j, role{check: checkName})
		}
	case "mapfile", "readarray":
		for _, j := range operands(rest, "dnOsuCc") {
			set(j, role{check: checkName})
		}
	case "printf":
		// Up to the format, a word could be -v NAME; after it, all is data.
		format := firstOperand(rest, "v")
		for j := range rr {
			rr[j].special = format < 0 || j <= format
		}
		optArgs(rest, "v", func(j int, _ byte) { set(j, role{check: checkName}) })
	case "wait":
		optArgs(rest, "p", func(j int, _ byte) { set(j, role{check: checkName}) })
	case "getopts":
		if ops := operands(rest, ""); len(ops) > 1 {
			set(ops[1], role{check: checkName})
		}
	case "test", "[":
		for j := 0; j+1 < len(rest); j++ {
			if l := rest[j].Lit(); l == "-v" || l == "-R" {
				set(j+1, role{check: checkName})
			}
		}
	case "let":
		for j := range rr {
			rr[j].check = checkInt
		}
	default:
		if declBuiltins[name] {
			var fl declFlags
			for _, w := range rest {
				if isOption(w.Lit()) {
					fl.add(name, w.Lit())
				}
			}
			for j, w := range rest {
				if !isOption(w.Lit()) {
					set(j, role{decl: true, flags: fl})
				}
			}
		}
	}
	return roles
}

// shellArgs marks the argument a shell runs as code: after sh, bash...
// and options that include c (bash -c, sh -ec), the first operand. It
// looks at every word, so that wrappers (sudo, env, timeout, xargs, docker
// exec) are covered too.
func shellArgs(args []*syntax.Word, roles []role) {
	for j, w := range args {
		name := shellName(w)
		if name == "" {
			continue
		}
		k, c := j+1, false
		for k < len(args) {
			l := args[k].Lit()
			if l == "--" {
				k++
				break
			}
			if !isOption(l) {
				break
			}
			switch l {
			case "-o", "+o", "-O", "+O", "--rcfile", "--init-file":
				k++
			default:
				if !strings.HasPrefix(l, "--") && strings.ContainsRune(l, 'c') {
					c = true
				}
			}
			k++
		}
		if c && k < len(args) {
			roles[k].code = name + " -c"
		}
		for k := j + 1; k < len(args); k++ {
			roles[k].special = true
		}
	}
}

// shellName returns the shell a word names (bash, /bin/sh, $SHELL), or "".
func shellName(w *syntax.Word) string {
	if l := w.Lit(); l != "" {
		if i := strings.LastIndexByte(l, '/'); i >= 0 {
			l = l[i+1:]
		}
		if shells[l] {
			return l
		}
		return ""
	}
	if len(w.Parts) == 1 {
		if p, ok := w.Parts[0].(*syntax.ParamExp); ok && p.Param != nil && (p.Param.Value == "SHELL" || p.Param.Value == "BASH") {
			return "$" + p.Param.Value
		}
	}
	return ""
}

// wrappers run the command that follows their options.
var wrappers = map[string]bool{"command": true, "builtin": true, "exec": true, "nohup": true, "env": true, "sudo": true,
	"doas": true, "nice": true, "setsid": true, "time": true, "timeout": true, "stdbuf": true}

// shellReadingStdin returns the shell a simple command runs when that
// shell reads its script from standard input (bash, sh -s, sudo bash),
// or "".
func shellReadingStdin(args []*syntax.Word) string {
	i := 0
	for i < len(args) {
		l := args[i].Lit()
		if !wrappers[l] {
			break
		}
		i++
		for i < len(args) && (isOption(args[i].Lit()) || strings.Contains(args[i].Lit(), "=")) {
			i++
		}
		if l == "timeout" && i < len(args) {
			i++ // the duration
		}
	}
	if i >= len(args) {
		return ""
	}
	name := shellName(args[i])
	if name == "" {
		return ""
	}
	for j := i + 1; j < len(args); j++ {
		l := args[j].Lit()
		switch {
		case l == "-s" || l == "--":
			return "| " + name
		case !isOption(l):
			return "" // a script file
		case l == "-o" || l == "+o" || l == "-O" || l == "+O" || l == "--rcfile" || l == "--init-file":
			j++
		case !strings.HasPrefix(l, "--") && strings.ContainsRune(l[1:], 'c'):
			return "" // the script is an argument
		}
	}
	return "| " + name
}

// firstOperand returns the index of the first argument that is not an
// option (nor the argument of one of the letters in withArg), or -1.
func firstOperand(args []*syntax.Word, withArg string) int {
	if ops := operands(args, withArg); len(ops) > 0 {
		return ops[0]
	}
	return -1
}

// operands lists the indexes of the arguments that are not options.
func operands(args []*syntax.Word, withArg string) []int {
	var out []int
	skip := map[int]bool{}
	optArgs(args, withArg, func(j int, _ byte) { skip[j] = true })
	opts := true
	for j, w := range args {
		l := w.Lit()
		switch {
		case skip[j]:
		case opts && l == "--":
			opts = false
		case opts && len(w.Parts) > 0 && isOption(l):
		default:
			opts = false
			out = append(out, j)
		}
	}
	return out
}

// optArgs calls f with the index of each argument given to an option
// letter in withArg (-p PROMPT: the word after it; -pPROMPT: the word
// itself).
func optArgs(args []*syntax.Word, withArg string, f func(j int, letter byte)) {
	for j := 0; j < len(args); j++ {
		w := args[j]
		l := literalPrefix(w)
		if l == "--" && len(w.Parts) == 1 {
			return
		}
		if len(l) < 2 || l[0] != '-' || strings.HasPrefix(l, "--") {
			return // an operand ends the options
		}
		for i := 1; i < len(l); i++ {
			if strings.IndexByte(withArg, l[i]) < 0 {
				continue
			}
			if i+1 < len(l) || w.Lit() == "" {
				f(j, l[i]) // attached: -pPROMPT, -p"$x"
			} else if j+1 < len(args) {
				f(j+1, l[i])
				j++
			}
			break
		}
	}
}

// literalPrefix is the literal text a word starts with.
func literalPrefix(w *syntax.Word) string {
	if len(w.Parts) == 0 {
		return ""
	}
	if l, ok := w.Parts[0].(*syntax.Lit); ok {
		return l.Value
	}
	return ""
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
				if !nameRE.MatchString(s) {
					return Script{}, fail("the shell takes this value as a variable name, so it must be one (letters, digits and _), not %q", clip(s))
				}
			}
		}
		w.write(words, p.ctx.form)
	}
	return Script{Text: w.b.String(), Vars: w.vars}, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

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
		if !intRE.MatchString(x) {
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

var intRE = regexp.MustCompile(`^[+-]?[0-9]+$`)

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
