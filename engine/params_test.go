package engine_test

import (
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
