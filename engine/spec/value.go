package spec

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is the shape of a Value.
type Kind int

// Value kinds.
const (
	Null Kind = iota
	Scalar
	List
	Map
)

func (k Kind) String() string {
	switch k {
	case Scalar:
		return "a scalar"
	case List:
		return "a list"
	case Map:
		return "a map"
	}
	return "null"
}

// Style records how a scalar was written, so that positions inside it can be
// mapped back onto the file.
type Style int

// Scalar styles.
const (
	Plain Style = iota
	SingleQuoted
	DoubleQuoted
	Literal // |
	Folded  // >
)

// Value is a YAML value with its position, independent of the YAML library.
// Step kinds read their with: arguments through it.
type Value struct {
	Kind  Kind
	Str   string // scalar text
	Tag   string // resolved tag: !!str, !!int, !!float, !!bool, !!null
	Style Style
	List  []*Value
	Map   []*Entry
	Pos   Pos
}

// Entry is one key of a map Value, in file order.
type Entry struct {
	Key    string
	KeyPos Pos
	Value  *Value
}

// Get returns the value of key in a map Value, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Kind != Map {
		return nil
	}
	for _, e := range v.Map {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}

// Entry returns the entry of key in a map Value, or nil.
func (v *Value) Entry(key string) *Entry {
	if v == nil || v.Kind != Map {
		return nil
	}
	for _, e := range v.Map {
		if e.Key == key {
			return e
		}
	}
	return nil
}

// IsString reports whether v is a scalar written as a string (not a number,
// bool or null).
func (v *Value) IsString() bool { return v != nil && v.Kind == Scalar && v.Tag == "!!str" }

// Bool returns a boolean scalar's value.
func (v *Value) Bool() (bool, bool) {
	if v == nil || v.Kind != Scalar || v.Tag != "!!bool" {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(v.Str))
	return b, err == nil
}

// Int returns an integer scalar's value.
func (v *Value) Int() (int, bool) {
	if v == nil || v.Kind != Scalar || v.Tag != "!!int" {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Str, 0, 64)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// Plain converts the value to plain Go data: string, int, float64, bool, nil,
// []any and map[string]any.
func (v *Value) Plain() any {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case Scalar:
		switch v.Tag {
		case "!!int":
			if n, ok := v.Int(); ok {
				return n
			}
		case "!!float":
			if f, err := strconv.ParseFloat(v.Str, 64); err == nil {
				return f
			}
		case "!!bool":
			if b, ok := v.Bool(); ok {
				return b
			}
		}
		return v.Str
	case List:
		out := make([]any, len(v.List))
		for i, x := range v.List {
			out[i] = x.Plain()
		}
		return out
	case Map:
		out := make(map[string]any, len(v.Map))
		for _, e := range v.Map {
			out[e.Key] = e.Value.Plain()
		}
		return out
	}
	return nil
}

