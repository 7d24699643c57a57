package steps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// callKind runs another procedure as a child run: `call: NAME_OR_PATH`.
// A literal target is resolved and compiled, and with.params checked
// against it, when the calling procedure is loaded; a target built with
// ${{ }} when the step starts. The child is recorded with its parent run
// and step; resuming the parent resumes an unfinished child instead of
// starting a new one.
type callKind struct{}

var (
	_ engine.Kind     = callKind{}
	_ engine.CallStep = (*callAction)(nil)
)

// Signature: a procedure, and the child's params.
func (callKind) Signature() engine.Signature {
	return engine.Signature{
		Arg:  "a built-in procedure name or a path: it runs as a child run",
		With: []engine.Field{{Name: "params", Type: engine.Map, Description: "the child's params: a map of names to values"}},
	}
}

func (callKind) Compile(c *engine.KindContext) engine.Action {
	args := c.With()
	if c.Step.Arg == nil || c.Step.Arg.Kind != spec.Scalar || strings.TrimSpace(c.Step.Arg.Str) == "" {
		c.Errorf(c.Step.KindPos, "call needs a procedure: a built-in name (sprint) or a file path (./rollback.yaml)")
		return nil
	}
	ref := c.ArgTemplate()
	if ref == nil {
		return nil
	}
	p := c.Step.With.Get("params")
	if p != nil && p.Kind != spec.Map {
		return nil // with: reported it
	}
	a := &callAction{ref: ref, args: args}
	if ref.IsLiteral() {
		callee, ok := c.Callee(c.Step.Arg, p)
		if !ok {
			return nil
		}
		a.callee = callee // nil in a stored run whose callee no longer loads: resolved when the step starts
	}
	return a
}

type callAction struct {
	ref  *eval.Template
	args *engine.Args
	// callee is the procedure a literal target names, compiled at load;
	// nil when the target is built with ${{ }} (or, in a resumed run, no
	// longer loads as written): it is resolved when the step starts.
	callee *engine.Callee
}

// Callee is the procedure a literal target names (nil: built with ${{ }}).
func (a *callAction) Callee() *engine.Callee { return a.callee }

// CallParams evaluates with.params, as Execute does.
func (a *callAction) CallParams(x *engine.Exec) (map[string]any, error) {
	_, params, err := a.eval(x)
	return params, err
}

// DefaultOnResume: the step is run again, and RunChild goes on with the
// child it started instead of starting another.
func (a *callAction) DefaultOnResume() string { return "rerun" }

func (a *callAction) eval(x *engine.Exec) (string, map[string]any, error) {
	ref, err := x.Render(a.ref)
	if err != nil {
		return "", nil, err
	}
	v, err := x.Value(a.args, "params")
	if err != nil {
		return "", nil, err
	}
	params, _ := v.(map[string]any)
	if params == nil {
		params = map[string]any{}
	}
	return strings.TrimSpace(ref), params, nil
}

// Describe names the procedure and its params.
func (a *callAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	ref, params, err := a.eval(x)
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "call %s as a child run", ref)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" with")
		}
		fmt.Fprintf(&b, " %s=%v", k, params[k])
	}
	return x.Mask(b.String()), nil
}

func (a *callAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	ref, params, err := a.eval(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	fmt.Fprintf(x.Log, "calling %s\n", ref)
	child, err := x.RunChild(ctx, ref, a.callee, params)
	if child == nil {
		if err == nil {
			err = errors.New("no child run")
		}
		return engine.Result{ExitCode: -1}, fmt.Errorf("call %s: %w", ref, err)
	}
	// The child's step outputs, by step id; run_id and status are the call's own.
	out := make(map[string]any, len(child.Outputs)+2)
	for id, o := range child.Outputs {
		out[id] = o
	}
	out["run_id"] = child.Run.ID
	out["status"] = string(child.Run.Status)
	res := engine.Result{Outputs: out}
	fmt.Fprintf(x.Log, "child run %s of %s: %s\n", child.Run.ID, child.Run.Procedure, child.Run.Status)
	if err != nil {
		res.ExitCode = 1
		var re *engine.RunError
		if errors.As(err, &re) && re.Step != "" && errors.Is(err, engine.ErrRunFailed) {
			return res, fmt.Errorf("called procedure %s failed at step %s (child run %s): %w", child.Run.Procedure, re.Step, child.Run.ID, err)
		}
		return res, fmt.Errorf("called procedure %s (child run %s): %w", child.Run.Procedure, child.Run.ID, err)
	}
	return res, nil
}
