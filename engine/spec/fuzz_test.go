package spec_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps"
)

// FuzzLoad loads arbitrary bytes as a procedure and compiles whatever loads.
// Nothing may panic; a load without error gives a procedure; every error
// names the file and a position inside it.
//
// It lives in spec_test so that it can run engine.Compile too (engine
// imports spec).
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../testdata/invalid/*.yaml", "../testdata/valid/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\nname: a\nsteps:\n  - id: a\n    run: echo ${{ params.x }}\n    if: steps.a.status == 'x'\n"))
	reg := engine.NewRegistry()
	steps.Register(reg)
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := spec.Load("f.yaml", text, reg.Keys())
		if err != nil {
			checkErrors(t, text, err)
			return
		}
		if p == nil {
			t.Fatalf("Load(%q) = nil, nil", text)
		}
		plan, err := engine.Compile(p, reg)
		if err != nil {
			checkErrors(t, text, err)
			return
		}
		if plan == nil || len(plan.Main) == 0 {
			t.Fatalf("Compile(%q) gave a plan without steps", text)
		}
		for _, s := range plan.Steps() {
			if got, ok := plan.Step(s.ID); !ok || got != s {
				t.Fatalf("Compile(%q): Step(%q) does not find the step", text, s.ID)
			}
		}
	})
}

// lineBreak matches what YAML counts as a line break.
var lineBreak = regexp.MustCompile("\r\n|[\r\n\u0085\u2028\u2029]")

func checkErrors(t *testing.T, text []byte, err error) {
	t.Helper()
	list, ok := err.(spec.ErrorList)
	if !ok || len(list) == 0 {
		t.Fatalf("Load(%q) error is %T %v, want a non-empty spec.ErrorList", text, err, err)
	}
	lines := len(lineBreak.FindAllIndex(text, -1)) + 1
	for _, e := range list {
		if e.File != "f.yaml" {
			t.Fatalf("Load(%q): error names file %q", text, e.File)
		}
		if e.Pos.Line < 0 || e.Pos.Line > lines || e.Pos.Line > 0 && e.Pos.Col < 1 {
			t.Fatalf("Load(%q): error at %d:%d is outside the file (%d lines): %v", text, e.Pos.Line, e.Pos.Col, lines, e)
		}
		_ = e.Error()
	}
}
