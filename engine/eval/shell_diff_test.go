package eval

import (
	"flag"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// The differential test: scripts over every context a value can stand in,
// crossed with hostile values, rendered by the real pipeline (ShellTemplate,
// Shell) and run by the real bash with the script's variables in its
// environment. A value must never run a command (the canary file CANARY
// never appears), and a value echoed back where it is data arrives byte
// for byte; where bash reads an integer or a variable name, anything else
// is refused before the script starts.

// valueKind is what a context accepts.
type valueKind int

const (
	anyValue   valueKind = iota
	intValue             // arithmetic: an integer, else refused
	nameValue            // a variable name, else refused
	declValue            // a declaration's value: not (...), else refused
	inertValue           // accepted; only the canary is checked
)

// shellContext is a script with @V@ where ${{ params.v }} stands, and what
// it prints for a value (the value as the context accepts it).
type shellContext struct {
	name     string
	script   string
	kind     valueKind
	want     func(v string) string
	posix    bool                  // also a POSIX sh script
	lists    func([]string) string // what a list param prints here; nil: not tried
	noList   bool                  // a list cannot stand here: refused at load
	assigned string                // declValue: the text assigned, with @V@
}

// skip, from a want function, checks the canary only (bash fails there for
// its own reasons, as with a negative array index).
const skip = "\x00skip"

func same(v string) string    { return "<" + v + ">" }
func trimmed(v string) string { return "<" + strings.TrimRight(v, "\n") + ">" }
func constant(s string) func(string) string {
	return func(string) string { return s }
}

// each is what printf '<%s>' prints for a list: each item as <w>, and
// the format once with no item.
func each(l []string) string {
	if len(l) == 0 {
		return "<>"
	}
	var b strings.Builder
	for _, s := range l {
		b.WriteString("<" + s + ">")
	}
	return b.String()
}

// joined is what a context prints for a list whose items become one word.
func joined(want func(string) string) func([]string) string {
	return func(l []string) string { return want(strings.Join(l, " ")) }
}

func nonNegative(want func(string) string) func(string) string {
	return func(v string) string {
		if strings.HasPrefix(v, "-") {
			return skip
		}
		return want(v)
	}
}

// shellContexts are the contexts of issue 11: plain words, quotes of every
// kind, backticks, command substitution, here-documents and here-strings,
// case patterns, [[ ]], assignments and declarations, parameter expansions,
// arithmetic, array subscripts, variable names, comments, and the seven
// constructs the hand-written scanner lost its way in.
var shellContexts = []shellContext{
	{name: "word", script: `printf '<%s>' @V@`, want: same, posix: true, lists: each},
	{name: "word with text", script: `printf '<%s>' pre@V@suf`, want: func(v string) string { return "<pre" + v + "suf>" }, posix: true, lists: func(l []string) string {
		if len(l) == 0 {
			return "<presuf>"
		}
		l = append([]string{}, l...)
		l[0] = "pre" + l[0]
		l[len(l)-1] += "suf"
		return each(l)
	}},
	{name: "double", script: `printf '<%s>' "@V@"`, want: same, posix: true, lists: joined(same)},
	{name: "double with text", script: `printf '<%s>' "a @V@ b"`, want: func(v string) string { return "<a " + v + " b>" }, posix: true},
	{name: "single", script: `printf '<%s>' '@V@'`, want: same, posix: true, lists: joined(same)},
	{name: "single with text", script: `printf '<%s>' 'it is "@V@" ok'`, want: func(v string) string { return `<it is "` + v + `" ok>` }, posix: true},
	{name: "dollar single", script: `printf '<%s>' $'tab\t@V@\x41\''`, want: func(v string) string { return "<tab\t" + v + "A'>" }, lists: joined(func(v string) string { return "<tab\t" + v + "A'>" })},
	{name: "dollar single backslashes", script: `printf '<%s>' $'\\@V@\\'`, want: func(v string) string { return `<\` + v + `\>` }},
	{name: "after dollar single quote", script: "printf '%s' $'it\\'s' >/dev/null\nprintf '<%s>' @V@ '@V@'", want: func(v string) string { return "<" + v + "><" + v + ">" }},
	{name: "backticks", script: "printf '<%s>' \"`printf '%s' @V@`\"", want: trimmed, posix: true},
	{name: "backticks quoted inside", script: "printf '<%s>' \"`printf '%s' \"@V@\"`\"", want: trimmed},
	{name: "backticks unquoted", script: "x=`printf '%s' @V@`; printf '<%s>' \"$x\"", want: trimmed, posix: true},
	{name: "nested backticks", script: "x=`printf '%s' \"\\`printf '%s' @V@\\`\"`; printf '<%s>' \"$x\"", want: trimmed},
	{name: "command substitution", script: `printf '<%s>' "$(printf '%s' @V@)"`, want: trimmed, posix: true},
	{name: "case in substitution", script: `printf '<%s>' "$(case x in x) printf '%s' @V@;; esac)"`, want: trimmed},
	{name: "case in substitution quoted", script: `printf '<%s>' "$(case x in (x) printf '%s' "@V@";; esac)"`, want: trimmed, posix: true},
	{name: "process substitution", script: `cat <(printf '<%s>' @V@)`, want: same},
	{name: "here-string", script: `cat <<<@V@`, want: func(v string) string { return v + "\n" }, lists: joined(func(v string) string { return v + "\n" })},
	{name: "after here-string", script: "read -r x <<<\"x\"\nprintf '<%s>' @V@", want: same},
	{name: "after shift", script: "x=$(( 1 << 4 ))\nprintf '<%s>' @V@ \"@V@\"", want: func(v string) string { return "<" + v + "><" + v + ">" }},
	{name: "heredoc", script: "cat <<EOF\n@V@\nEOF", want: func(v string) string { return v + "\n" }, posix: true, lists: joined(func(v string) string { return v + "\n" })},
	{name: "heredoc with text", script: "cat <<EOF\na '@V@' \"@V@\" $(printf '%s' @V@) b\nEOF", want: func(v string) string {
		return "a '" + v + "' \"" + v + "\" " + strings.TrimRight(v, "\n") + " b\n"
	}, posix: true},
	{name: "heredoc strip tabs", script: "cat <<-EOF\n\t@V@\n\tEOF", want: func(v string) string { return v + "\n" }, posix: true},
	{name: "heredoc in substitution", script: "x=$(cat <<EOF\n@V@\nEOF\n)\nprintf '<%s>' \"$x\"", want: trimmed, posix: true},
	{name: "two heredocs", script: "cat <<A; cat <<'B'\n@V@\nA\n$x `y`\nB", want: func(v string) string { return v + "\n$x `y`\n" }},
	{name: "case subject", script: `case @V@ in *) printf '<%s>' "$REF";; esac`, want: same, posix: true},
	{name: "case pattern", script: "case \"$REF\" in @V@) printf m;; *) printf n;; esac\ncase \"${REF}x\" in @V@) printf m;; *) printf n;; esac", want: constant("mn"), posix: true, lists: joined(constant("mn"))},
	{name: "test pattern", script: "[[ \"$REF\" == @V@ ]] && printf m || printf n\n[[ \"${REF}x\" == @V@ ]] && printf m || printf n", want: constant("mn")},
	{name: "test regexp", script: `[[ "$REF" =~ @V@ ]] && printf m || printf n`, want: constant("m")},
	{name: "test string", script: `[[ -n @V@ || -z @V@ ]] && printf m || printf n`, want: constant("m")},
	{name: "test builtin", script: `[ "x@V@" = "x$REF" ] && printf m || printf n`, want: constant("m"), posix: true},
	{name: "assignment", script: `x=@V@; printf '<%s>' "$x"`, want: same, posix: true, lists: joined(same)},
	{name: "assignment prefix", script: `x=@V@ printenv x`, want: func(v string) string { return v + "\n" }, posix: true},
	{name: "array", script: `a=( @V@ ); printf '<%s>' "${a[@]}"`, want: same, lists: each},
	{name: "array append", script: `a=(x); a+=( "@V@" ); printf '<%s>' "${a[1]}"`, want: same},
	{name: "for", script: `for i in @V@; do printf '<%s>' "$i"; done`, want: same, posix: true, lists: func(l []string) string {
		if len(l) == 0 {
			return ""
		}
		return each(l)
	}},
	{name: "function argument", script: `f() { printf '<%s>' "$@"; }; f @V@`, want: same, posix: true, lists: each},
	{name: "default", script: `unset y; printf '<%s>' "${y:-@V@}" ${y:-@V@}`, want: func(v string) string { return "<" + v + "><" + v + ">" }, posix: true},
	{name: "prefix removal", script: `x="${REF}tail"; printf '<%s>' "${x#@V@}"`, want: constant("<tail>"), posix: true},
	{name: "replacement", script: `x=abc; printf '<%s>' "${x/b/@V@}"`, want: func(v string) string { return "<a" + v + "c>" }},
	{name: "local", script: `f() { local x=@V@; printf '<%s>' "$x"; }; f`, kind: declValue, assigned: "@V@", want: same},
	{name: "declare", script: `declare x=@V@; printf '<%s>' "$x"`, kind: declValue, assigned: "@V@", want: same},
	{name: "declare array", script: `declare -a x=@V@; printf '<%s>' "${x[0]}"`, kind: declValue, assigned: "@V@", want: same},
	{name: "declare over an array", script: `x=(); declare x="@V@"; printf '<%s>' "${x[0]}"`, kind: declValue, assigned: "@V@", want: same},
	{name: "declare in parentheses", script: `declare x="(@V@)"; printf '<%s>' "$x"`, kind: declValue, assigned: "(@V@)", want: func(v string) string { return "<(" + v + ")>" }},
	{name: "declare array in parentheses", script: `declare -a x="(@V@)"; printf ok`, kind: declValue, assigned: "(@V@)", want: constant("ok")},
	{name: "declare quoted", script: `x=(); declare "x=@V@"; printf '<%s>' "$x"`, kind: declValue, assigned: "@V@", want: same},
	{name: "export", script: `export x=@V@; printenv x`, kind: declValue, assigned: "@V@", want: func(v string) string { return v + "\n" }},
	{name: "readonly", script: `readonly x=@V@; printf '<%s>' "$x"`, kind: declValue, assigned: "@V@", want: same},
	{name: "comment", script: "true # @V@ it's\nprintf end", want: constant("end"), posix: true},
	{name: "arithmetic", script: `printf '<%s>' $(( @V@ + 1 ))`, kind: intValue, want: func(v string) string { return "<" + sum(v, "1") + ">" }, posix: true, noList: true},
	{name: "arithmetic quoted", script: `printf '<%s>' "$(( "@V@" * 2 ))"`, kind: intValue, want: func(v string) string { return "<" + sum(v, v) + ">" }, noList: true},
	{name: "arithmetic command", script: `(( x = @V@ )) || true; printf '<%s>' "$x"`, kind: intValue, want: same, noList: true},
	{name: "arithmetic single quoted", script: `(( x = '@V@' )) 2>/dev/null || true; printf '<%s>' "$x"`, kind: intValue, want: constant("<>"), noList: true},
	{name: "test arithmetic", script: `[[ @V@ -eq @V@ ]] && printf m || printf n`, kind: intValue, want: constant("m"), noList: true},
	{name: "test arithmetic single quoted", script: `[[ '@V@' -eq 1 ]] && printf m || printf n`, kind: intValue, want: func(v string) string {
		if v == "1" {
			return "m"
		}
		return "n"
	}, noList: true},
	{name: "let", script: `let "x = @V@" y=@V@ || true; printf '<%s>' "$x"`, kind: intValue, want: same, noList: true},
	{name: "declare integer", script: `declare -i n=@V@; printf '<%s>' "$n"`, kind: intValue, want: same, noList: true},
	{name: "integer variable", script: "declare -i n\nn=@V@; printf '<%s>' \"$n\"", kind: intValue, want: same, noList: true},
	{name: "local integer", script: `f() { local -i n="@V@"; printf '<%s>' "$n"; }; f`, kind: intValue, want: same, noList: true},
	{name: "subscript", script: `a=(); a[@V@]=x; printf '<%s>' "${!a[@]}"`, kind: intValue, want: nonNegative(same), noList: true},
	{name: "subscript read", script: `a=(x); printf '<%s>' "${a[@V@]}"`, kind: intValue, want: func(v string) string {
		if v == "0" || v == "-1" {
			return "<x>"
		}
		return "<>"
	}, noList: true},
	{name: "array element subscript", script: `a=( [@V@]=x ); printf '<%s>' "${!a[@]}"`, kind: intValue, want: nonNegative(same), noList: true},
	{name: "slice", script: `s=abcdef; printf '<%s>' "${s:@V@:1}"`, kind: intValue, want: func(v string) string {
		n, _ := strconv.Atoi(v)
		if n < 0 {
			n += 6
		}
		if n < 0 || n >= 6 {
			return "<>"
		}
		return "<" + "abcdef"[n:n+1] + ">"
	}, noList: true},
	{name: "c-style for", script: `for (( i = @V@; i < @V@ + 1; i++ )); do printf '<%s>' "$i"; done`, kind: intValue, want: func(v string) string {
		if v == "9223372036854775807" {
			return "" // v + 1 wraps
		}
		return same(v)
	}, noList: true},
	{name: "old arithmetic", script: `printf '<%s>' $[ @V@ ]`, kind: intValue, want: same, noList: true},
	{name: "arithmetic default", script: `unset y; printf '<%s>' $(( ${y:-@V@} ))`, kind: intValue, want: same, noList: true},
	{name: "unset", script: `unset @V@; printf ok`, kind: nameValue, want: constant("ok")},
	{name: "read", script: `read -r @V@ <<<"x"; printf ok`, kind: nameValue, want: constant("ok")},
	{name: "read prompt", script: `read -r -p @V@ x <<<"y" 2>/dev/null; printf '<%s>' "$x"`, want: constant("<y>"), lists: joined(constant("<y>"))},
	{name: "printf format", script: `printf -- @V@ >/dev/null; printf ok`, want: constant("ok"), lists: joined(constant("ok"))},
	{name: "printf -v", script: `printf -v @V@ '%s' x; printf ok`, kind: nameValue, want: constant("ok")},
	{name: "test -v", script: `[[ -v @V@ ]] || [ -v @V@ ] || true; printf ok`, kind: nameValue, want: constant("ok")},
	{name: "nameref", script: `declare -n r=@V@; printf ok`, kind: nameValue, want: constant("ok")},
	{name: "declare name", script: `declare @V@; printf ok`, kind: nameValue, want: constant("ok")},
	{name: "unset element", script: `a=(x y); unset 'a[@V@]'; printf '<%s>' "${#a[@]}"`, kind: intValue, noList: true, want: func(v string) string {
		if v == "0" || v == "1" || v == "-1" {
			return "<1>"
		}
		return skip // bash fails on an index out of range, for its own reasons
	}},
	{name: "test -v element", script: `a=(x); [[ -v a[@V@] ]] && printf m || printf n`, kind: intValue, noList: true, want: func(v string) string {
		if v == "0" || v == "-1" {
			return "m"
		}
		return skip
	}},
	{name: "read element", script: `read -r "a[@V@]" <<<"x"; printf ok`, kind: intValue, noList: true, want: nonNegative(constant("ok"))},
	{name: "printf -v element", script: `printf -v "a[@V@]" '%s' x; printf ok`, kind: intValue, noList: true, want: nonNegative(constant("ok"))},
	{name: "redirect", script: `printf '%s' x > @V@ 2>/dev/null || true`, kind: inertValue},
	{name: "bash -c argument", script: `bash -c 'printf "<%s>" "$1"' _ @V@`, want: same, lists: joined(same)},
	{name: "trap signal", script: `trap 'printf t' @V@ 2>/dev/null || true; trap - EXIT; printf ok`, want: constant("ok"), lists: joined(constant("ok"))},
	{name: "test builtin words", script: `[ @V@ ] 2>/dev/null || true; test -n @V@ -a @V@ 2>/dev/null || true; printf ok`, want: constant("ok"), lists: joined(constant("ok"))},
	{name: "eval data", script: `x=@V@; eval 'printf "<%s>" "$x"'`, want: same},
}

// sum is a+b for integer text, as bash computes it (wrapping).
func sum(a, b string) string {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return strconv.FormatInt(x+y, 10)
}

// prefixes are written before a context's script: constructs that made the
// hand-written scanner lose its place. They print nothing.
var prefixes = []string{
	"",
	"read -r _ <<<\"x\"\n",
	"_=$(( 1 << 4 ))\n",
	"_=$'it\\'s'\n",
	": `echo x`\n",
	"_=\"$(case x in x) echo;; esac)\"\n",
	"cat >/dev/null <<'EOF'\n' \" ` $( <<X\nEOF\n",
	"# it's a comment with ' and \" and <<EOF\n",
	": \"a'b\" 'c\"d' $'e\\'f' \"`echo \\\"g'\\\"`\"\n",
	"f() { :; }; [[ 1 -lt 2 ]] && (( 1 < 2 ))\n",
}

// bigValue is a long value: longer than one environment variable may be.
var bigValue = strings.Repeat("$(touch CANARY) `touch CANARY` '\"ü\n", 200<<10/40)

// attackValues are the hostile values every context gets: each would run
// the canary, end a quote or a document, or be read as code, if it were
// script text.
var attackValues = []string{
	"$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '", `"; touch CANARY; "`, "a\nEOF\ntouch CANARY",
	`\\$(touch CANARY)`, ") ; touch CANARY ; (", ";; esac; touch CANARY; case x in x)", "a[$(touch CANARY)]",
	"x[`touch CANARY`]", "($(touch CANARY))", "([0]=$(touch CANARY))", "EOF\n$(touch CANARY)", "$'\\x41$(touch CANARY)'",
	"' \"", `\`, "", "plain", "42", "-1", "_x1",
}

// shapeValues are the other values: quotes, newlines, globs, options,
// numbers in all spellings, bytes that are not UTF-8, long values. Each
// context gets every eighth in turn (all of them with -shell.full).
var shapeValues = []string{
	"two words", " ", "EOF", "\nEOF\n", "A", "B", `\\`, "\\\n", "$HOME", "${PATH}", "!x", "!!",
	"line1\nline2", "x\n", "\n", "ünïcödé ✓", "\xff\xfe", "'", `"`, "$'", `$"x"`, "$((1+1))", "$[1+1]",
	"-n", "-e", "-rf /", "--", "*", "?", "[a]", "~", "~root", "{a,b}", "a\\\nb", "\t", "\r\n", "\x01\x1b[31m",
	"(\n$(touch CANARY))", "&", "a&b", `\&`, "}", "{", "<<EOF", "<<<x", "${RBFLOW_V_1}", "$RBFLOW_V_2",
	"0", "1", "010", "+7", "9223372036854775807", "9223372036854775808", "0x10", "1+1", "1 ", "%s%n%d", "a=b",
	"IFS", "PATH", strings.Repeat("x", 100<<10), bigValue,
}

// fullDiff runs every context with every value.
var fullDiff = flag.Bool("shell.full", false, "run the differential test over every context and every value")

// diffCase is one script and value of the differential test.
type diffCase struct {
	ctx     shellContext
	prefix  string
	value   any // string, int or []string
	dialect Dialect
}

func (dc diffCase) String() string {
	v := fmt.Sprintf("%q", dc.value)
	if len(v) > 80 {
		v = v[:77] + "..."
	}
	d := ""
	if dc.dialect == POSIX {
		d = " (sh)"
	}
	return fmt.Sprintf("context %q%s with prefix %q, value %s", dc.ctx.name, d, dc.prefix, v)
}

// diffStats counts what a differential run did.
type diffStats struct {
	cases, ran, refused, canaries int
	contexts, values              map[string]bool
	strings, lists, ints          int // distinct values of each kind
}

// runDiff runs cases on workers batches in parallel and reports every
// canary and every value that did not come back.
func runDiff(t testing.TB, cases []diffCase, workers int) diffStats {
	t.Helper()
	st := diffStats{cases: len(cases), contexts: map[string]bool{}, values: map[string]bool{}}
	for _, dc := range cases {
		k := fmt.Sprintf("%T %#v", dc.value, dc.value)
		if !st.values[k] {
			st.values[k] = true
			switch dc.value.(type) {
			case string:
				st.strings++
			case []string:
				st.lists++
			default:
				st.ints++
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan diffCase)
	for w := 0; w < workers; w++ {
		b := newBatch(t, t.TempDir())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.close()
			for dc := range next {
				ran, refused, canary := checkCase(t, b, dc)
				mu.Lock()
				st.contexts[dc.ctx.name] = true
				if ran {
					st.ran++
				}
				if refused {
					st.refused++
				}
				if canary {
					st.canaries++
				}
				mu.Unlock()
			}
		}()
	}
	for _, dc := range cases {
		next <- dc
	}
	close(next)
	wg.Wait()
	return st
}

// diffCompiler declares the params a case's value can come from.
func diffCompiler() *Compiler {
	return NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}, {Name: "n", Type: "int"}, {Name: "l", Type: "list"}}})
}

