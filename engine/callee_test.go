package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/store"
)

// fakeCall is a call kind reduced to what the engine provides: a literal
// target is compiled with KindContext.Callee, and the step runs its child
// with Exec.RunChild.
type fakeCall struct{}

type fakeCallStep struct {
	ref    *eval.Template
	args   *engine.Args
	callee *engine.Callee
}

func (fakeCall) Signature() engine.Signature {
	return engine.Signature{Arg: "a procedure", With: []engine.Field{{Name: "params", Type: engine.Map}}}
}

func (fakeCall) Compile(c *engine.KindContext) engine.Action {
	a := &fakeCallStep{args: c.With()}
	if a.ref = c.ArgTemplate(); a.ref == nil {
		return nil
	}
	if a.ref.IsLiteral() {
		callee, ok := c.Callee(c.Step.Arg, c.Step.With.Get("params"))
		if !ok {
			return nil
		}
		a.callee = callee
	}
	return a
}

func (a *fakeCallStep) Describe(context.Context, *engine.Exec) (string, error) { return "call", nil }
func (a *fakeCallStep) DefaultOnResume() string                                { return "rerun" }

func (a *fakeCallStep) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	ref, err := x.Render(a.ref)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	v, err := x.Value(a.args, "params")
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	params, _ := v.(map[string]any)
	child, err := x.RunChild(ctx, ref, a.callee, params)
	if child == nil {
		return engine.Result{ExitCode: -1}, err
	}
	return engine.Result{Outputs: map[string]any{"run_id": child.Run.ID}}, err
}

// builtins are the procedures the test resolver knows by name.
var builtins = map[string]string{
	"sprint": `version: 1
name: sprint
params:
  sprint: {type: int, required: true}
  baseline: {type: string, default: baseline}
  level: {type: string, default: high, enum: [high, critical]}
  files: {type: list}
steps:
  - id: s
    run: ok
`,
}

// resolveFiles finds procedures as package procedures does: a name is a
// built-in, a path is a file looked for next to the calling one first.
// It counts how often each ref was resolved.
func resolveFiles(count map[string]int) engine.Resolver {
	return func(ref, from string) (engine.Source, error) {
		count[ref]++
		if !strings.HasSuffix(ref, ".yaml") {
			if text, ok := builtins[ref]; ok {
				return engine.Source{Path: "builtin:" + ref, Text: []byte(text)}, nil
			}
			return engine.Source{}, fmt.Errorf("%q is not a file or a built-in procedure%s", ref, spec.Hint(ref, []string{"sprint"}))
		}
		path := ref
		if !filepath.IsAbs(ref) && from != "" && !strings.HasPrefix(from, "builtin:") {
			path = filepath.Join(filepath.Dir(from), ref)
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return engine.Source{}, fmt.Errorf("read procedure: %w", err)
		}
		return engine.Source{Path: path, Text: text}, nil
	}
}

func callRegistry() *engine.Registry {
	reg := engine.NewRegistry()
	reg.Register("run", &recordingKind{})
	reg.Register("call", fakeCall{})
	return reg
}

// writeProcs writes files into a new temp folder, makes it the current
// directory and returns it.
func writeProcs(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

func loadFile(t *testing.T, l *engine.Loader, path string) (*engine.Plan, error) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return l.Load(engine.Source{Path: path, Text: text})
}

// calling is a procedure a.yaml whose one step calls target with the
// params written in flow style (or none).
func calling(target, params string) string {
	text := "version: 1\nname: a\nsteps:\n  - id: sub\n    call: " + target + "\n"
	if params != "" {
		text += "    with: {params: " + params + "}\n"
	}
	return text
}

