package eval

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Loop makes the compiler compile the expressions of a step with
// for_each from now on: item and index exist, with what is known of the
// items (nil: a step without for_each).
func (c *Compiler) Loop(it *Item) { c.loop = it }

// key tells programs compiled for items of one shape from others in the
// compiler's cache: their names were checked against different fields.
func (it *Item) key() string {
	var b strings.Builder
	b.WriteString("\x00l")
	if it.Written {
		b.WriteString("w")
	}
	if it.Fields != nil {
		b.WriteString("{")
		for _, k := range slices.Sorted(maps.Keys(it.Fields)) {
			fmt.Fprintf(&b, "%s:%t,", k, it.Fields[k])
		}
		b.WriteString("}")
	}
	return b.String() + "\x00"
}

// List is a compiled for_each expression: it gives the items a step runs
// for.
type List struct {
	Source string
	prog   *vm.Program
	item   *Item
}

// List compiles a for_each expression. Its value must be a list: a
// value known at load time to be anything else is an error here, one
// known only when it runs is an error then.
func (c *Compiler) List(src string) (*List, error) {
	if i := strings.Index(src, "${{"); i >= 0 {
		return nil, &Error{Offset: i, Msg: "for_each takes a bare expression, as if: does (for_each: params.files), not ${{ }}"}
	}
	prog, err := c.compile(src, false, false)
	if err != nil {
		return nil, err
	}
	if t := prog.Node().Type(); t != nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Array, reflect.Interface:
		default:
			return nil, &Error{Offset: 0, Msg: fmt.Sprintf("for_each must give a list, and %s gives %s", strings.TrimSpace(src), kindName(t))}
		}
	}
	return &List{Source: src, prog: prog, item: c.itemOf(prog.Node())}, nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "a map"
	}
	return t.String()
}

// Item is what is known of the list's items at load time.
func (l *List) Item() *Item { return l.item }

// Runtime reports whether the list depends on what earlier steps did.
func (l *List) Runtime() bool { return usesRuntime(l.prog.Node()) }

// Eval evaluates the list.
func (l *List) Eval(env *Env) ([]any, error) {
	v, err := vm.Run(l.prog, env.value(false))
	if err != nil {
		return nil, fmt.Errorf("evaluate for_each %q: %w", strings.TrimSpace(l.Source), err)
	}
	items, ok := Items(v)
	if !ok {
		return nil, fmt.Errorf("for_each %q gave %s, not a list", strings.TrimSpace(l.Source), describe(v))
	}
	return items, nil
}

func describe(v any) string {
	if v == nil {
		return "nothing (nil)"
	}
	return kindName(reflect.TypeOf(v)) + " " + Text(v)
}

// Items returns the items of a list value (of any element type) as []any.
func Items(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// itemOf finds what a for_each expression's items are: records of a
// list param (params.NAME), maps written in the expression ([{...}]), or
// either of two such (cond ? a : b). Anything else: nothing is known.
func (c *Compiler) itemOf(n ast.Node) *Item {
	switch x := n.(type) {
	case *ast.MemberNode:
		if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "params" {
			if prop, ok := x.Property.(*ast.StringNode); ok {
				for _, p := range c.decl.Params {
					if p.Name == prop.Value && p.Fields != nil {
						it := &Item{Fields: map[string]bool{}}
						for f, t := range p.Fields {
							it.Fields[f] = t == "command"
						}
						return it
					}
				}
			}
		}
	case *ast.ConditionalNode:
		a, b := c.itemOf(x.Exp1), c.itemOf(x.Exp2)
		if a == nil || b == nil {
			return nil
		}
		it := &Item{Fields: map[string]bool{}}
		for f, code := range a.Fields {
			it.Fields[f] = code
		}
		for f, code := range b.Fields {
			if prev, ok := it.Fields[f]; ok {
				code = code && prev
			} else if _, inA := a.Fields[f]; !inA {
				code = false // missing in one: nil there
			}
			it.Fields[f] = code
		}
		for f := range a.Fields {
			if _, ok := b.Fields[f]; !ok {
				it.Fields[f] = false
			}
		}
		return it
	case *ast.ArrayNode:
		it := &Item{Fields: map[string]bool{}}
		for i, e := range x.Nodes {
			m, ok := e.(*ast.MapNode)
			if !ok {
				return nil
			}
			seen := map[string]bool{}
			for _, pn := range m.Pairs {
				pair := pn.(*ast.PairNode)
				k, ok := pair.Key.(*ast.StringNode)
				if !ok {
					return nil
				}
				code := c.isCode(pair.Value)
				if prev, ok := it.Fields[k.Value]; ok {
					code = code && prev
				} else if i > 0 {
					code = false // missing in an earlier item
				}
				it.Fields[k.Value] = code
				seen[k.Value] = true
			}
			for f := range it.Fields {
				if !seen[f] {
					it.Fields[f] = false
				}
			}
		}
		return it
	}
	return nil
}

// isCode reports whether a value may run as code: a param declared type:
// command, a field of the loop's items that may, the items themselves when
// they are written in the procedure, a string written in the expression,
// or a choice between such values.
func (c *Compiler) isCode(n ast.Node) bool {
	switch x := n.(type) {
	case *ast.StringNode:
		return true
	case *ast.ConditionalNode:
		return c.isCode(x.Exp1) && c.isCode(x.Exp2)
	case *ast.IdentifierNode:
		return x.Value == "item" && c.loop != nil && c.loop.Written
	case *ast.MemberNode:
		id, ok := x.Node.(*ast.IdentifierNode)
		if !ok {
			return false
		}
		prop, ok := x.Property.(*ast.StringNode)
		if !ok {
			return false
		}
		switch id.Value {
		case "params":
			for _, pm := range c.decl.Params {
				if pm.Name == prop.Value {
					return pm.Type == "command"
				}
			}
		case "item":
			return c.loop != nil && (c.loop.Written || c.loop.Fields[prop.Value])
		}
	}
	return false
}

// WrittenItem is what is known of items written in the procedure as a
// YAML list: the keys of the maps among them.
func WrittenItem(keys [][]string) *Item {
	it := &Item{Written: true}
	if len(keys) == 0 {
		return it
	}
	it.Fields = map[string]bool{}
	for _, ks := range keys {
		if ks == nil {
			return &Item{Written: true} // not every item is a map
		}
		for _, k := range ks {
			it.Fields[k] = true
		}
	}
	return it
}
