package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

func TestCall(t *testing.T) {
	h := newHarness(t)
	child := `version: 1
name: child
params:
  who: {type: string, required: true}
  fail: {type: bool, default: false}
steps:
  - id: build
    run: echo "version=1.${{ params.who }}" >> "$RBFLOW_OUTPUT"
  - id: boom
    if: params.fail
    run: echo exploding; exit 7
`
	if err := os.WriteFile(filepath.Join(h.repo, "child.yaml"), []byte(child), 0o644); err != nil {
		t.Fatal(err)
	}
	// Run from elsewhere: the relative path resolves next to the caller.
	t.Chdir(t.TempDir())
	run, recs, err := h.run("parent", `version: 1
name: parent
params:
  name: {type: string, default: x}
steps:
  - id: sub
    call: child.yaml
    with: {params: {who: "${{ params.name }}"}}
  - id: use
    run: test "${{ steps.sub.outputs.build.version }}" = 1.x
`)
	mustSucceed(t, recs, err)
	out := recs["sub"].Outputs
	if out["status"] != "succeeded" {
		t.Errorf("call outputs = %v, want status succeeded", out)
	}
	childID, _ := out["run_id"].(string)
	cr, err := h.st.Run(context.Background(), childID)
	if err != nil {
		t.Fatalf("child run %q: %v", childID, err)
	}
	if cr.ParentRun != run.ID || cr.ParentStep != "sub" || cr.Procedure != "child" || cr.Params["who"] != "x" {
		t.Errorf("child run = %+v, want a child of %s/sub with who=x", cr, run.ID)
	}

	// Run again on purpose, the step starts a new child.
	if _, err := h.runner().Retry(context.Background(), run.ID, engine.ResumeOptions{From: "sub"}); err != nil {
		t.Fatalf("retry --from sub: %v", err)
	}
	if again := h.steps(run.ID)["sub"].Outputs["run_id"]; again == childID || again == "" {
		t.Errorf("retry --from sub: child run %v, want a new one (not %s)", again, childID)
	}

	_, recs, err = h.run("parent", `version: 1
name: parent
steps:
  - id: sub
    call: child.yaml
    with: {params: {who: y, fail: true}}
`)
	if err == nil {
		t.Fatal("the parent succeeded although its child failed")
	}
	rec := recs["sub"]
	if rec.Status != engine.StepFailed || !strings.Contains(rec.Error, "called procedure child failed at step boom") || !strings.Contains(rec.Error, "exit status 7") {
		t.Errorf("call step = %s %q, want failed naming the child's step boom", rec.Status, rec.Error)
	}
	if rec.Outputs["status"] != "failed" {
		t.Errorf("outputs = %v, want status failed", rec.Outputs)
	}

	// A param the child does not declare is an error when the parent loads.
	text := "version: 1\nname: parent\nsteps:\n  - id: sub\n    call: child.yaml\n    with: {params: {whom: y}}\n"
	path := filepath.Join(h.repo, "parent.yaml")
	_, err = h.runner().Loader.Load(engine.Source{Path: path, Text: []byte(text)})
	want := path + `:6:21: step "sub": unknown param "whom" (did you mean "who"?): child takes who, fail`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load(bad child param) = %v, want %s", err, want)
	}
}

// TestCallLoadErrors: with the real call kind and the procedures resolver,
// what a literal target names is checked when the caller loads.
func TestCallLoadErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		call string // the step's call: and with:
		want string // "line:col: message"; "" when it loads
	}{
		{"call: sprint\n    with: {params: {sprint: 3}}", ""},
		{"call: builtin:selective\n    with: {params: {files: [a.py]}}", ""},
		{"call: ${{ 'sprint' }}", ""}, // resolved when the step starts
		{"call: sprnt", `5:11: step "s": cannot call "sprnt": "sprnt" is not a file or a built-in procedure (did you mean "sprint"?)`},
		{"call: ./nope.yaml", `5:11: step "s": cannot call "./nope.yaml": read procedure: open ./nope.yaml: no such file or directory`},
		{"call: sprint", `5:11: step "s": sprint requires param sprint (it has no default): give it in with.params`},
		{"call: sprint\n    with: {params: {sprint: three}}", `6:29: step "s": param sprint of sprint: want an integer, got "three"`},
		{"call: sprint\n    with: {params: {sprint: 3, baseline: main, sprnt: 4}}", `6:48: step "s": unknown param "sprnt" (did you mean "sprint"?): sprint takes`},
		{"call: p.yaml", `5:11: step "s": call cycle: ` + filepath.Join(h.repo, "p.yaml") + ` calls itself`},
	}
	for _, tt := range tests {
		path := filepath.Join(h.repo, "p.yaml")
		text := "version: 1\nname: p\nsteps:\n  - id: s\n    " + tt.call + "\n"
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := h.runner().Loader.Load(engine.Source{Path: path, Text: []byte(text)})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Load(%q) = %v, want a plan", tt.call, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), path+":"+tt.want)):
			t.Errorf("Load(%q) = %v, want %s:%s", tt.call, err, path, tt.want)
		}
	}
}

// TestCallBuiltAtRunTime: a target built with ${{ }} is compiled, and the
// params checked, when the step starts: a bad one fails the step before
// anything of the child runs.
func TestCallBuiltAtRunTime(t *testing.T) {
	h := newHarness(t)
	child := "version: 1\nname: child\nparams:\n  n: {type: int, required: true}\nsteps:\n  - id: touch\n    run: touch touched\n"
	if err := os.WriteFile(filepath.Join(h.repo, "child.yaml"), []byte(child), 0o644); err != nil {
		t.Fatal(err)
	}
	run, recs, err := h.run("parent", `version: 1
name: parent
params:
  which: {type: string, default: child}
steps:
  - id: sub
    call: ${{ params.which }}.yaml
    with: {params: {n: many}}
`)
	if err == nil || !strings.Contains(recs["sub"].Error, `params for child: param n: want an integer, got "many"`) {
		t.Errorf("run = %v, step sub error %q, want the param n refused", err, recs["sub"].Error)
	}
	runs, _ := h.st.Runs(context.Background(), "")
	for _, r := range runs {
		if r.ParentRun == run.ID {
			t.Errorf("a child run %s was started", r.ID)
		}
	}
	if _, err := os.Stat(filepath.Join(h.repo, "touched")); err == nil {
		t.Errorf("the child's step ran")
	}
}