// TestCallCompiledAtLoad: what a literal call target names is resolved,
// compiled and checked when the calling procedure loads; every problem is
// an error at the call: value or the with.params entry, and a cycle ends
// compiling.
func TestCallCompiledAtLoad(t *testing.T) {
	const bad = "version: 1\nname: b\nsteps:\n  - id: x\n    run: ok\n    retyr: 3\n"
	tests := []struct {
		name  string
		files map[string]string // a.yaml is loaded
		want  []string          // "file:line:col: text" in order; nil: loads
	}{
		{"built-in with its params", map[string]string{"a.yaml": calling("sprint", "{sprint: 3, level: critical, files: [x.py]}")}, nil},
		{"file next to the caller", map[string]string{"a.yaml": calling("b.yaml", ""), "b.yaml": "version: 1\nname: b\nsteps:\n  - id: x\n    run: ok\n"}, nil},
		{"values built with ${{ }} wait for the step", map[string]string{"a.yaml": calling("sprint", `{sprint: "${{ run.id }}", level: "${{ 'low' }}"}`)}, nil},
		{"unknown procedure", map[string]string{"a.yaml": calling("sprnt", "")},
			[]string{`a.yaml:5:11: cannot call "sprnt": "sprnt" is not a file or a built-in procedure (did you mean "sprint"?)`}},
		{"missing file", map[string]string{"a.yaml": calling("./nope.yaml", "")},
			[]string{`a.yaml:5:11: cannot call "./nope.yaml": read procedure: open nope.yaml: no such file or directory (a relative path is looked for next to the calling file`}},
		{"callee does not load", map[string]string{"a.yaml": calling("b.yaml", ""), "b.yaml": bad},
			[]string{`a.yaml:5:11: called procedure "b.yaml" does not load: fix the error in b.yaml, listed below`, `b.yaml:6:5: unknown key "retyr"`}},
		{"unknown param", map[string]string{"a.yaml": calling("sprint", "{sprnt: 3}")},
			[]string{`a.yaml:6:21: unknown param "sprnt" (did you mean "sprint"?): sprint takes sprint, baseline, level, files`}},
		{"required param missing", map[string]string{"a.yaml": calling("sprint", "{baseline: main}")},
			[]string{`a.yaml:6:20: sprint requires param sprint (it has no default): give it in with.params`}},
		{"required param missing, no with", map[string]string{"a.yaml": calling("sprint", "")},
			[]string{`a.yaml:5:11: sprint requires param sprint`}},
		{"literal of the wrong type", map[string]string{"a.yaml": calling("sprint", "{sprint: three}")},
			[]string{`a.yaml:6:29: param sprint of sprint: want an integer, got "three"`}},
		{"literal not in the enum", map[string]string{"a.yaml": calling("sprint", "{sprint: 3, level: hihg}")},
			[]string{`a.yaml:6:39: param level of sprint: "hihg" is not one of high, critical (did you mean "high"?)`}},
		{"calls itself", map[string]string{"a.yaml": calling("a.yaml", "")},
			[]string{`a.yaml:5:11: call cycle: a.yaml calls itself`}},
		{"two-procedure cycle", map[string]string{"a.yaml": calling("b.yaml", ""), "b.yaml": strings.Replace(calling("a.yaml", ""), "name: a", "name: b", 1)},
			[]string{`a.yaml:5:11: called procedure "b.yaml" does not load`, `b.yaml:5:11: call cycle: a.yaml calls b.yaml, b.yaml calls a.yaml`}},
		{"three-procedure cycle", map[string]string{
			"a.yaml": calling("b.yaml", ""),
			"b.yaml": strings.Replace(calling("c.yaml", ""), "name: a", "name: b", 1),
			"c.yaml": strings.Replace(calling("./a.yaml", ""), "name: a", "name: c", 1)},
			[]string{`a.yaml:5:11: called procedure "b.yaml" does not load: fix the 2 errors in b.yaml and the procedures it calls, listed below`,
				`b.yaml:5:11: called procedure "c.yaml" does not load`,
				`c.yaml:5:11: call cycle: a.yaml calls b.yaml, b.yaml calls c.yaml, c.yaml calls a.yaml`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeProcs(t, tt.files)
			l := &engine.Loader{Registry: callRegistry(), Resolve: resolveFiles(map[string]int{})}
			plan, err := loadFile(t, l, "a.yaml")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load(a.yaml) = %v, want a plan", err)
				}
				if st, _ := plan.Step("sub"); st.Action.(*fakeCallStep).callee == nil && !strings.Contains(tt.name, "${{") {
					t.Errorf("Load(a.yaml): step sub has no compiled callee")
				}
				return
			}
			var list spec.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load(a.yaml) = %v, want a spec.ErrorList", err)
			}
			if len(list) != len(tt.want) {
				t.Fatalf("Load(a.yaml) = %d errors, want %d:\n%v", len(list), len(tt.want), err)
			}
			for i, e := range list {
				got := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
				if !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("Load(a.yaml) error %d = %q, want %q...", i, got, tt.want[i])
				}
			}
		})
	}
}