// TypeName describes the value for error messages.
func (v *Value) TypeName() string {
	if v == nil {
		return "nothing"
	}
	if v.Kind == Scalar {
		switch v.Tag {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return v.Kind.String()
}

// Limits bound what a hostile file can make the loader do.
const (
	MaxFileSize   = 16 << 20 // bytes
	maxDepth      = 64       // nesting of maps and lists
	maxNodes      = 2_000_000
	maxAliasNodes = 10_000 // nodes reachable through aliases, in all
)

// converter turns yaml.Node trees into Values with limits and duplicate-key
// checks, collecting errors.
type converter struct {
	src        *Source
	errs       *ErrorList
	nodes      int
	aliasNodes int
	inAlias    int
	tooBig     bool
}

func (c *converter) errorf(pos Pos, format string, args ...any) {
	*c.errs = append(*c.errs, c.src.Errorf(pos, "", format, args...))
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func (c *converter) convert(n *yaml.Node, depth int) *Value {
	if c.tooBig {
		return nil
	}
	c.nodes++
	if c.inAlias > 0 {
		c.aliasNodes++
	}
	if c.nodes > maxNodes || c.aliasNodes > maxAliasNodes {
		c.tooBig = true
		c.errorf(nodePos(n), "document is too large: aliases or nesting expand to more than %d values", maxAliasNodes)
		return nil
	}
	if depth > maxDepth {
		c.tooBig = true
		c.errorf(nodePos(n), "document nests deeper than %d levels", maxDepth)
		return nil
	}
	v := &Value{Pos: nodePos(n)}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return c.convert(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil
		}
		c.inAlias++
		defer func() { c.inAlias-- }()
		a := c.convert(n.Alias, depth+1)
		if a == nil {
			return nil
		}
		cp := *a
		cp.Pos = v.Pos
		return &cp
	case yaml.ScalarNode:
		v.Kind = Scalar
		v.Str = n.Value
		v.Tag = n.ShortTag()
		switch {
		case n.Style&yaml.LiteralStyle != 0:
			v.Style = Literal
		case n.Style&yaml.FoldedStyle != 0:
			v.Style = Folded
		case n.Style&yaml.SingleQuotedStyle != 0:
			v.Style = SingleQuoted
		case n.Style&yaml.DoubleQuotedStyle != 0:
			v.Style = DoubleQuoted
		}
		if v.Tag == "!!null" {
			v.Kind = Null
		}
		if v.Tag != "!!str" && v.Tag != "!!int" && v.Tag != "!!float" && v.Tag != "!!bool" && v.Tag != "!!null" {
			c.errorf(v.Pos, "unsupported YAML tag %s (write the value as a plain string)", v.Tag)
			v.Tag = "!!str"
		}
	case yaml.SequenceNode:
		v.Kind = List
		for _, x := range n.Content {
			if e := c.convert(x, depth+1); e != nil {
				v.List = append(v.List, e)
			} else if c.tooBig {
				return nil
			} else {
				v.List = append(v.List, &Value{Kind: Null, Tag: "!!null", Pos: nodePos(x)})
			}
		}
	case yaml.MappingNode:
		v.Kind = Map
		seen := map[string]Pos{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				c.errorf(nodePos(k), "merge keys (<<) are not supported; write the keys out")
				continue
			}
			if k.Kind != yaml.ScalarNode {
				c.errorf(nodePos(k), "map keys must be plain strings")
				continue
			}
			if first, dup := seen[k.Value]; dup {
				c.errorf(nodePos(k), "duplicate key %q (first at line %d)", k.Value, first.Line)
				continue
			}
			seen[k.Value] = nodePos(k)
			e := c.convert(val, depth+1)
			if c.tooBig {
				return nil
			}
			if e == nil {
				e = &Value{Kind: Null, Tag: "!!null", Pos: nodePos(val)}
			}
			v.Map = append(v.Map, &Entry{Key: k.Value, KeyPos: nodePos(k), Value: e})
		}
	default:
		c.errorf(v.Pos, "unsupported YAML node")
		return nil
	}
	return v
}

// parseYAML parses text into a Value tree. It rejects multiple documents and
// converts the YAML library's errors into positioned ones.
func parseYAML(src *Source, text []byte) (*Value, ErrorList) {
	var errs ErrorList
	if len(text) > MaxFileSize {
		errs = append(errs, &Error{File: src.File, Msg: fmt.Sprintf("file is %d bytes; procedures are limited to %d", len(text), MaxFileSize)})
		return nil, errs
	}
	if i := strings.IndexByte(string(text), 0); i >= 0 {
		line := strings.Count(string(text[:i]), "\n") + 1
		errs = append(errs, src.Errorf(Pos{Line: line, Col: 1}, "", "file contains a NUL byte: not a text file"))
		return nil, errs
	}
	dec := yaml.NewDecoder(strings.NewReader(string(text)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			errs = append(errs, &Error{File: src.File, Msg: "file is empty"})
			return nil, errs
		}
		errs = append(errs, yamlError(src, err))
		return nil, errs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs = append(errs, src.Errorf(nodePos(&extra), "", "more than one YAML document in the file (remove the '---' separator)"))
		return nil, errs
	} else if err.Error() != "EOF" {
		errs = append(errs, yamlError(src, err))
		return nil, errs
	}
	c := &converter{src: src, errs: &errs}
	v := c.convert(&doc, 0)
	if c.tooBig {
		return nil, errs
	}
	return v, errs
}

// yamlError turns "yaml: line N: msg" into a positioned error.
func yamlError(src *Source, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ": "); i > 0 {
			if n, perr := strconv.Atoi(rest[:i]); perr == nil {
				line = n
				msg = rest[i+2:]
			}
		}
	}
	e := &Error{File: src.File, Msg: "YAML syntax: " + msg}
	if line > 0 {
		e.Pos = Pos{Line: line, Col: 1}
		e.Snippet = src.Line(line)
		if t := src.Line(line); t != "" {
			e.Pos.Col = len(t) - len(strings.TrimLeft(t, " ")) + 1
		}
	}
	return e
}

// Locate maps a byte offset inside a scalar's text onto the file, so that an
// error inside an expression points at its column in the YAML line.
func (s *Source) Locate(v *Value, offset int) Pos {
	if v == nil {
		return Pos{}
	}
	if offset < 0 || offset > len(v.Str) {
		offset = 0
	}
	switch v.Style {
	case Literal, Folded:
		// Block scalars start on the line after the indicator, at a uniform
		// indentation.
		before := v.Str[:offset]
		k := strings.Count(before, "\n")
		line := v.Pos.Line + 1 + k
		text := s.Line(line)
		indent := len(text) - len(strings.TrimLeft(text, " "))
		col := offset - (strings.LastIndexByte(before, '\n') + 1)
		return Pos{Line: line, Col: indent + col + 1}
	case SingleQuoted, DoubleQuoted:
		return Pos{Line: v.Pos.Line, Col: v.Pos.Col + 1 + runeCount(v.Str[:offset])}
	}
	if i := strings.IndexByte(v.Str[:offset], '\n'); i >= 0 {
		return v.Pos // folded plain scalar: the start is the best we know
	}
	return Pos{Line: v.Pos.Line, Col: v.Pos.Col + runeCount(v.Str[:offset])}
}

func runeCount(s string) int { return len([]rune(s)) }
