package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Exec is what an action sees while it runs one attempt: the step's
// facts, its interpolated arguments, the engine's services, and the parts
// of the store a step kind may use, each through its own accessor.
type Exec struct {
	RunID      string
	StepID     string
	Procedure  string
	SourcePath string    // the file the procedure came from, or builtin:NAME
	Repo       string    // repository work tree root ("" outside git)
	Dir        string    // absolute working directory of the step
	RunDir     string    // the run's artifact folder (outside the work tree)
	Env        []string  // full environment for child processes
	Log        io.Writer // the step's log (secrets masked)
	Attempt    int       // 1-based attempt within this execution
	Resumed    bool      // the step was found interrupted and runs again
	Grace      time.Duration
	// OutputFile is the file named by $RBFLOW_OUTPUT.
	OutputFile string

	env   *eval.Env
	item  *int // the item's index, in a step with for_each
	mask  *Mask
	store Store // dryStore in a dry run
	x     *execution
}

// Runs is the store of runs and step records: a step reads the run it
// belongs to and the runs before it there.
func (x *Exec) Runs() RunStore { return x.store }

// Snapshots is the store of snapshots: a destructive git step records the
// snapshot it takes there before it changes anything.
func (x *Exec) Snapshots() SnapshotStore { return x.store }

// Services is the store of the services service steps start and stop.
func (x *Exec) Services() ServiceStore { return x.store }

// Events is the store of metrics events (record steps).
func (x *Exec) Events() EventStore { return x.store }

// PlanOf compiles the text a stored run executed (Loader.PlanOf).
func (x *Exec) PlanOf(r *Run) (*Plan, error) { return x.x.r.Loader.PlanOf(r) }

// Hurry is closed when the person asked to stop at once (a second Ctrl-C):
// the grace period is over.
func (x *Exec) Hurry() <-chan struct{} { return x.x.r.Hurry }

// Answer returns the answer given for this step's prompt: on the command
// line now, or stored with the run when it was given before (an earlier
// --answer, or rbflow answer).
//
// An item of a prompt step with for_each (ask.1) takes the answer given
// for it, else the one given for the step (ask), which answers every item.
func (x *Exec) Answer() (Answer, bool) {
	if a, ok := x.x.answers[x.StepID]; ok {
		return a, true
	}
	if step, _, item := ItemOf(x.StepID); item {
		a, ok := x.x.answers[step]
		return a, ok
	}
	return Answer{}, false
}

// Answers is the store of answers and questions: a prompt step records
// the question it waits on, looks there for an answer given from another
// shell, and records the answer it took.
func (x *Exec) Answers() AnswerStore { return x.store }

// Actor is who drives this run now, and on which host.
func (x *Exec) Actor() Actor { return x.x.r.actor() }

// Waiting tells the run's observer that the step waits for a person, and
// how to answer, as a run_notice event: a live view shows it, plain output
// prints it on stderr, --json has it.
func (x *Exec) Waiting(msg string) {
	if x.x != nil {
		x.x.r.emit(Event{Kind: "run_notice", RunID: x.RunID, Step: x.StepID, Message: x.mask.String(msg)})
	}
}

// Prompter returns the terminal prompter, or nil when nobody can be asked.
func (x *Exec) Prompter() Prompter { return x.x.r.Prompter }

// AnswerWith is the command, up to STEP=VALUE, that answers this run's
// prompts when the runner names one (Runner.AnswerWith), else "".
func (x *Exec) AnswerWith() string {
	if x.x == nil {
		return ""
	}
	return x.x.r.AnswerWith
}

// Yes reports whether --yes was given.
func (x *Exec) Yes() bool { return x.x.r.Yes }

// Progress is how far a step that counts its work has come while it runs:
// a test step's tests so far. The step's outputs hold the final counts.
type Progress struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// Failures names the latest failures, oldest first, at most
	// MaxProgressFailures of them (Failed counts them all).
	Failures []string `json:"failures,omitempty"`
}

// MaxProgressFailures is how many failure names a Progress carries.
const MaxProgressFailures = 5

