package eval

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"
)

// Template is a string with ${{ expr }} parts, compiled. A template
// compiled by ShellTemplate also knows, for each part, where bash reads it.
type Template struct {
	Source string
	parts  []part
	shell  bool // compiled by ShellTemplate: Shell may render it
}

type part struct {
	lit    string
	expr   string
	offset int // byte offset of the ${{ in Source
	prog   *vm.Program
	ctx    shellCtx // where the value stands in a shell script
}

// Template compiles every ${{ }} in src. A string without ${{ is a literal.
func (c *Compiler) Template(src string) (*Template, error) {
	t := &Template{Source: src}
	rest, base := src, 0
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{lit: rest})
			}
			return t, nil
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		start := i + 3
		end := closing(rest[start:])
		if end < 0 {
			return nil, &Error{Offset: base + i, Msg: "unterminated ${{: add the closing }}"}
		}
		code := rest[start : start+end]
		if strings.TrimSpace(code) == "" {
			return nil, &Error{Offset: base + i, Msg: "empty ${{ }}"}
		}
		prog, err := c.compile(code, false, false)
		if err != nil {
			if e, ok := err.(*Error); ok {
				e.Offset += base + start
			}
			return nil, err
		}
		t.parts = append(t.parts, part{expr: code, prog: prog, offset: base + i})
		adv := start + end + 2
		rest, base = rest[adv:], base+adv
	}
}

// closing finds the }} that ends an expression, skipping string literals.
func closing(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == '\\' && quote != '`' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'' || ch == '`':
			quote = ch
		case ch == '}' && i+1 < len(s) && s[i+1] == '}':
			return i
		}
	}
	return -1
}

// Runtime reports whether the template depends on what earlier steps did.
func (t *Template) Runtime() bool {
	for _, p := range t.parts {
		if p.prog != nil && usesRuntime(p.prog.Node()) {
			return true
		}
	}
	return false
}

// IsLiteral reports whether the template has no expressions.
func (t *Template) IsLiteral() bool {
	for _, p := range t.parts {
		if p.prog != nil {
			return false
		}
	}
	return true
}

// Exprs returns the source of each ${{ }} expression in order.
func (t *Template) Exprs() []string {
	var out []string
	for _, p := range t.parts {
		if p.prog != nil {
			out = append(out, p.expr)
		}
	}
	return out
}

// Value evaluates the template. A template that is exactly one ${{ }} keeps
// the expression's type (a list stays a list); otherwise the result is text.
func (t *Template) Value(env *Env) (any, error) {
	if len(t.parts) == 1 && t.parts[0].prog != nil {
		return t.run(env, t.parts[0])
	}
	return t.Render(env)
}

// Render evaluates the template to plain text (with: values, env values,
// dir, prompts, report paths). Lists become space-separated words.
func (t *Template) Render(env *Env) (string, error) {
	if len(t.parts) == 1 && t.parts[0].prog == nil {
		return t.parts[0].lit, nil
	}
	return t.RenderEach(env, func(s string) string { return s })
}

func (t *Template) run(env *Env, p part) (any, error) {
	v, err := vm.Run(p.prog, env.value(false))
	if err != nil {
		return nil, fmt.Errorf("evaluate ${{ %s }}: %w", strings.TrimSpace(p.expr), err)
	}
	return v, nil
}

// Text formats a value as plain text: nil is empty, lists are space-separated.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []string:
		return strings.Join(x, " ")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Text(e)
		}
		return strings.Join(parts, " ")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// ShellQuote formats a value as shell words: each scalar is one single-quoted
// word, each list item its own word. It is for words rbflow itself writes
// (test files it selected, a command to copy); a ${{ }} value reaches a
// script through Template.Shell, never as quoted text.
func ShellQuote(v any) string {
	switch x := v.(type) {
	case []string:
		words := make([]string, len(x))
		for i, e := range x {
			words[i] = Quote(e)
		}
		return strings.Join(words, " ")
	case []any:
		words := make([]string, len(x))
		for i, e := range x {
			words[i] = Quote(Text(e))
		}
		return strings.Join(words, " ")
	}
	return Quote(Text(v))
}

// Quote returns s as one single-quoted POSIX shell word.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+,", r)) {
			safe = false
			break
		}
	}
	if safe && s[0] != '-' {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
