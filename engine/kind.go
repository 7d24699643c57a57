package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Kind is a step kind (run, git, test, ...). It checks a step when the
// procedure is loaded and returns the Action that runs it.
type Kind interface {
	// Compile checks the step's argument and with: and returns its action.
	// Problems are reported with c.Errorf; Compile returns nil only then.
	Compile(c *KindContext) Action
}

// Action is one compiled step, ready to execute.
type Action interface {
	// Execute runs one attempt of the step. A non-nil error fails the
	// attempt; Result carries the exit code and outputs either way.
	Execute(ctx context.Context, x *Exec) (Result, error)
}

// Describer is implemented by actions that can say, without side effects,
// what they would do (the interpolated command or argv) for --dry-run.
type Describer interface {
	Describe(x *Exec) (string, error)
}

// ResumePolicy is implemented by actions whose default on_resume differs
// from rerun: destructive actions ask before running again.
type ResumePolicy interface {
	DefaultOnResume() string
}

// ReadOnly is implemented by actions that change nothing and may run in
// --dry-run.
type ReadOnly interface {
	ReadOnly() bool
}

// Result is what one attempt produced.
type Result struct {
	ExitCode int
	Outputs  map[string]any
}

// Registry maps action keys to step kinds. cmd/rbflow fills it with
// steps.Register; tests build their own.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]Kind{}} }

// Register adds a kind under its action key. Registering a key twice panics:
// it is a programming error.
func (r *Registry) Register(key string, k Kind) {
	if _, dup := r.kinds[key]; dup {
		panic("engine: step kind registered twice: " + key)
	}
	r.kinds[key] = k
}

// Kind returns the kind of an action key.
func (r *Registry) Kind(key string) (Kind, bool) {
	k, ok := r.kinds[key]
	return k, ok
}

