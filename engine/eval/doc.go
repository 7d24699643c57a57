// Package eval compiles and evaluates the expressions of a procedure: if:
// conditions and ${{ }} interpolation. It is the only package that imports
// expr-lang/expr, and the one place where bash scripts are parsed
// (mvdan.cc/sh/v3/syntax).
//
// Every expression is compiled when the procedure is loaded, against a typed
// environment built for that procedure (its params with their types, its step
// ids, run facts and host functions), so that a typo is a load error, not a
// silent false at 3 a.m. A comparison with a value whose type only the run
// knows (a step's outputs) is compiled to compare numerically when one
// side is a number, as in GitHub Actions (compare.go).
//
// A field that a shell runs (run:, test:, service and wait commands) is
// compiled by ShellTemplate: the script is parsed with a placeholder for
// each ${{ }}, and the parser, never a hand-written scanner, decides where
// each value stands. Shell renders a Script whose text refers to
// environment variables (RBFLOW_V_1, ...) that carry the values, so a value
// is never script text; the reference is written for its place:
//
//	a word               printf %s ${{ v }}      -> printf %s "${RBFLOW_V_1}"
//	                     (a list: one "${RBFLOW_V_n}" per item where bash
//	                     splits words — arguments, for lists, array
//	                     elements — and its items joined by spaces elsewhere)
//	"..." or <<EOF body  "a ${{ v }}"            -> "a ${RBFLOW_V_1}"
//	'...'                'a ${{ v }}'            -> 'a '"${RBFLOW_V_1}"''
//	$'...'               $'a\t${{ v }}'          -> $'a\t'"${RBFLOW_V_1}"$''
//	backticks, $(...)    as a word inside them
//	arithmetic           $(( ${{ n }} + 1 ))     -> $(( ${RBFLOW_V_1} + 1 ))
//	a comment            left inert
//
// What bash evaluates is checked before the script starts: in arithmetic
// ($(( )), (( )), let, the arithmetic operators of [[ ]], array
// subscripts, slices, declare -i and variables declared -i) a value must be
// a decimal integer (int params pass at load; 010 is ten); where bash takes
// a variable name (unset, read, printf -v, mapfile, getopts, wait -p,
// [[ -v ]], test -v, declare -n) it must be one; in a declaration's value
// (declare, local, export, readonly, typeset) it cannot make the assigned
// text (...), which bash would run as an array assignment. A value with a
// NUL byte, which no environment variable can carry, is refused. Load
// errors: a script the parser rejects; a ${{ }} in a quoted here-document
// (<<'EOF' is literal: unquote the delimiter), in a here-document's
// delimiter or after a backslash; and a value that eval, source, trap, a
// shell's -c or a shell reading its standard input would run as code,
// unless it is exactly a param of type command.
//
// Out of reach of a parser, and the script's own business: a value that
// reaches code through the script's own data flow (x=${{ v }}; eval "$x",
// ${!x}, read into a declare -i variable, ssh host "$x"), and a value that
// a program takes as an option (a leading -).
package eval