// TestCallCompiledOnce: a procedure called from two steps, and from a
// procedure they both call, compiles once; each step holds that one plan.
func TestCallCompiledOnce(t *testing.T) {
	writeProcs(t, map[string]string{
		"a.yaml": "version: 1\nname: a\nsteps:\n  - id: one\n    call: b.yaml\n  - id: two\n    call: ./b.yaml\n  - id: three\n    call: c.yaml\n",
		"b.yaml": "version: 1\nname: b\nsteps:\n  - id: x\n    run: ok\n",
		"c.yaml": "version: 1\nname: c\nsteps:\n  - id: y\n    call: b.yaml\n",
	})
	plan, err := loadFile(t, &engine.Loader{Registry: callRegistry(), Resolve: resolveFiles(map[string]int{})}, "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	callee := func(p *engine.Plan, id string) *engine.Callee {
		st, _ := p.Step(id)
		return st.Action.(*fakeCallStep).callee
	}
	one, two, three := callee(plan, "one"), callee(plan, "two"), callee(plan, "three")
	if one.Plan != two.Plan || callee(three.Plan, "y").Plan != one.Plan {
		t.Errorf("b.yaml compiled more than once: plans %p, %p, %p", one.Plan, two.Plan, callee(three.Plan, "y").Plan)
	}
	if one.Plan.Name() != "b" || one.Source.Path != "b.yaml" {
		t.Errorf("callee = %s from %s, want b from b.yaml", one.Plan.Name(), one.Source.Path)
	}
}

// TestCallWithoutResolver: engine.Load has no resolver, so a literal call
// target cannot be compiled: a load error, never a step that fails later.
func TestCallWithoutResolver(t *testing.T) {
	_, err := engine.Load("a.yaml", []byte(calling("sprint", "")), callRegistry())
	want := `a.yaml:5:11: step "sub": cannot resolve procedure "sprint": this loader finds no procedures`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load = %v, want %s...", err, want)
	}
	// A target built with ${{ }} is resolved when its step starts.
	if _, err := engine.Load("a.yaml", []byte(calling("${{ 'sprint' }}", "")), callRegistry()); err != nil {
		t.Errorf("Load(call: ${{ }}) = %v, want a plan", err)
	}
}

// callRunner is a runner of the fake run and call kinds on a real store,
// resolving procedures as resolveFiles does.
func callRunner(t *testing.T) (*engine.Runner, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := &engine.Loader{Registry: callRegistry(), Resolve: resolveFiles(map[string]int{})}
	return &engine.Runner{Store: st, Loader: l, StateDir: dir, WorkDir: dir, Grace: time.Second}, st
}

