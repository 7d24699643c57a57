package eval

// The walk over a parsed script that decides, for each ${{ }}, where it
// stands: how its reference is written, whether a list splits, what its
// value must be, and whether a command would run it as code.

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"mvdan.cc/sh/v3/syntax"
)

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
	if e := githubFiles(f); e != nil {
		e.Offset = a.tmplOffset(e.Offset)
		return e
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
	clean := func(s string) string { return placeholderRE().ReplaceAllString(s, "${{ }}") }
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
	m := placeholderRE().FindStringSubmatch(a.src[start:end])
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

// isCommandParam reports whether a part's value may run as code: a param
// declared type: command, a field of type command of a for_each step's
// items, or a choice between such values (see Compiler.isCode).
func (a *shellAnalysis) isCommandParam(p *part) bool {
	n := p.prog.Node()
	if _, lit := n.(*ast.StringNode); lit {
		return false // write the code itself
	}
	return a.c.isCode(n)
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
