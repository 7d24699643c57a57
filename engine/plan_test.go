package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

// TestValidLoads checks procedures that must load, each with a fact about the
// plan that a wrong decoder or compiler would get wrong.
func TestValidLoads(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, p *engine.Plan)
	}{
		{
			name: "sequence",
			text: `version: 1
name: seq
steps:
  - id: a
    run: echo a
  - id: b
    run: echo b
`,
			check: func(t *testing.T, p *engine.Plan) { wantNeeds(t, p, "b", "a") },
		},
		{
			name: "dag",
			text: `version: 1
name: dag
steps:
  - id: reset
    run: git status
  - id: backend
    needs: [reset]
    run: echo backend
  - id: frontend
    needs: reset
    run: echo frontend
  - id: done
    needs: [backend, frontend]
    run: echo done
`,
			check: func(t *testing.T, p *engine.Plan) {
				wantNeeds(t, p, "frontend", "reset")
				wantNeeds(t, p, "done", "backend", "frontend")
			},
		},
		{
			name: "sections",
			text: `version: 1
name: sections
steps:
  - id: a
    run: exit 1
on_failure:
  - id: tell
    run: echo failed
  - id: tell_more
    if: failure()
    run: echo still failed
finally:
  - id: summary
    if: always()
    run: echo done
`,
			check: func(t *testing.T, p *engine.Plan) {
				if len(p.Main) != 1 || len(p.OnFailure) != 2 || len(p.Finally) != 1 {
					t.Errorf("sections = %d/%d/%d steps, want 1/2/1", len(p.Main), len(p.OnFailure), len(p.Finally))
				}
				wantNeeds(t, p, "tell")
				wantNeeds(t, p, "tell_more", "tell")
				wantNeeds(t, p, "summary")
				if s, _ := p.Step("summary"); s.If.Implicit() {
					t.Errorf("if: always() is implicit success() && ..., want explicit")
				}
			},
		},
		{
			name: "retry forms",
			text: `version: 1
name: retries
steps:
  - id: count
    run: exit 1
    retry: 3
  - id: full
    run: exit 1
    retry: {attempts: 5, delay: 2s, backoff: 1.5, if: result.exit_code == 75 && attempt < 4}
  - id: block
    run: exit 1
    timeout: 1m30s
    retry:
      attempts: 2
      delay: 100ms
      backoff: 2
`,
			check: func(t *testing.T, p *engine.Plan) {
				s, _ := p.Step("count")
				if r := s.Spec.Retry; r.Attempts != 3 || r.Backoff != 1 {
					t.Errorf("retry: 3 = %+v, want 3 attempts, backoff 1", r)
				}
				s, _ = p.Step("full")
				if r := s.Spec.Retry; r.Attempts != 5 || r.Delay != 2*time.Second || r.Backoff != 1.5 || s.RetryIf == nil {
					t.Errorf("retry map = %+v (if %v), want 5, 2s, 1.5 and an if", r, s.RetryIf)
				}
				s, _ = p.Step("block")
				if s.Spec.Timeout != 90*time.Second || s.Spec.Retry.Backoff != 2 {
					t.Errorf("timeout %v backoff %v, want 1m30s and 2", s.Spec.Timeout, s.Spec.Retry.Backoff)
				}
			},
		},
		{
			name: "param types",
			text: `version: 1
name: params
severity: high
target: 5m
contacts:
  - {role: Technical Lead, name: "", reach: ""}
params:
  baseline: {type: string, default: baseline, description: branch to return to}
  sprint:   {type: int, required: true}
  files:    {type: list, default: [a.py, "b c.py"]}
  one:      {type: list, default: single.py}
  dry:      {type: bool, default: false}
  level:    {type: string, enum: [critical, high, medium, low], default: low}
  token:    {type: string, secret: true}
steps:
  - id: a
    if: params.sprint > 2 && !params.dry && "a.py" in params.files && params.level != "high" && len(params.one) == 1
    run: echo ${{ params.baseline }} ${{ params.files }} ${{ params.token }}
`,
			check: func(t *testing.T, p *engine.Plan) {
				got := map[string]any{}
				for _, pm := range p.Procedure.Params {
					got[pm.Name] = pm.Default
				}
				if got["baseline"] != "baseline" || got["dry"] != false || got["level"] != "low" || got["sprint"] != nil {
					t.Errorf("defaults = %v", got)
				}
				if f, _ := got["files"].([]string); !slices.Equal(f, []string{"a.py", "b c.py"}) {
					t.Errorf("files default = %q, want [a.py, b c.py]", f)
				}
				if f, _ := got["one"].([]string); !slices.Equal(f, []string{"single.py"}) {
					t.Errorf("one default = %q, want [single.py]", f)
				}
				if p.Procedure.Target != 5*time.Minute || p.Procedure.Severity != "high" {
					t.Errorf("target %v severity %q", p.Procedure.Target, p.Procedure.Severity)
				}
			},
		},
		{
			name: "env with expressions",
			text: `version: 1
name: env
params:
  remote: {type: string, default: origin}
env:
  CI: "1"
  REMOTE: ${{ params.remote }}
  EMPTY:
steps:
  - id: a
    run: echo "$REMOTE"
    env:
      REF: "${{ params.remote }}/${{ env.CI }}"
      WHERE: ${{ run.dir }}
    dir: ${{ params.remote }}-dir
`,
		},
		{
			name: "block scalars and quoting",
			text: `version: 1
name: blocks
params:
  files: {type: list}
steps:
  - id: a
    run: |
      for f in ${{ params.files }}; do
        echo "$f"
      done
  - id: b
    if: >
      steps.a.status == "succeeded" &&
      steps.a.outputs.count > 0
    run: 'echo ''quoted'''
    shell: sh
    on_resume: skip
    idempotent: true
    dry_run: run
    continue_on_error: true
    description: the second step
`,
		},
		{
			name: "aliases within bounds",
			text: `version: 1
name: aliases
env:
  A: &v value
  B: *v
steps:
  - id: a
    run: echo a
`,
		},
		{
			name: "status functions and builtins",
			text: `version: 1
name: funcs
steps:
  - id: a
    if: file_exists("go.mod") || len(glob("*.py")) > 0 || ref_exists("origin/main")
    run: echo a
  - id: b
    if: failure() || cancelled() || (success() && current_branch() != "main" && !is_dirty())
    run: echo b
  - id: c
    if: disk_used_percent(".") < 90 && mem_available_mb() > 100 && env_or("CI", "") == "1"
    run: echo ${{ upper(steps.b.status) }} ${{ changed_files("main") }}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := load(tt.name+".yaml", []byte(tt.text))
			if err != nil {
				t.Fatalf("load(%s) = %v, want a plan", tt.name, err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// wantNeeds checks a step's direct dependencies, in order.
func wantNeeds(t *testing.T, p *engine.Plan, id string, want ...string) {
	t.Helper()
	s, ok := p.Step(id)
	if !ok {
		t.Fatalf("plan has no step %q", id)
	}
	var got []string
	for _, d := range s.Needs {
		got = append(got, d.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("step %q needs %q, want %q", id, got, want)
	}
}

func TestCompileGraph(t *testing.T) {
	p, err := load("graph.yaml", []byte(`version: 1
name: graph
steps:
  - id: save
    run: echo save
  - id: stop
    run: echo stop
  - id: lint
    needs: []
    run: echo lint
  - id: reset
    needs: [save, stop]
    run: echo reset
  - id: deps_a
    needs: [reset]
    run: echo a
  - id: deps_b
    needs: [reset]
    run: echo b
  - id: after_b
    run: echo after b
  - id: start
    needs: [deps_a, after_b]
    run: echo start
on_failure:
  - id: tell
    run: echo failed
  - id: tell2
    run: echo failed twice
finally:
  - id: sum
    needs: []
    run: echo sum
  - id: sum2
    needs: [sum]
    run: echo sum2
`))
	if err != nil {
		t.Fatal(err)
	}
	wantNeeds(t, p, "save")         // the first step starts at once
	wantNeeds(t, p, "stop", "save") // a plain list is a sequence
	wantNeeds(t, p, "lint")         // needs: [] starts at once, not after stop
	wantNeeds(t, p, "reset", "save", "stop")
	wantNeeds(t, p, "deps_a", "reset")
	wantNeeds(t, p, "deps_b", "reset")
	wantNeeds(t, p, "after_b", "deps_b") // the step written before, even in a DAG
	wantNeeds(t, p, "start", "deps_a", "after_b")
	wantNeeds(t, p, "tell") // each section starts on its own
	wantNeeds(t, p, "tell2", "tell")
	wantNeeds(t, p, "sum")
	wantNeeds(t, p, "sum2", "sum")

	var ids []string
	for i, s := range p.Steps() {
		ids = append(ids, s.ID)
		if s.Order != i {
			t.Errorf("step %q Order = %d, want %d", s.ID, s.Order, i)
		}
	}
	want := []string{"save", "stop", "lint", "reset", "deps_a", "deps_b", "after_b", "start", "tell", "tell2", "sum", "sum2"}
	if !slices.Equal(ids, want) {
		t.Errorf("Steps() = %q, want %q", ids, want)
	}
	for _, s := range p.Steps() {
		if s.Section != s.Spec.Section || s.Kind != "run" || s.Action == nil || s.OnResume == "" || s.DefHash == "" {
			t.Errorf("step %q: section %q kind %q action %v on_resume %q hash %q", s.ID, s.Section, s.Kind, s.Action, s.OnResume, s.DefHash)
		}
	}
}

// TestDefHashIgnoresFormatting: resume --reload compares steps by hash, so
// reformatting a step must not count as a change, and a real edit must.
func TestDefHashIgnoresFormatting(t *testing.T) {
	hash := func(text string) string {
		t.Helper()
		p, err := load("h.yaml", []byte("version: 1\nname: h\nsteps:\n"+text))
		if err != nil {
			t.Fatal(err)
		}
		return p.Main[0].DefHash
	}
	a := hash("  - id: a\n    run: echo a\n    timeout: 1m\n")
	b := hash("  - {id: a, run: 'echo a', timeout: 1m}  # same step\n")
	c := hash("  - id: a\n    run: echo b\n    timeout: 1m\n")
	if a != b {
		t.Errorf("hash changed with formatting: %s != %s", a, b)
	}
	if a == c {
		t.Errorf("hash did not change with the script")
	}
}

// fakeReport is a kind with typed with: arguments, to check their positions.
type fakeReport struct{}

func (fakeReport) Signature() engine.Signature {
	return engine.Signature{Arg: "a path", With: []engine.Field{
		{Name: "template", Type: engine.String},
		{Name: "paths", Type: engine.List},
		{Name: "vars", Type: engine.StringMap},
		{Name: "data", Type: engine.Any},
		{Name: "every", Type: engine.Duration},
	}}
}

func (fakeReport) Compile(c *engine.KindContext) engine.Action { return fakeAction{} }

type fakeAction struct{}

func (fakeAction) Describe(context.Context, *engine.Exec) (string, error) { return "fake", nil }
func (fakeAction) DefaultOnResume() string                                { return "rerun" }

func (fakeAction) Execute(context.Context, *engine.Exec) (engine.Result, error) {
	return engine.Result{}, nil
}

// TestWithExpressionPosition: an expression error inside a with: value
// points at its column in the line, in every form a value can take.
func TestWithExpressionPosition(t *testing.T) {
	reg := engine.NewRegistry()
	reg.Register("report", fakeReport{})
	tests := []struct {
		with string
		want spec.Pos
	}{
		{`{template: "Failed at ${{ run.failed_stp }}"}`, spec.Pos{Line: 7, Col: 41}},
		{"\n      template: |\n        Run ${{ run.id }}\n          at ${{ run.failed_stp }}", spec.Pos{Line: 10, Col: 22}},
		{`{paths: [a, "b/${{ params.nme }}"]}`, spec.Pos{Line: 7, Col: 37}},
		{"\n      vars:\n        WHO: ${{ params.nme }}", spec.Pos{Line: 9, Col: 25}},
		{"\n      data: {deep: [x, {y: '${{ params.nme }}'}]}", spec.Pos{Line: 8, Col: 40}},
		{`{every: "${{ params.nme }}"}`, spec.Pos{Line: 7, Col: 31}},
	}
	for _, tt := range tests {
		text := "version: 1\nname: w\nparams: {name: {type: string}}\nsteps:\n  - id: r\n    report: out.md\n    with: " + tt.with + "\n"
		p, err := spec.Load("w.yaml", []byte(text), reg.Keys())
		if err != nil {
			t.Fatalf("spec.Load(%q) = %v", tt.with, err)
		}
		_, err = engine.Compile(p, reg)
		list, ok := err.(spec.ErrorList)
		if !ok || len(list) != 1 {
			t.Fatalf("Compile(with: %s) = %v, want one error", tt.with, err)
		}
		if got := list[0].Pos; got != tt.want {
			t.Errorf("Compile(with: %s) error at %d:%d, want %d:%d\n%v", tt.with, got.Line, got.Col, tt.want.Line, tt.want.Col, list)
		}
	}
}

// TestValidFiles loads the procedures of testdata/valid, which also seed
// FuzzLoad.
func TestValidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/valid/*.yaml: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := load(f, b); err != nil {
			t.Errorf("load(%s) = %v, want a plan", f, err)
		}
	}
}

// TestUnregisteredKind: a kind of the language that this build's registry
// lacks is a load error naming what is available: the decoder takes the
// registry's keys only, and Compile refuses a procedure decoded with others.
func TestUnregisteredKind(t *testing.T) {
	reg := engine.NewRegistry()
	reg.Register("run", &recordingKind{})
	text := []byte("version: 1\nname: p\nsteps:\n  - id: a\n    git: snapshot\n")
	_, err := engine.Load("p.yaml", text, reg)
	for _, want := range []string{
		`p.yaml:4:5: step "a": step has no action: give one of run`,
		`p.yaml:5:5: step "a": unknown key "git" in a step`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %v, want %s", err, want)
		}
	}
	p, err := spec.Load("p.yaml", text, []string{"run", "git"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Compile(p, reg)
	want := `p.yaml:5:5: step "a": step kind "git" is not available in this build (available: run)`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Compile = %v, want %s", err, want)
	}
}