// checkCase compiles, renders and runs one case. It reports whether the
// script ran, whether its value was refused (as its context requires),
// and whether the canary appeared.
func checkCase(t testing.TB, b runner, dc diffCase) (ran, refused, canary bool) {
	c := diffCompiler()
	param := "v"
	switch dc.value.(type) {
	case int:
		param = "n"
	case []string:
		param = "l"
	}
	src := dc.prefix + strings.ReplaceAll(dc.ctx.script, "@V@", "${{ params."+param+" }}")
	tpl, err := c.ShellTemplate(src, dc.dialect)
	if err != nil {
		if param == "l" && dc.ctx.noList {
			return false, true, false // a list where bash reads an integer: refused at load
		}
		t.Errorf("%v: ShellTemplate: %v\n%s", dc, err, src)
		return false, false, false
	}
	script, err := tpl.Shell(c.Env(&Data{Params: map[string]any{param: dc.value}}))
	text, isText := dc.value.(string)
	if !isText {
		text = Text(dc.value)
	}
	// A NUL cannot be in an environment variable: refused everywhere.
	wantRefused := strings.Contains(text, "\x00")
	switch dc.ctx.kind {
	case intValue:
		_, ok := integer(dc.value)
		wantRefused = wantRefused || !ok
	case nameValue:
		for _, s := range items(dc.value) {
			wantRefused = wantRefused || !nameRE().MatchString(s)
		}
	case declValue:
		full := strings.ReplaceAll(dc.ctx.assigned, "@V@", text)
		wantRefused = wantRefused || strings.HasPrefix(full, "(") && strings.HasSuffix(full, ")") && text != ""
	}
	if err != nil {
		if !wantRefused {
			t.Errorf("%v: Shell: %v", dc, err)
		}
		return false, true, false
	}
	if wantRefused {
		t.Errorf("%v: the value was accepted where it must be refused:\n%s", dc, script)
	}
	var extra []string
	if len(text) < 120<<10 && !strings.Contains(text, "\x00") {
		extra = append(extra, "REF="+text)
	}
	r, err := b.run(script, extra...)
	if err != nil {
		t.Fatalf("%v: %v", dc, err)
	}
	if r.canary {
		t.Errorf("%v: RAN A COMMAND (the canary appeared); script:\n%s", dc, script.Text)
	}
	if dc.ctx.want == nil || dc.ctx.kind == inertValue {
		return true, false, r.canary
	}
	var want string
	switch v := dc.value.(type) {
	case []string:
		want = dc.ctx.lists(v)
	default:
		want = dc.ctx.want(text)
		if dc.ctx.kind == intValue {
			n, _ := integer(dc.value)
			want = dc.ctx.want(n)
		}
	}
	if want == skip {
		return true, false, r.canary
	}
	if r.status != 0 || string(r.out) != want {
		t.Errorf("%v: printed %q (exit status %d), want %q\nscript:\n%s", dc, clip(string(r.out)), r.status, clip(want), clip(script.Text))
	}
	return true, false, r.canary
}