// Keys lists the registered action keys.
func (r *Registry) Keys() []string {
	keys := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// KindContext is what a kind sees while compiling one step.
type KindContext struct {
	Step *spec.Step
	// Procedure-wide facts a kind may check against.
	Procedure *spec.Procedure

	comp *compiler
}

// Errorf reports a load error at pos, attributed to the step.
func (c *KindContext) Errorf(pos spec.Pos, format string, args ...any) {
	c.comp.errorf(pos, c.Step.ID, format, args...)
}

// Template compiles a scalar value with ${{ }} parts; errors are reported
// and nil is returned.
func (c *KindContext) Template(v *spec.Value) *eval.Template {
	return c.comp.template(v, c.Step.ID)
}

// ArgTemplate compiles the action's argument.
func (c *KindContext) ArgTemplate() *eval.Template { return c.Template(c.Step.Arg) }

// FieldType is the type of a with: argument.
type FieldType int

// Field types.
const (
	String    FieldType = iota // text with ${{ }}
	Bool                       // true/false, or ${{ }} giving a bool
	Int                        // integer, or ${{ }}
	Duration                   // Go duration, or ${{ }}
	List                       // list of strings (each with ${{ }}), or one ${{ }} giving a list
	StringMap                  // map of string to string
	Any                        // any YAML value, strings interpolated
)

func (t FieldType) String() string {
	return [...]string{"a string", "true or false", "an integer", "a duration", "a list", "a map", "a value"}[t]
}

// Field declares one with: argument.
type Field struct {
	Name     string
	Type     FieldType
	Required bool
	Enum     []string // for String: allowed literal values
	Default  any
}

// Args are compiled with: arguments; Exec.Args evaluates them.
type Args struct {
	fields map[string]*arg
	order  []string
}

type arg struct {
	field Field
	pos   spec.Pos
	tmpl  *eval.Template
	list  []*eval.Template
	m     map[string]*eval.Template
	value *spec.Value
	anyT  map[*spec.Value]*eval.Template
	lit   any
}

// Has reports whether the argument was written.
func (a *Args) Has(name string) bool {
	if a == nil {
		return false
	}
	_, ok := a.fields[name]
	return ok
}

// Pos returns where an argument was written.
func (a *Args) Pos(name string) spec.Pos {
	if x, ok := a.fields[name]; ok {
		return x.pos
	}
	return spec.Pos{}
}

// ItemPos returns where item i of a List argument was written (the
// argument's position when it is one ${{ }}).
func (a *Args) ItemPos(name string, i int) spec.Pos {
	x, ok := a.fields[name]
	if !ok {
		return spec.Pos{}
	}
	if x.value != nil && x.value.Kind == spec.List && i < len(x.value.List) {
		return x.value.List[i].Pos
	}
	return x.pos
}

// Literal returns an argument's value when it holds no expression.
func (a *Args) Literal(name string) (any, bool) {
	x, ok := a.fields[name]
	if !ok || x.lit == nil {
		return nil, false
	}
	return x.lit, true
}

// With checks the step's with: against fields and compiles it. Unknown keys
// get a "did you mean" hint; required fields must be present.
func (c *KindContext) With(fields ...Field) *Args {
	args := &Args{fields: map[string]*arg{}}
	byName := map[string]Field{}
	var names []string
	for _, f := range fields {
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	w := c.Step.With
	written := map[string]bool{}
	if w != nil {
		for _, e := range w.Map {
			f, ok := byName[e.Key]
			if !ok {
				h := ""
				if s := spec.Suggest(e.Key, names); s != "" {
					h = fmt.Sprintf(" (did you mean %q?)", s)
				}
				if len(names) == 0 {
					c.Errorf(e.KeyPos, "unknown argument %q: %s steps take no with: arguments", e.Key, c.Step.Kind)
				} else {
					c.Errorf(e.KeyPos, "unknown argument %q for %s%s; it takes %s", e.Key, c.kindLabel(), h, strings.Join(names, ", "))
				}
				continue
			}
			written[f.Name] = true
			if a := c.compileArg(f, e.Value); a != nil {
				args.fields[f.Name] = a
				args.order = append(args.order, f.Name)
			}
		}
	}
	for _, f := range fields {
		if written[f.Name] {
			continue
		}
		if f.Required {
			pos := c.Step.KindPos
			if w != nil {
				pos = w.Pos
			}
			c.Errorf(pos, "%s needs with.%s", c.kindLabel(), f.Name)
		}
	}
	return args
}

func (c *KindContext) kindLabel() string {
	if c.Step.Arg != nil && c.Step.Arg.Kind == spec.Scalar && (c.Step.Kind == "git" || c.Step.Kind == "service" || c.Step.Kind == "wait" || c.Step.Kind == "record") {
		return fmt.Sprintf("%s: %s", c.Step.Kind, c.Step.Arg.Str)
	}
	return c.Step.Kind
}

func (c *KindContext) compileArg(f Field, v *spec.Value) *arg {
	a := &arg{field: f, pos: v.Pos, value: v}
	isExpr := v.Kind == spec.Scalar && strings.Contains(v.Str, "${{")
	wrongType := func() *arg {
		c.Errorf(v.Pos, "with.%s must be %s, not %s", f.Name, f.Type, v.TypeName())
		return nil
	}
	switch f.Type {
	case String:
		if v.Kind != spec.Scalar {
			return wrongType()
		}
		if a.tmpl = c.Template(v); a.tmpl == nil {
			return nil
		}
		if !isExpr {
			if len(f.Enum) > 0 && !slices.Contains(f.Enum, v.Str) {
				h := ""
				if s := spec.Suggest(v.Str, f.Enum); s != "" {
					h = fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.Errorf(v.Pos, "with.%s: %q is not one of %s%s", f.Name, v.Str, strings.Join(f.Enum, ", "), h)
				return nil
			}
			a.lit = v.Str
		}
	case Bool, Int, Duration:
		if isExpr {
			if a.tmpl = c.Template(v); a.tmpl == nil {
				return nil
			}
			return a
		}
		if v.Kind != spec.Scalar {
			return wrongType()
		}
		lit, err := convertScalar(f.Type, v.Str, v)
		if err != nil {
			c.Errorf(v.Pos, "with.%s: %v", f.Name, err)
			return nil
		}
		a.lit = lit
	case List:
		switch {
		case isExpr:
			if a.tmpl = c.Template(v); a.tmpl == nil {
				return nil
			}
		case v.Kind == spec.List:
			lit := []string{}
			for _, x := range v.List {
				if x.Kind != spec.Scalar {
					c.Errorf(x.Pos, "with.%s items must be strings, not %s", f.Name, x.TypeName())
					return nil
				}
				t := c.Template(x)
				if t == nil {
					return nil
				}
				a.list = append(a.list, t)
				lit = append(lit, x.Str)
			}
			if allLiteral(a.list) {
				a.lit = lit
			}
		case v.Kind == spec.Scalar:
			if a.tmpl = c.Template(v); a.tmpl == nil {
				return nil
			}
			if a.tmpl.IsLiteral() {
				a.lit = []string{v.Str}
			}
		default:
			return wrongType()
		}
	case StringMap:
		if v.Kind != spec.Map {
			return wrongType()
		}
		a.m = map[string]*eval.Template{}
		for _, e := range v.Map {
			if e.Value.Kind != spec.Scalar && e.Value.Kind != spec.Null {
				c.Errorf(e.Value.Pos, "with.%s.%s must be a string, not %s", f.Name, e.Key, e.Value.TypeName())
				return nil
			}
			t := c.Template(e.Value)
			if t == nil {
				return nil
			}
			a.m[e.Key] = t
		}
	case Any:
		a.anyT = map[*spec.Value]*eval.Template{}
		if !c.compileAny(v, a.anyT) {
			return nil
		}
	}
	return a
}

// compileAny compiles every ${{ }} inside an arbitrary value into ts.
func (c *KindContext) compileAny(v *spec.Value, ts map[*spec.Value]*eval.Template) bool {
	switch v.Kind {
	case spec.Scalar:
		if !strings.Contains(v.Str, "${{") {
			return true
		}
		t := c.Template(v)
		ts[v] = t
		return t != nil
	case spec.List:
		ok := true
		for _, x := range v.List {
			ok = c.compileAny(x, ts) && ok
		}
		return ok
	case spec.Map:
		ok := true
		for _, e := range v.Map {
			ok = c.compileAny(e.Value, ts) && ok
		}
		return ok
	}
	return true
}

func allLiteral(ts []*eval.Template) bool {
	for _, t := range ts {
		if !t.IsLiteral() {
			return false
		}
	}
	return true
}

func convertScalar(t FieldType, s string, v *spec.Value) (any, error) {
	switch t {
	case Bool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("want true or false, got %q", s)
	case Int:
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d", &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(s) {
			return nil, fmt.Errorf("want an integer, got %q", s)
		}
		return n, nil
	case Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 {
			return nil, errors.New(spec.DurationError(s))
		}
		return d, nil
	}
	return s, nil
}

// Exec is what an action sees while it runs one attempt.
type Exec struct {
	RunID     string
	StepID    string
	Procedure string
	Repo      string    // repository work tree root ("" outside git)
	Dir       string    // absolute working directory of the step
	RunDir    string    // the run's artifact folder (outside the work tree)
	StateDir  string    // the state folder
	Env       []string  // full environment for child processes
	Log       io.Writer // the step's log (secrets masked)
	Attempt   int       // 1-based attempt within this execution
	Resumed   bool      // the step was found interrupted and runs again
	Grace     time.Duration
	DryRun    bool
	Store     Store
	// OutputFile is the file named by $RBFLOW_OUTPUT.
	OutputFile string

	env     *eval.Env
	mask    func(string) string
	maskObj *masker
	host    Host
	hurry   <-chan struct{}
	runner  *Runner
	plan    *Plan
}

// Hurry is closed when the person asked to stop at once (a second Ctrl-C):
// the grace period is over.
func (x *Exec) Hurry() <-chan struct{} { return x.hurry }

// Answer returns an answer given for this step on the command line.
func (x *Exec) Answer() (string, bool) {
	if x.host == nil {
		return "", false
	}
	return x.host.Answer(x.StepID)
}

// Host gives actions the engine services they cannot reach otherwise:
// prompting a person and running child procedures.
type Host interface {
	// Answer returns a given answer for a prompt step, if any.
	Answer(stepID string) (string, bool)
}

// Render evaluates a template to text.
func (x *Exec) Render(t *eval.Template) (string, error) {
	if t == nil {
		return "", nil
	}
	return t.Render(x.env)
}

// Shell evaluates a template for a shell script, quoting every value.
func (x *Exec) Shell(t *eval.Template) (string, error) {
	if t == nil {
		return "", nil
	}
	return t.Shell(x.env)
}

// Mask replaces secret values in s with ***.
func (x *Exec) Mask(s string) string {
	if x.mask == nil {
		return s
	}
	return x.mask(s)
}

// String evaluates a String argument ("" when absent and without default).
func (x *Exec) String(a *Args, name string) (string, error) {
	v, err := x.Value(a, name)
	if err != nil || v == nil {
		return "", err
	}
	return eval.Text(v), nil
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
// time.Duration, []string, map[string]string, or plain data for Any. An
// absent argument gives its default (nil when it has none).
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
	case Any:
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
