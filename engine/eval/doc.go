// Package eval compiles and evaluates the expressions of a procedure: if:
// conditions and ${{ }} interpolation. It is the only package that imports
// expr-lang/expr.
//
// Every expression is compiled when the procedure is loaded, against a typed
// environment built for that procedure (its params with their types, its step
// ids, run facts and host functions), so that a typo is a load error, not a
// silent false at 3 a.m.
package eval