// diffCases is the generator: every context with every attack value and
// every share-th shape value (a string param), the integer contexts with
// an int param, the contexts that take lists with list params (and the
// integer ones, which refuse them); each case takes the next prefix in
// turn.
func diffCases(attacks, shapes []string, share int) []diffCase {
	var cases []diffCase
	i := 0
	add := func(ctx shellContext, v any, d Dialect) {
		if !usable(ctx, v) {
			return
		}
		cases = append(cases, diffCase{ctx: ctx, prefix: prefixes[i%len(prefixes)], value: v, dialect: d})
		i++
	}
	lists := [][]string{{}, {""}, {"a b", "$(touch CANARY)", "*", "'\"", "-n", "x\ny"}, {"a[$(touch CANARY)]"}}
	for ci, ctx := range shellContexts {
		for _, v := range attacks {
			add(ctx, v, Bash)
		}
		for j := ci % share; j < len(shapes); j += share {
			add(ctx, shapes[j], Bash)
		}
		if ctx.kind == intValue {
			for _, n := range []int{0, 1, -1, 3, 1 << 40} {
				add(ctx, n, Bash)
			}
		}
		if ctx.lists != nil || ctx.noList {
			for _, l := range lists {
				add(ctx, l, Bash)
			}
		}
	}
	return cases
}

