package eval

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// LiteralPrefix returns the text the template begins with, as written, up
// to its first ${{ }} ("" when it begins with one): what of a value the
// procedure's author wrote rather than a param or an output gave.
func (t *Template) LiteralPrefix() string {
	if len(t.parts) > 0 && t.parts[0].prog == nil {
		return t.parts[0].lit
	}
	return ""
}

// RenderEach renders the template with the text of each ${{ }} value
// passed through each, and the literal text as written: for values that
// must stay data inside another language (a report template's {{ }}).
func (t *Template) RenderEach(env *Env, each func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := t.run(env, p)
		if err != nil {
			return "", err
		}
		b.WriteString(each(Text(v)))
	}
	return b.String(), nil
}

// ListedStrings returns the strings written as items of a list literal in
// the template's expressions: in ${{ concat(["ls-tree", "-z"], params.files) }}
// "ls-tree" and "-z" are the author's, whatever params.files holds.
func (t *Template) ListedStrings() map[string]bool {
	out := map[string]bool{}
	for _, p := range t.parts {
		if p.prog == nil {
			continue
		}
		ast.Find(p.prog.Node(), func(n ast.Node) bool {
			switch m := n.(type) {
			case *ast.ArrayNode:
				for _, item := range m.Nodes {
					if s, ok := item.(*ast.StringNode); ok {
						out[s.Value] = true
					}
				}
			case *ast.ConstantNode: // a list of constants, folded by expr
				if items, ok := m.Value.([]any); ok {
					for _, item := range items {
						if s, ok := item.(string); ok {
							out[s] = true
						}
					}
				}
			}
			return false
		})
	}
	return out
}