// children returns the runs started by a run's steps.
func children(t *testing.T, st *store.Store, parent string) []*engine.Run {
	t.Helper()
	runs, err := st.Runs(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []*engine.Run
	for _, r := range runs {
		if r.ParentRun == parent {
			out = append(out, r)
		}
	}
	return out
}

// TestCallRuns: a literal target runs the plan compiled at load (an edit of
// the callee after loading changes nothing); a target built with ${{ }} is
// compiled and its params checked when its step starts, before anything
// of the child runs; a cycle closed through ${{ }} stops at the call.
func TestCallRuns(t *testing.T) {
	const child = "version: 1\nname: b\nparams:\n  n: {type: int, required: true}\nsteps:\n  - id: x\n    run: out:v=compiled\n"
	tests := []struct {
		name      string
		a         string
		wantErr   string // the call step's error; "" when the run succeeds
		wantChild bool
	}{
		{"literal", calling("b.yaml", "{n: 1}"), "", true},
		{"built with ${{ }}", calling("${{ 'b' }}.yaml", "{n: 1}"), "", true},
		{"bad param given at run time", calling("${{ 'b' }}.yaml", "{m: 1}"), `params for b: param m: unknown param`, false},
		{"unknown procedure at run time", calling("${{ 'sprnt' }}", ""), `"sprnt" is not a file or a built-in procedure (did you mean "sprint"?)`, false},
		{"callee that does not load at run time", calling("${{ 'bad' }}.yaml", ""), `bad.yaml does not load: bad.yaml:4:`, false},
		{"cycle through ${{ }}", calling("${{ 'a' }}.yaml", ""), "call cycle: a.yaml calls itself", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeProcs(t, map[string]string{"a.yaml": tt.a, "b.yaml": child, "bad.yaml": "version: 1\nname: bad\nsteps:\n  - id: 1x\n    run: ok\n"})
			r, st := callRunner(t)
			plan, err := loadFile(t, r.Loader, "a.yaml")
			if err != nil {
				t.Fatal(err)
			}
			// An edit after loading: a literal target runs what was compiled.
			if err := os.WriteFile("b.yaml", []byte(strings.Replace(child, "compiled", "edited", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			run, err := r.Start(context.Background(), plan, map[string]any{}, "a.yaml")
			if run == nil {
				t.Fatalf("Start = %v", err)
			}
			recs, _ := st.Steps(context.Background(), run.ID)
			if len(recs) != 1 {
				t.Fatalf("steps = %v, want sub", recs)
			}
			sub := recs[0]
			kids := children(t, st, run.ID)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run = %v (step sub: %s)", err, sub.Error)
			case tt.wantErr != "" && !strings.Contains(sub.Error, tt.wantErr):
				t.Errorf("step sub error = %q, want %q", sub.Error, tt.wantErr)
			case tt.wantChild != (len(kids) == 1):
				t.Errorf("child runs = %d, want child %v", len(kids), tt.wantChild)
			}
			if !tt.wantChild {
				return
			}
			want := "compiled"
			if strings.Contains(tt.name, "${{") {
				want = "edited" // compiled when the step started
			}
			out, _ := st.Steps(context.Background(), kids[0].ID)
			if len(out) != 1 || out[0].Outputs["v"] != want {
				t.Errorf("child steps = %+v, want x with v=%s", out, want)
			}
		})
	}
}

// A resumed run goes on with the child it started even when the file the
// call names is gone since (the rollback itself may have removed it): the
// stored text is compiled leniently, and the child resumes from its own.
func TestResumeWhenCalleeIsGone(t *testing.T) {
	writeProcs(t, map[string]string{
		"a.yaml": calling("b.yaml", "{n: 1}"),
		"b.yaml": "version: 1\nname: b\nparams:\n  n: {type: int, required: true}\nsteps:\n  - id: x\n    run: \"flaky:1\"\n",
	})
	r, st := callRunner(t)
	plan, err := loadFile(t, r.Loader, "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := r.Start(ctx, plan, map[string]any{}, "a.yaml")
	if !errors.Is(err, engine.ErrRunFailed) {
		t.Fatalf("first run = %v, want it failed in the child", err)
	}
	first := children(t, st, run.ID)
	if err := os.Remove("b.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resume(ctx, run.ID, engine.ResumeOptions{}); err != nil {
		t.Fatalf("resume with the callee gone = %v, want it to go on with the child it started", err)
	}
	if kids := children(t, st, run.ID); len(kids) != 1 || len(first) != 1 || kids[0].ID != first[0].ID || kids[0].Status != engine.RunSucceeded {
		t.Errorf("children after resume = %+v, want the first child (%v) resumed and succeeded", kids, first)
	}
	// A new run of the stored text cannot start a child it cannot find,
	// and says why when the step starts.
	if _, err := r.Retry(ctx, run.ID, engine.ResumeOptions{From: "sub"}); err == nil || !strings.Contains(err.Error(), "b.yaml") {
		t.Errorf("retry --from sub with the callee gone = %v, want the step to fail naming b.yaml", err)
	}
}
