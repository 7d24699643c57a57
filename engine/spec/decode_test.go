package spec

import (
	"strings"
	"testing"
)

// TestOtherToolsKeys: keys people bring from GitHub Actions get an error
// that says what rbflow has instead, at the key: inputs: and on: at the
// top, and a step's with: argument written beside with:.
func TestOtherToolsKeys(t *testing.T) {
	dc := &Decoder{Kinds: []string{"run", "prompt", "git"}, Args: func(kind, action string) []string {
		switch {
		case kind == "prompt" && action == "":
			return []string{"type", "choices", "default"}
		case kind == "git" && action == "reset":
			return []string{"mode", "to"}
		}
		return nil
	}}
	tests := []struct {
		text string
		pos  Pos
		want string
	}{
		{"on: push\nsteps:\n  - {id: a, run: x}",
			Pos{1, 1}, `unknown key "on" in the procedure: rbflow has no triggers: a procedure runs when it is started (rbflow run FILE`},
		{"on:\n  workflow_dispatch: {}\nsteps:\n  - {id: a, run: x}",
			Pos{1, 1}, `unknown key "on" in the procedure: rbflow has no triggers`},
		{"inputs:\n  n: {type: int}\nsteps:\n  - {id: a, run: x}",
			Pos{1, 1}, `unknown key "inputs" in the procedure (did you mean "params"?): a procedure's inputs are its params, given as rbflow run FILE --set NAME=VALUE`},
		{"params:\n  l: {type: string, options: [a, b]}\nsteps:\n  - {id: a, run: x}",
			Pos{2, 21}, `unknown key "options" in param "l" (did you mean "enum"?)`},
		{"steps:\n  - id: a\n    prompt: Go on?\n    type: confirm",
			Pos{4, 5}, `unknown key "type" in a step: type is an argument of prompt steps and belongs under with: (with: {type: confirm})`},
		{"steps:\n  - id: a\n    type: choice\n    prompt: Which?\n    with: {choices: [a, b]}",
			Pos{3, 5}, `type is an argument of prompt steps and belongs under with: (with: {type: choice})`},
		{"steps:\n  - id: a\n    git: reset\n    mode: hard",
			Pos{4, 5}, `unknown key "mode" in a step: mode is an argument of git: reset and belongs under with: (with: {mode: hard})`},
		{"steps:\n  - id: a\n    git: reset\n    to: \"${{ params.x }}\"",
			Pos{4, 5}, `to is an argument of git: reset and belongs under with: (with: {to: ...})`},
		{"steps:\n  - id: a\n    run: x\n    type: confirm",
			Pos{4, 5}, `unknown key "type" in a step`},
		{"steps:\n  - id: a\n    run: x\n    inputs: {a: 1}",
			Pos{4, 5}, `unknown key "inputs" in a step (did you mean "with"?)`},
	}
	for _, tt := range tests {
		text := "version: 1\nname: p\n" + tt.text + "\n"
		_, errs := dc.Decode("p.yaml", []byte(text))
		found := false
		for _, e := range errs {
			want := tt.pos
			want.Line += 2
			if e.Pos == want && strings.Contains(e.Msg, tt.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("Decode(%q) = %v\nwant at %d:%d: %s", tt.text, errs, tt.pos.Line+2, tt.pos.Col, tt.want)
		}
		if len(errs) != 1 {
			t.Errorf("Decode(%q) = %d errors, want 1: %v", tt.text, len(errs), errs)
		}
	}
	// Without Args (a decoder that knows only the action keys) the key is
	// reported plainly.
	_, errs := Decode("p.yaml", []byte("version: 1\nname: p\nsteps:\n  - id: a\n    prompt: Go on?\n    type: confirm\n"), []string{"prompt"})
	if len(errs) != 1 || errs[0].Msg != `unknown key "type" in a step` {
		t.Errorf("Decode without Args = %v, want unknown key \"type\" in a step", errs)
	}
}