// Report tells the run's observer how far the step has come, as a
// step_progress event: a live view shows the counts instead of the raw
// lines the step prints. Names are masked like the step's log.
func (x *Exec) Report(p Progress) {
	if x.x == nil {
		return
	}
	if n := len(p.Failures); n > MaxProgressFailures {
		p.Failures = p.Failures[n-MaxProgressFailures:]
	}
	if len(p.Failures) > 0 {
		names := make([]string, len(p.Failures))
		for i, f := range p.Failures {
			names[i] = x.mask.String(f)
		}
		p.Failures = names
	}
	x.x.r.emit(Event{Kind: "step_progress", RunID: x.RunID, Step: x.StepID, Progress: &p})
}

// Question is what a prompt step asks a person.
type Question struct {
	Step    string
	Text    string
	Type    string // confirm, text, choice, multi
	Choices []string
	Default string
}

// Prompter asks a person on a terminal. Runners without one (no terminal)
// take answers from --answer and --yes, or stop the run resumably.
type Prompter interface {
	// Ask returns the answer text (for multi: items joined by ",").
	// It returns an error when the person cannot be asked (input closed).
	Ask(ctx context.Context, q Question) (string, error)
}

// Render evaluates a template to text.
func (x *Exec) Render(t *eval.Template) (string, error) {
	if t == nil {
		return "", nil
	}
	return t.Render(x.env)
}

// Shell evaluates a template compiled by KindContext.ShellTemplate for a
// shell: the script's text refers to environment variables that carry the
// values. Whatever runs script.Text must add script.Env() to its
// environment (after x.Env); script.String() is the self-contained form
// for people and records.
func (x *Exec) Shell(t *eval.Template) (eval.Script, error) {
	if t == nil {
		return eval.Script{}, nil
	}
	return t.Shell(x.env)
}

// Mask replaces secret values in s with ***.
func (x *Exec) Mask(s string) string {
	return x.mask.String(s)
}

// String evaluates a String argument ("" when absent).
func (x *Exec) String(a *Args, name string) (string, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return "", err
	}
	return eval.Text(v), nil
}

// StringEach evaluates a String argument with the text of each ${{ }}
// value passed through each, for values that must stay data inside another
// language: a report template quotes them as its own string literals.
func (x *Exec) StringEach(a *Args, name string, each func(string) string) (string, error) {
	ar, ok := a.fields[name]
	if !ok || ar.field.Type != String {
		return x.String(a, name)
	}
	if ar.lit != nil {
		return eval.Text(ar.lit), nil
	}
	s, err := ar.tmpl.RenderEach(x.env, each)
	if err != nil {
		return "", fmt.Errorf("with.%s: %w", name, err)
	}
	return s, nil
}

// Bool evaluates a Bool argument.
func (x *Exec) Bool(a *Args, name string) (bool, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("with.%s: want true or false, got %v", name, v)
	}
	return b, nil
}

// Int evaluates an Int argument.
func (x *Exec) Int(a *Args, name string) (int, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return 0, err
	}
	n, ok := v.(int)
	if !ok {
		return 0, fmt.Errorf("with.%s: want an integer, got %v", name, v)
	}
	return n, nil
}

// Duration evaluates a Duration argument.
func (x *Exec) Duration(a *Args, name string) (time.Duration, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return 0, err
	}
	d, ok := v.(time.Duration)
	if !ok {
		return 0, fmt.Errorf("with.%s: want a duration, got %v", name, v)
	}
	return d, nil
}

// Strings evaluates a List argument.
func (x *Exec) Strings(a *Args, name string) ([]string, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return nil, err
	}
	l, ok := v.([]string)
	if !ok {
		return nil, fmt.Errorf("with.%s: want a list, got %v", name, v)
	}
	return l, nil
}

// StringMap evaluates a StringMap argument.
func (x *Exec) StringMap(a *Args, name string) (map[string]string, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return nil, err
	}
	m, _ := v.(map[string]string)
	return m, nil
}