// usable reports whether a case can be checked: a context that compares
// with $REF, or hands the value whole to another program (printenv, bash
// -c), needs it in one environment variable or argument, which Linux caps
// at 128 KiB.
func usable(ctx shellContext, v any) bool {
	s, ok := v.(string)
	whole := strings.Contains(ctx.script, "REF") || strings.Contains(ctx.script, "printenv") || strings.Contains(ctx.script, "bash -c")
	return !ok || len(s) < 120<<10 || !whole
}

// posixCases are the POSIX contexts under sh, with the values sh can take
// in one exec each (a slower path: sh has no read -d ”), so fewer.
func posixCases(values []string) []diffCase {
	var cases []diffCase
	i := 0
	for _, ctx := range shellContexts {
		if !ctx.posix {
			continue
		}
		for _, v := range values {
			if usable(ctx, v) {
				cases = append(cases, diffCase{ctx: ctx, prefix: posixPrefixes[i%len(posixPrefixes)], value: v, dialect: POSIX})
				i++
			}
		}
	}
	return cases
}

var posixPrefixes = []string{
	"",
	"_=$(( 1 << 4 ))\n",
	": `echo x`\n",
	"cat >/dev/null <<'EOF'\n' \" ` $( <<X\nEOF\n",
	"# it's a comment with ' and \" and <<EOF\n",
}

