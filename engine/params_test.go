package engine_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

func TestResolveParams(t *testing.T) {
	p, err := spec.Load("p.yaml", []byte(`version: 1
name: p
params:
  sprint: {type: int, required: true}
  files: {type: list}
  dry: {type: bool, default: false}
  level: {type: string, default: low, enum: [low, high]}
steps:
  - {id: a, run: "true"}
`), []string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sets []string
		want string // error text, or the resolved values
	}{
		{[]string{"sprint=3", "files=a.py", "files=b c.py", "dry=yes"}, "map[dry:true files:[a.py b c.py] level:low sprint:3]"},
		{[]string{"sprint=3", `files=[x.py, "y z.py"]`}, "map[dry:false files:[x.py y z.py] level:low sprint:3]"},
		{nil, "param sprint: required: pass --set sprint=VALUE"},
		{[]string{"sprint=three"}, `param sprint: want an integer, got "three"`}, // not also "required"
		{[]string{"sprint=1", "level=urgent"}, `param level: "urgent" is not one of low, high`},
		{[]string{"sprint=1", "sprnt=2"}, `param sprnt: unknown param (did you mean "sprint"?)`},
		{[]string{"sprint"}, "param sprint: --set takes NAME=VALUE"},
		// A --set without a name may have been meant for the required
		// param: only it is reported.
		{[]string{"=x"}, "--set =x: the param name is missing: --set takes NAME=VALUE (p takes sprint, files, dry, level)"},
		{[]string{"files=a", "=3"}, "--set =3: the param name is missing"},
		{[]string{"3"}, "param 3: --set takes NAME=VALUE"},
		{[]string{"sprnt=3"}, `param sprnt: unknown param (did you mean "sprint"?); p takes sprint, files, dry, level`},
		{[]string{"files=a"}, "param sprint: required: pass --set sprint=VALUE"},
	}
	for _, tt := range tests {
		got, err := engine.ResolveParams(p, engine.ParamInput{Sets: tt.sets})
		text := ""
		if err != nil {
			text = err.Error()
		} else {
			text = fmtMap(got)
		}
		if !strings.HasPrefix(text, tt.want) || err != nil && strings.Contains(text, "\n") {
			t.Errorf("ResolveParams(%q) = %s, want %s", tt.sets, text, tt.want)
		}
	}
}

func fmtMap(m map[string]any) string { return fmt.Sprint(m) }

// TestResolveParamsRequiredBesideUnknown: an unknown name that is close to
// no param is a problem of its own; the required param missing is still
// reported with it.
func TestResolveParamsRequiredBesideUnknown(t *testing.T) {
	p, err := spec.Load("p.yaml", []byte("version: 1\nname: p\nparams:\n  sprint: {type: int, required: true}\nsteps:\n  - {id: a, run: \"true\"}\n"), []string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.ResolveParams(p, engine.ParamInput{Sets: []string{"nope=1"}})
	want := "param nope: unknown param; p takes sprint\nparam sprint: required: pass --set sprint=VALUE"
	if err == nil || err.Error() != want {
		t.Errorf("ResolveParams(nope=1) = %v, want %q", err, want)
	}
}

// NUL and control characters are refused when params are given, with the
// param named; a string may hold tabs and newlines, a list item is one line.
func TestParamsRefuseControlCharacters(t *testing.T) {
	p, err := spec.Load("p.yaml", []byte("version: 1\nname: p\nparams:\n  note: {type: string}\n  files: {type: list}\nsteps:\n  - {id: a, run: \"true\"}\n"), []string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in   engine.ParamInput
		want string
	}{
		{engine.ParamInput{Sets: []string{"note=a\x00b"}}, "param note: value holds a NUL byte at byte 1"},
		{engine.ParamInput{Sets: []string{"note=red\x1b[31m"}}, `param note: value holds a control character '\x1b' at byte 3`},
		{engine.ParamInput{Sets: []string{"note=line\r"}}, `param note: value holds a control character '\r'`},
		{engine.ParamInput{Sets: []string{"files=a.py\nrm -rf ~"}}, "param files: value holds a newline at byte 4"},
		{engine.ParamInput{Given: map[string]any{"files": []any{"ok", "b\x00"}}}, "param files: value holds a NUL byte"},
		{engine.ParamInput{Sets: []string{"note=two\nlines\tand a tab", "files=a\tb"}}, ""},
	} {
		got, err := engine.ResolveParams(p, tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ResolveParams(%+v) = %v, want it taken", tt.in, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("ResolveParams(%+v) = %v, %v; want %q", tt.in, got, err, tt.want)
		case tt.want != "":
			var pe *engine.ParamError
			if !errors.As(err, &pe) {
				t.Errorf("ResolveParams(%+v) = %T, want a *ParamError (exit 2)", tt.in, err)
			}
		}
	}
}