// Value evaluates an argument to its typed value: string, bool, int,
// time.Duration, []string, map[string]string, or plain data for Any and
// Map. An absent argument gives nil.
func (x *Exec) Value(a *Args, name string) (any, error) {
	if a == nil {
		return nil, nil
	}
	ar, ok := a.fields[name]
	if !ok {
		return nil, nil
	}
	if ar.lit != nil {
		return ar.lit, nil
	}
	f := ar.field
	wrap := func(err error) error { return fmt.Errorf("with.%s: %w", name, err) }
	switch f.Type {
	case String:
		s, err := ar.tmpl.Render(x.env)
		if err != nil {
			return nil, wrap(err)
		}
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			return nil, wrap(fmt.Errorf("%q is not one of %s", x.Mask(s), strings.Join(f.Enum, ", ")))
		}
		return s, nil
	case Bool, Int, Duration:
		v, err := ar.tmpl.Value(x.env)
		if err != nil {
			return nil, wrap(err)
		}
		switch t := v.(type) {
		case bool:
			if f.Type == Bool {
				return t, nil
			}
		case int:
			if f.Type == Int {
				return t, nil
			}
		}
		out, err := convertScalar(f.Type, eval.Text(v), nil)
		if err != nil {
			return nil, wrap(err)
		}
		return out, nil
	case List:
		if ar.tmpl != nil {
			v, err := ar.tmpl.Value(x.env)
			if err != nil {
				return nil, wrap(err)
			}
			switch l := v.(type) {
			case []string:
				return l, nil
			case []any:
				out := make([]string, len(l))
				for i, e := range l {
					out[i] = eval.Text(e)
				}
				return out, nil
			case nil:
				return []string{}, nil
			default:
				return []string{eval.Text(v)}, nil
			}
		}
		out := make([]string, len(ar.list))
		for i, t := range ar.list {
			s, err := t.Render(x.env)
			if err != nil {
				return nil, wrap(err)
			}
			out[i] = s
		}
		return out, nil
	case StringMap:
		out := make(map[string]string, len(ar.m))
		for k, t := range ar.m {
			s, err := t.Render(x.env)
			if err != nil {
				return nil, wrap(err)
			}
			out[k] = s
		}
		return out, nil
	case Any, Map:
		return x.plain(ar.value, ar.anyT)
	}
	return nil, nil
}

// plain evaluates every ${{ }} in a value and returns plain data.
func (x *Exec) plain(v *spec.Value, ts map[*spec.Value]*eval.Template) (any, error) {
	switch v.Kind {
	case spec.Scalar:
		t, ok := ts[v]
		if !ok {
			return v.Plain(), nil
		}
		return t.Value(x.env)
	case spec.List:
		out := make([]any, len(v.List))
		for i, e := range v.List {
			p, err := x.plain(e, ts)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case spec.Map:
		out := make(map[string]any, len(v.Map))
		for _, e := range v.Map {
			p, err := x.plain(e.Value, ts)
			if err != nil {
				return nil, err
			}
			out[e.Key] = p
		}
		return out, nil
	}
	return nil, nil
}

// ArgReader evaluates several arguments of a step, keeping the first
// error: read them all, then check Err once.
type ArgReader struct {
	x   *Exec
	a   *Args
	Err error
}

// Read returns a reader of a's arguments.
func (x *Exec) Read(a *Args) *ArgReader { return &ArgReader{x: x, a: a} }

func (r *ArgReader) keep(err error) {
	if r.Err == nil {
		r.Err = err
	}
}

// String evaluates a String argument ("" after an error).
func (r *ArgReader) String(name string) string {
	v, err := r.x.String(r.a, name)
	r.keep(err)
	return v
}

// Bool evaluates a Bool argument.
func (r *ArgReader) Bool(name string) bool {
	v, err := r.x.Bool(r.a, name)
	r.keep(err)
	return v
}

// Int evaluates an Int argument.
func (r *ArgReader) Int(name string) int {
	v, err := r.x.Int(r.a, name)
	r.keep(err)
	return v
}

// Strings evaluates a List argument.
func (r *ArgReader) Strings(name string) []string {
	v, err := r.x.Strings(r.a, name)
	r.keep(err)
	return v
}
