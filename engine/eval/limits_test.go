package eval

import (
	"strings"
	"testing"
)

// A hostile expression is refused at the place it goes over a limit, before
// a parser recurses into it: a megabyte of nested brackets used to overflow
// the Go stack of rbflow validate after taking about 1 GB.
func TestExpressionLimits(t *testing.T) {
	c := NewCompiler(Decl{})
	deep := func(n int) string { return strings.Repeat("(", n) + "true" + strings.Repeat(")", n) }
	for _, tt := range []struct {
		src    string
		offset int
		msg    string
	}{
		{deep(maxExprDepth + 1), maxExprDepth, "nests brackets more than 64 deep"},
		{strings.Repeat("[", 1<<20), maxExprBytes, "over the limit of 64 KiB"},
		{strings.Repeat("[", 60000), maxExprDepth, "nests brackets more than 64 deep"},
		{"'" + strings.Repeat("(", 100) + "' == ''", -1, ""}, // brackets in a string are text
		{deep(maxExprDepth), -1, ""},
		{strings.Repeat("x", maxExprBytes+1), maxExprBytes, "over the limit of 64 KiB"},
	} {
		_, err := c.Condition(tt.src)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("Condition(%.20q...) = %v, want it compiled", tt.src, err)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok || e.Offset != tt.offset || !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("Condition(%.20q... %d bytes) = %v, want %q at offset %d", tt.src, len(tt.src), err, tt.msg, tt.offset)
		}
	}
	if _, err := c.Template("x ${{ " + deep(200) + " }} y"); err == nil || !strings.Contains(err.Error(), "64 deep") {
		t.Errorf("Template with a deep expression = %v, want the nesting refused", err)
	}
}
