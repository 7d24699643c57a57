package engine_test

import (
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

// A procedure whose if: is a megabyte of nested brackets loads to a
// positioned error: no stack overflow, nothing close to a gigabyte used.
func TestHostileExpressionLoads(t *testing.T) {
	text := "version: 1\nname: p\nsteps:\n  - id: a\n    if: " + strings.Repeat("(", 1<<20) + "\n    run: echo\n"
	reg := engine.NewRegistry()
	reg.Register("run", &recordingKind{})
	_, err := engine.Load("p.yaml", []byte(text), reg)
	list, ok := err.(spec.ErrorList)
	if !ok || len(list) != 1 || list[0].Pos.Line != 5 || !strings.Contains(list[0].Msg, "over the limit of 64 KiB") {
		t.Fatalf("Load = %v, want one error at line 5: the expression is over the limit", err)
	}
	text = "version: 1\nname: p\nsteps:\n  - id: a\n    if: " + strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100) + "\n    run: echo\n"
	_, err = engine.Load("p.yaml", []byte(text), reg)
	if list, ok := err.(spec.ErrorList); !ok || list[0].Pos.Line != 5 || list[0].Pos.Col != 9+64 || !strings.Contains(list[0].Msg, "64 deep") {
		t.Fatalf("Load = %v, want the 65th bracket (5:73) named", err)
	}
}