// TestShellDifferential is the differential test of issue 11: see the
// comment at the top of this file. -short runs a few values per context,
// -shell.full all of them everywhere.
func TestShellDifferential(t *testing.T) {
	// Every attack value in every context; the shape values sampled, one
	// in 32 (make test) or 8 (make test-long) per context, in turn.
	attacks, shapes, share := attackValues, shapeValues, 32
	switch {
	case *fullDiff:
		share = 1
	case testkit.Long():
		share = 8
	case testing.Short():
		attacks, share = attacks[:4], len(shapes)
	}
	cases := diffCases(attacks, shapes, share)
	start := time.Now()
	st := runDiff(t, cases, max(2, runtime.GOMAXPROCS(0)))
	t.Logf("differential: %d cases over %d contexts and %d values (%d strings, %d lists, %d ints), %d prefixes: %d ran, %d refused as their context requires, %d canaries, in %s",
		st.cases, len(st.contexts), len(st.values), st.strings, st.lists, st.ints, len(prefixes), st.ran, st.refused, st.canaries, time.Since(start).Round(time.Millisecond))
	if st.canaries != 0 {
		t.Errorf("%d canaries appeared", st.canaries)
	}
	if st.ran < st.cases/2 {
		t.Errorf("only %d of %d cases ran", st.ran, st.cases)
	}
}

