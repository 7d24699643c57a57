package eval

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Argv returns the words of text when text is one simple command of
// literal words, for the shell of dialect d: no expansion of any kind
// (parameters, commands, arithmetic, globs, braces, tildes, escapes), no
// redirection, operator, pipeline, assignment or background job, and a
// command that is not a shell builtin or keyword. Such a command runs the
// same without the shell, as make runs it. ok is false otherwise.
func Argv(text string, d Dialect) (argv []string, ok bool) {
	f, err := parseShell(text, d)
	if err != nil || len(f.Stmts) != 1 {
		return nil, false
	}
	st := f.Stmts[0]
	if st.Negated || st.Background || st.Coprocess || len(st.Redirs) > 0 {
		return nil, false
	}
	call, isCall := st.Cmd.(*syntax.CallExpr)
	if !isCall || len(call.Assigns) > 0 || len(call.Args) == 0 {
		return nil, false
	}
	for _, w := range call.Args {
		s, ok := literalWord(w)
		if !ok {
			return nil, false
		}
		argv = append(argv, s)
	}
	if shellBuiltins[argv[0]] || argv[0] == "" {
		return nil, false
	}
	return argv, true
}

// literalWord returns the value of a word made only of literal text.
func literalWord(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			// Unquoted text: globs, braces, a tilde and escapes change it.
			if strings.ContainsAny(p.Value, "*?[]{}~\\") {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", false
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				return "", false
			}
			for _, q := range p.Parts {
				lit, ok := q.(*syntax.Lit)
				if !ok || strings.ContainsAny(lit.Value, "\\`$") {
					return "", false
				}
				b.WriteString(lit.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// shellBuiltins are bash's builtins and keywords (compgen -b, compgen -k):
// a command of one of these names means the shell's, not a program's.
var shellBuiltins = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`. : [ alias bg bind break builtin caller cd command compgen complete
		compopt continue declare dirs disown echo enable eval exec exit export false fc fg getopts hash
		help history jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly
		return set shift shopt source suspend test times trap true type typeset ulimit umask unalias
		unset wait if then else elif fi case esac for select while until do done in function time { }
		! [[ ]] coproc`) {
		shellBuiltins[n] = true
	}
}
