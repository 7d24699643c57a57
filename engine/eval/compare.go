package eval

// Comparisons of values whose type only the run knows.
//
// A step's outputs are a map of any: a shell step's are text (what it
// wrote to $RBFLOW_OUTPUT), other kinds publish ints, floats, bools and
// lists. expr would find "3" == 3 false and fail "3" > 0 with "string >
// int" at run time. SPEC §2.3: as in GitHub Actions, an output compared
// with a number compares numerically. So every comparison (==, !=, <, <=,
// >, >=) with a side whose type is known only at run time is compiled as a
// call of compare, which decides by the values:
//
//   - a number and a string: the string is read as a decimal number
//     (spaces around it ignored; -2, 1.5, 1e3 and 007, seven, are
//     numbers), then they compare as numbers;
//   - a number and anything else, or a string that is not a number ("",
//     "abc", "0x10", "1,000", "NaN"): that side is NaN, which equals
//     nothing and is neither less nor greater than anything: ==, <, <=, >
//     and >= are false, != is true. GitHub Actions reads null and "" as 0
//     and true as 1; rbflow does not: an output a step never wrote must
//     not pass steps.check.outputs.errors == 0 in a rollback;
//   - otherwise as expr compares them: two numbers as numbers, two
//     strings as text (byte by byte, so "10" < "9", as in GitHub Actions),
//     and what expr cannot compare fails as before.
//
// Comparisons whose both sides have a type known at load (params, run.*,
// literals) are left to expr's checker: params.baseline > 2 stays a load
// error.

import (
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// compareFunc is the name comparisons are compiled to call. It is not a
// name anyone can write: checkRefs refuses it before expr sees the text.
const compareFunc = "$compare"

var compareOption = expr.Function(compareFunc, func(args ...any) (any, error) {
	return compare(args[0].(string), args[1], args[2]), nil
}, new(func(string, any, any) bool))

// comparePatch rewrites a comparison with a side of run-time type into a
// call of compare. expr runs it after a type check, so each node knows its
// type; a node whose type is an interface holds a value only the run
// knows (an output, a let variable set from one, an item of an output
// list).
type comparePatch struct{}

func (comparePatch) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	switch b.Operator {
	case "==", "!=", "<", "<=", ">", ">=":
	default:
		return
	}
	if !dynamic(b.Left) && !dynamic(b.Right) {
		return
	}
	call := &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: compareFunc},
		Arguments: []ast.Node{&ast.StringNode{Value: b.Operator}, b.Left, b.Right},
	}
	ast.Patch(node, call)
	(*node).SetType(reflect.TypeFor[bool]())
}

// dynamic reports whether a node's value has a type only the run knows.
// nil is not: x == nil stays expr's.
func dynamic(n ast.Node) bool {
	if _, ok := n.(*ast.NilNode); ok {
		return false
	}
	t := n.Type()
	return t == nil || t.Kind() == reflect.Interface
}

// compare applies op to a and b by the rules at the top of this file.
func compare(op string, a, b any) bool {
	an, bn := isNumber(a), isNumber(b)
	switch {
	case an && !bn:
		b = number(b)
	case bn && !an:
		a = number(a)
	}
	switch op {
	case "==":
		return runtime.Equal(a, b)
	case "!=":
		return !runtime.Equal(a, b)
	case "<":
		return runtime.Less(a, b)
	case "<=":
		return runtime.LessOrEqual(a, b)
	case ">":
		return runtime.More(a, b)
	case ">=":
		return runtime.MoreOrEqual(a, b)
	}
	panic("eval: compare: unknown operator " + op)
}

func isNumber(v any) bool {
	if v == nil {
		return false
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

var (
	intText   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[+-]?[0-9]+$`) })
	floatText = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	})
)

// number reads v, compared with a number, as one: an int for a whole
// decimal (exact, even past 2^53), a float64 otherwise, NaN when v is not
// text of a decimal number.
func number(v any) any {
	s, ok := v.(string)
	if !ok {
		return math.NaN()
	}
	s = strings.TrimSpace(s)
	if intText().MatchString(s) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return int(n)
		}
	}
	if floatText().MatchString(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return math.NaN()
}