// TestShellDifferentialPOSIX runs the POSIX contexts under sh (dash where
// sh is dash), one process each.
func TestShellDifferentialPOSIX(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	values := []string{"$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '", "a\nEOF\ntouch CANARY",
		`\\$(touch CANARY)`, "", "*'\"~-n\n", strings.Repeat("`touch CANARY`ü", 8000)}
	if testing.Short() {
		values = values[:4]
	}
	r := execRunner{t: t, shell: "sh", dir: t.TempDir()}
	cases := posixCases(values)
	canaries := 0
	for _, dc := range cases {
		if _, _, canary := checkCase(t, r, dc); canary {
			canaries++
		}
	}
	t.Logf("differential (sh): %d cases, %d canaries", len(cases), canaries)
}

// FuzzShell is the differential test with values from the fuzzer: a
// context and a prefix chosen by number, the value as a string param or,
// split at newlines, a list param; run by bash. The canary must never
// appear and the value must come back where it is data.
func FuzzShell(f *testing.F) {
	for i, v := range append(append([]string{}, attackValues...), shapeValues...) {
		if len(v) < 1<<10 {
			f.Add(uint8(i), uint8(i), v, i%5 == 0)
		}
	}
	b := newBatch(f, f.TempDir())
	f.Cleanup(b.close)
	f.Fuzz(func(t *testing.T, ctx, prefix uint8, value string, list bool) {
		c := shellContexts[int(ctx)%len(shellContexts)]
		dc := diffCase{ctx: c, prefix: prefixes[int(prefix)%len(prefixes)], value: value}
		if list {
			if c.lists == nil && !c.noList {
				return
			}
			dc.value = strings.Split(value, "\n")
		}
		checkCase(t, b, dc)
	})
}
