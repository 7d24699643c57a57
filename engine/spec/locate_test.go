package spec

import (
	"strings"
	"testing"
)

// TestLocate writes a marker (@@) inside scalars of every style and checks
// that Locate maps its offset in the decoded text back to where it is
// written in the file.
func TestLocate(t *testing.T) {
	tests := []string{
		"v: a b @@",
		"v: 'it''s @@'",
		`v: "tab\t quote\" nl\n \u00e9 \x41 @@"`,
		"v: \"é ü @@\"",
		"v: héllo wörld @@",
		"v: plain\n  folded\n\n  @@",
		"v: 'single\n  folded @@'",
		"v: \"double \\\n   continued @@\"",
		"v: \"double\n\n   blank @@\"",
		"v: |\n  one\n    more indented @@\n  back",
		"v: |\n\n  blank first\n  @@",
		"v: |-\n  strip\n  @@",
		"v: >\n  folded\n  text\n\n  @@ after a blank",
		"v: >\n  folded\n    more indented\n  @@",
		"v: [a, \"x @@\"]",
		"v: {k: 'y @@'}",
		"v:\n  - |\n    deep\n    @@",
		"v: a  \n  b   @@",
	}
	for _, text := range tests {
		src := NewSource("t.yaml", []byte(text))
		root, errs := parseYAML(src, []byte(text))
		if len(errs) > 0 {
			t.Fatalf("parse %q: %v", text, errs)
		}
		v := find(root)
		if v == nil {
			t.Fatalf("no scalar with @@ in %q", text)
		}
		off := strings.Index(v.Str, "@@")
		want := markerPos(text)
		if got := src.Locate(v, off); got != want {
			t.Errorf("Locate(%q, %d) = %d:%d, want %d:%d (scalar %q)", text, off, got.Line, got.Col, want.Line, want.Col, v.Str)
		}
	}
}

func find(v *Value) *Value {
	switch v.Kind {
	case Scalar:
		if strings.Contains(v.Str, "@@") {
			return v
		}
	case List:
		for _, x := range v.List {
			if f := find(x); f != nil {
				return f
			}
		}
	case Map:
		for _, e := range v.Map {
			if f := find(e.Value); f != nil {
				return f
			}
		}
	}
	return nil
}

func markerPos(text string) Pos {
	i := strings.Index(text, "@@")
	line := strings.Count(text[:i], "\n") + 1
	start := strings.LastIndexByte(text[:i], '\n') + 1
	return Pos{Line: line, Col: len([]rune(text[start:i])) + 1}
}

// TestLocateEnd: an error at the very end of an expression (an unfinished
// one) stays on its line.
func TestLocateEnd(t *testing.T) {
	text := "v: a ==\nw: x\n"
	src := NewSource("t.yaml", []byte(text))
	root, _ := parseYAML(src, []byte(text))
	v := root.Get("v")
	if got, want := src.Locate(v, len(v.Str)), (Pos{Line: 1, Col: 8}); got != want {
		t.Errorf("Locate(end) = %v, want %v", got, want)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"needs", "env", "dir", "continue_on_error", "run", "timeout", "retry", "if", "with"}
	tests := []struct{ in, want string }{
		{"continue-on-error", "continue_on_error"},
		{"Continue_On_Error", "continue_on_error"},
		{"need", "needs"},
		{"rnu", "run"},
		{"enviroment", "env"},
		{"environment", "env"},
		{"working-directory", "dir"},
		{"depends_on", "needs"},
		{"timout", "timeout"},
		{"zzz", ""},
		{"owner", ""},
		{strings.Repeat("x", 1<<20), ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.in, keys); got != tt.want {
			t.Errorf("Suggest(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorSnippet(t *testing.T) {
	long := strings.Repeat("a", 300) + "X" + strings.Repeat("b", 300)
	e := &Error{File: "f", Pos: Pos{Line: 1, Col: 301}, Msg: "m", Snippet: long}
	lines := strings.Split(e.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("Error() = %q, want 3 lines", e.Error())
	}
	caret := strings.IndexRune(lines[2], '^')
	if got := []rune(lines[1])[len([]rune(lines[2][:caret]))]; got != 'X' {
		t.Errorf("caret is under %q, want under X:\n%s", got, e.Error())
	}
	if n := len([]rune(lines[1])); n > 120 {
		t.Errorf("snippet is %d runes, want it cut", n)
	}
	e = &Error{File: "f", Pos: Pos{Line: 1, Col: 3}, Msg: "m", Snippet: "a\x1b[31mb\x00"}
	if strings.ContainsAny(e.Error(), "\x1b\x00") {
		t.Errorf("Error() passes control characters through: %q", e.Error())
	}
}
