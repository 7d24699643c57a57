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

	_, recs, err = h.run("parent", `version: 1
name: parent
steps:
  - id: sub
    call: child.yaml
    with: {params: {whom: y}}
`)
	if err == nil || !strings.Contains(recs["sub"].Error, `unknown param (did you mean "who"?)`) {
		t.Errorf("bad child param: err %v, step error %q", err, recs["sub"].Error)
	}
}
