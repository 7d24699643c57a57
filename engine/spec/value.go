package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

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
	aliasPos   Pos // the outermost alias being expanded
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
	if c.aliasNodes > maxAliasNodes {
		c.tooBig = true
		c.errorf(c.aliasPos, "aliases expand to more than %d values: write the values out instead", maxAliasNodes)
		return nil
	}
	if c.nodes > maxNodes {
		c.tooBig = true
		c.errorf(nodePos(n), "document is too large: more than %d values", maxNodes)
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
		if c.inAlias == 0 {
			c.aliasPos = v.Pos
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

// Parse reads YAML text into a Value tree with the limits and checks every
// procedure file gets: one document, UTF-8, no custom tags, merge keys or
// duplicate keys, bounded aliases and nesting. The tree is what could be
// read (nil when the text is not YAML at all); the errors are positioned.
// Load decodes a procedure from such a tree; tools that look at a file as
// plain data (a JSON Schema check, say) start here.
func Parse(file string, text []byte) (*Value, ErrorList) {
	return parseYAML(NewSource(file, text), text)
}

// parseYAML parses text into a Value tree. It rejects multiple documents and
// converts the YAML library's errors into positioned ones.
func parseYAML(src *Source, text []byte) (*Value, ErrorList) {
	var errs ErrorList
	if len(text) > MaxFileSize {
		errs = append(errs, &Error{File: src.File, Msg: fmt.Sprintf("file is %d bytes, over the limit of %d MiB for a procedure", len(text), MaxFileSize>>20)})
		return nil, errs
	}
	if e := notText(src, text); e != nil {
		return nil, append(errs, e)
	}
	doc, extra, err := decodeYAML(text)
	if err != nil {
		return nil, append(errs, yamlError(src, text, err))
	}
	if doc == nil {
		return nil, append(errs, &Error{File: src.File, Msg: "file is empty"})
	}
	if extra != nil {
		errs = append(errs, src.Errorf(nodePos(extra), "", "more than one YAML document in the file (remove the '---' separator)"))
		return nil, errs
	}
	c := &converter{src: src, errs: &errs}
	v := c.convert(doc, 0)
	if c.tooBig {
		return nil, errs
	}
	return v, errs
}

// notText rejects what is not UTF-8 text before the YAML library sees it,
// with the position of the first offending byte.
func notText(src *Source, text []byte) *Error {
	if bytes.HasPrefix(text, []byte{0xff, 0xfe}) || bytes.HasPrefix(text, []byte{0xfe, 0xff}) {
		return &Error{File: src.File, Msg: "file is UTF-16 text: save it as UTF-8"}
	}
	bad := bytes.IndexByte(text, 0)
	msg := "file contains a NUL byte: not a text file"
	if !utf8.Valid(text) {
		for i := 0; i < len(text) && (bad < 0 || i < bad); {
			r, w := utf8.DecodeRune(text[i:])
			if r == utf8.RuneError && w == 1 {
				bad = i
				msg = fmt.Sprintf("file is not UTF-8 text (byte 0x%02x)", text[i])
				break
			}
			i += w
		}
	}
	if bad < 0 {
		return nil
	}
	return src.Errorf(src.posAt(bad), "", "%s", msg)
}

// decodeYAML decodes the first document of text and reports whether a
// second one follows. doc is nil for a file without content.
func decodeYAML(text []byte) (doc, extra *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var d yaml.Node
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var x yaml.Node
	if err := dec.Decode(&x); err == nil {
		return &d, &x, nil
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	return &d, nil, nil
}

// maxLocate bounds the files whose syntax errors are located exactly: it
// costs about twenty parses of the file (a quarter of a second at this
// size, thousands of steps). Larger files get the line the YAML library
// names.
const maxLocate = 128 << 10

// yamlError turns "yaml: line N: msg" into a positioned error.
//
// The YAML library names the line where the enclosing construct began (a
// block of steps, a quoted string), not where the problem is, and no column.
// For a file of ordinary size the problem is found by bisection instead: the
// shortest prefix of the file that fails with the very same error ends at
// the character that breaks it.
func yamlError(src *Source, text []byte, err error) *Error {
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
	var pos Pos
	if line > 0 {
		t := src.Line(line)
		pos = Pos{Line: line, Col: utf8.RuneCountInString(t) - utf8.RuneCountInString(strings.TrimLeft(t, " ")) + 1}
	}
	located := false
	if len(text) <= maxLocate {
		want := err.Error()
		lo, hi := 0, len(text) // text[:lo] does not fail so, text[:hi] does
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if _, _, e := decodeYAML(text[:mid]); e != nil && e.Error() == want {
				hi = mid
			} else {
				lo = mid
			}
		}
		if hi > 0 {
			_, w := utf8.DecodeLastRune(text[:hi])
			pos, located = src.posAt(hi-w), true
		}
	}
	var at rune // the character at pos
	if t := []rune(src.Line(pos.Line)); pos.Line > 0 && pos.Col-1 < len(t) {
		at = t[pos.Col-1]
	}
	switch {
	case at == '\t':
		msg = "a tab character: YAML indents with spaces, not tabs"
	case strings.Contains(msg, "end of stream") && (at == '"' || at == '\''):
		msg = fmt.Sprintf("the quote %c here is never closed", at)
	case strings.HasPrefix(msg, "could not find expected ':'"):
		msg += " (a key must be followed by ': ' on the same line, and be at most 1024 characters)"
	case strings.HasPrefix(msg, "exceeded max depth"):
		msg = fmt.Sprintf("document nests deeper than %d levels", maxDepth)
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		msg += " (a value that holds ': ' must be quoted)"
	case !located:
		if pos.Line > 0 {
			msg += " (at or after this line; the file is too large to say where exactly)"
		}
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-' indicator"):
		msg += " (check the indentation of this line)"
	}
	e := &Error{File: src.File, Pos: pos, Msg: "YAML syntax: " + msg}
	e.Snippet = src.Line(pos.Line)
	return e
}

// Locate maps a byte offset inside a scalar's text onto the file, so that an
// error inside an expression points at its column in the YAML line.
//
// It walks the scalar's source and its decoded text side by side: escapes
// (\" in double quotes, a doubled quote in single quotes), folded line breaks, the
// indentation of block scalars and blank lines all make the two differ.
func (s *Source) Locate(v *Value, offset int) Pos {
	if v == nil {
		return Pos{}
	}
	if offset < 0 || offset > len(v.Str) {
		offset = 0
	}
	w := &walker{src: s, style: v.Style, line: v.Pos.Line}
	switch v.Style {
	case Literal, Folded:
		// The content starts on the line after the indicator, indented as
		// its first non-blank line.
		w.line, w.block = v.Pos.Line+1, true
		w.indent = -1
		for l := w.line; l <= len(s.lines); l++ {
			if t := s.Line(l); strings.TrimSpace(t) != "" {
				w.indent = len(t) - len(strings.TrimLeft(t, " "))
				break
			}
		}
		if w.indent < 0 {
			return v.Pos
		}
		w.col = min(w.indent, len(s.Line(w.line)))
	case SingleQuoted, DoubleQuoted:
		w.col = byteCol(s.Line(v.Pos.Line), v.Pos.Col) + 1 // after the quote
	default:
		w.col = byteCol(s.Line(v.Pos.Line), v.Pos.Col)
	}
	if pos, ok := w.walk(v.Str[:offset], offset < len(v.Str)); ok {
		return pos
	}
	return v.Pos
}

// walker is a cursor in a scalar's source: line (1-based) and byte column
// (0-based) in that line.
type walker struct {
	src    *Source
	style  Style
	block  bool
	indent int
	line   int
	col    int
}

// walk advances over the source of text and returns where the next
// character of the scalar is written (more: there is one), or where text
// ends. It fails when the source does not
// match the text, which would be a bug; the caller then falls back to the
// scalar's start.
func (w *walker) walk(text string, more bool) (Pos, bool) {
	src := w.src.Line(w.line)
	for i := 0; i < len(text); {
		if w.line > len(w.src.lines) {
			return Pos{}, false
		}
		if w.col >= len(src) {
			// A line break in the source: kept ('\n') or folded (' ') in
			// the text, or dropped (a blank line folded into '\n').
			if text[i] == '\n' || text[i] == ' ' {
				i++
			}
			src = w.next()
			continue
		}
		c, f := text[i], src[w.col]
		switch {
		case w.style == DoubleQuoted && f == '\\':
			if w.col+1 >= len(src) { // an escaped line break: no text
				src = w.next()
				continue
			}
			w.col += escapeLen(src[w.col+1])
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
		case w.style == SingleQuoted && f == '\'' && w.col+1 < len(src) && src[w.col+1] == '\'':
			w.col += 2
			i++
		case c == f:
			w.col++
			i++
		case f == ' ' || f == '\t':
			w.col++ // whitespace that folding removed
		default:
			return Pos{}, false
		}
	}
	// Land on a character: past the end of a line means the next line.
	for more && w.col >= len(src) && w.line < len(w.src.lines) {
		src = w.next()
	}
	return Pos{Line: w.line, Col: utf8.RuneCountInString(src[:min(w.col, len(src))]) + 1}, true
}

// next moves to the start of the scalar's text on the next line.
func (w *walker) next() string {
	w.line++
	src := w.src.Line(w.line)
	if w.block {
		w.col = min(w.indent, len(src))
	} else {
		w.col = len(src) - len(strings.TrimLeft(src, " \t"))
	}
	return src
}

// escapeLen is the length of a double-quoted escape starting with \c.
func escapeLen(c byte) int {
	switch c {
	case 'x':
		return 4
	case 'u':
		return 6
	case 'U':
		return 10
	}
	return 2
}

// byteCol is the byte offset of rune column col (1-based) in line.
func byteCol(line string, col int) int {
	n := 1
	for i := range line {
		if n == col {
			return i
		}
		n++
	}
	return len(line)
}
