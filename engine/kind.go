package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Kind is a step kind (run, git, test, ...). It declares what a step of it
// takes, checks a step when the procedure is loaded and returns the Action
// that runs it.
type Kind interface {
	// Signature declares what the step's action key and with: take. The
	// registry reads it once, when the kind is registered; the engine
	// checks every step against it before Compile (an action name the
	// kind does not declare never reaches Compile), and rbflow schema is
	// generated from it.
	Signature() Signature
	// Compile checks what the signature cannot say (rules between
	// arguments, values of refs, paths and templates) and returns the
	// step's action. Problems are reported with c.Errorf; Compile returns
	// nil only then.
	Compile(c *KindContext) Action
}

// Signature is what a step kind takes: the value of its action key and its
// with: arguments.
type Signature struct {
	// Arg says what the action key's value is, for people ("a bash
	// script", "a git action").
	Arg string
	// Actions, when the kind has any, are the values its action key takes
	// (git: reset, service: start): the value names one of them, written
	// out, since it decides what the step is. A kind without actions takes
	// free text (a script, a path, a question), never blank.
	Actions []ActionSig
	// With are the with: arguments of every step of the kind; a step that
	// names an action also takes that action's.
	With []Field
}

// ActionSig is one action of a kind whose value names an action.
type ActionSig struct {
	Name        string
	Description string
	With        []Field // taken after the kind's own
}

// Action returns the action called name.
func (s *Signature) Action(name string) (*ActionSig, bool) {
	for i := range s.Actions {
		if s.Actions[i].Name == name {
			return &s.Actions[i], true
		}
	}
	return nil, false
}

// ActionNames lists the actions in the order they are declared.
func (s *Signature) ActionNames() []string {
	names := make([]string, len(s.Actions))
	for i, a := range s.Actions {
		names[i] = a.Name
	}
	return names
}

// Fields returns the with: arguments of a step that names action ("" for a
// kind without actions): the kind's, then the action's.
func (s *Signature) Fields(action string) []Field {
	out := slices.Clone(s.With)
	if a, ok := s.Action(action); ok {
		out = append(out, a.With...)
	}
	return out
}

// check panics on a signature that contradicts itself: it is a programming
// error of the kind, found when it is registered.
func (s *Signature) check(key string) {
	bad := func(format string, args ...any) {
		panic(fmt.Sprintf("engine: step kind %s: %s", key, fmt.Sprintf(format, args...)))
	}
	fields := func(where string, fs []Field) {
		seen := map[string]bool{}
		for _, f := range fs {
			switch {
			case f.Name == "":
				bad("%s: a with: argument has no name", where)
			case seen[f.Name]:
				bad("%s: with.%s is declared twice", where, f.Name)
			case len(f.Enum) > 0 && f.Type != String:
				bad("%s: with.%s has an enum but is not a String", where, f.Name)
			}
			seen[f.Name] = true
		}
	}
	fields(key, s.With)
	names := map[string]bool{}
	for _, a := range s.Actions {
		if a.Name == "" || names[a.Name] {
			bad("action %q is empty or declared twice", a.Name)
		}
		names[a.Name] = true
		fields(key+": "+a.Name, s.Fields(a.Name))
	}
}

// Action is one compiled step, ready to execute. Every method is part of
// what a kind must provide: the engine never discovers a capability by a
// type assertion that could fail at run time.
type Action interface {
	// Execute runs one attempt of the step. A non-nil error fails the
	// attempt; Result carries the exit code and outputs either way.
	Execute(ctx context.Context, x *Exec) (Result, error)
	// Describe says, without side effects, what the step would do (the
	// interpolated command or argv), for --dry-run; an error when an
	// argument cannot be evaluated. Git queries it makes end with ctx.
	Describe(ctx context.Context, x *Exec) (string, error)
	// DefaultOnResume is the step's on_resume when the procedure sets none:
	// rerun, or ask for actions that may have done part of their work and
	// could do harm run twice (destructive git actions).
	DefaultOnResume() string
}

// Result is what one attempt produced.
type Result struct {
	ExitCode int
	Outputs  map[string]any
}

// Registry maps action keys to step kinds, and holds the hooks kinds run
// when a run ends. cmd/rbflow fills it with steps.Register; tests build
// their own. It is the one list of step kinds: the decoder accepts its keys
// and rbflow schema is generated from their signatures.
type Registry struct {
	kinds map[string]*registered
	keys  []string // in the order of registration
	ends  []RunEndHook
}

// registered is a kind with the signature it declared.
type registered struct {
	kind Kind
	sig  Signature
}

// RunEndHook runs when an execution of a top-level run ends (succeeded,
// failed, interrupted or waiting), under the repository lock and before the
// end is recorded: a kill in between leaves a run that resume ends again.
// An error is reported as a warning of the run; it does not change how the
// run ended. The git kind saves there the state a run left, which undo
// compares with the tree.
type RunEndHook func(ctx context.Context, st Store, run *Run) error

// OnRunEnd adds a hook that runs when a run ends.
func (r *Registry) OnRunEnd(h RunEndHook) { r.ends = append(r.ends, h) }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]*registered{}} }

// Register adds a kind under its action key and reads its signature.
// Registering a key twice, or a signature that contradicts itself (an
// argument declared twice, an enum on a field that is not a String), panics:
// it is a programming error.
func (r *Registry) Register(key string, k Kind) {
	if _, dup := r.kinds[key]; dup {
		panic("engine: step kind registered twice: " + key)
	}
	sig := k.Signature()
	sig.check(key)
	r.kinds[key] = &registered{kind: k, sig: sig}
	r.keys = append(r.keys, key)
}

// Kind returns the kind of an action key.
func (r *Registry) Kind(key string) (Kind, bool) {
	k, ok := r.kinds[key]
	if !ok {
		return nil, false
	}
	return k.kind, true
}

// Signature returns the signature of an action key's kind.
func (r *Registry) Signature(key string) (Signature, bool) {
	k, ok := r.kinds[key]
	if !ok {
		return Signature{}, false
	}
	return k.sig, true
}

// Keys lists the registered action keys in the order they were registered
// (the order messages list them in).
func (r *Registry) Keys() []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.keys)
}

// Decoder returns the decoder of procedure files for the registry's kinds:
// their action keys, and their with: arguments, so that an argument
// written beside with: is reported as belonging in it.
func (r *Registry) Decoder() *spec.Decoder {
	return &spec.Decoder{Kinds: r.Keys(), Args: func(kind, action string) []string {
		k, ok := r.kinds[kind]
		if !ok {
			return nil
		}
		var names []string
		for _, f := range k.sig.Fields(action) {
			names = append(names, f.Name)
		}
		return names
	}}
}

// KindContext is what a kind sees while compiling one step.
type KindContext struct {
	Step *spec.Step
	// Procedure-wide facts a kind may check against.
	Procedure *spec.Procedure

	comp   *compiler
	step   *Step
	sig    *Signature
	action *ActionSig // the action the step names; nil for a kind without actions
	args   *Args
}

// compileStep checks a step against its kind's signature, then lets the kind
// compile it. A step naming an action the kind does not declare is reported
// here and never reaches the kind.
func (c *compiler) compileStep(k *registered, s *spec.Step, st *Step) Action {
	kc := &KindContext{Step: s, Procedure: c.proc, comp: c, step: st, sig: &k.sig}
	if !kc.resolveAction() {
		return nil
	}
	kc.args = kc.compileWith()
	return k.kind.Compile(kc)
}

// resolveAction finds the action a step names, for a kind that has actions.
func (c *KindContext) resolveAction() bool {
	if len(c.sig.Actions) == 0 {
		return true
	}
	names := c.sig.ActionNames()
	a := c.Step.Arg
	if strings.TrimSpace(a.Str) == "" {
		c.Errorf(c.Step.KindPos, "%s needs one of %s", c.Step.Kind, strings.Join(names, ", "))
		return false
	}
	act, ok := c.sig.Action(a.Str)
	if !ok {
		c.Errorf(a.Pos, "unknown %s action %q%s; use one of %s", c.Step.Kind, a.Str, spec.Hint(a.Str, names), strings.Join(names, ", "))
		return false
	}
	c.action = act
	return true
}

// Action returns the action the step names (reset for git: reset), "" for
// a kind without actions. It is always one the kind declared.
func (c *KindContext) Action() string {
	if c.action == nil {
		return ""
	}
	return c.action.Name
}

// TakesAnswers declares that the step takes an answer given on the command
// line (--answer STEP=VALUE), and how to check one before the run starts
// (check nil: any value, checked when the step runs).
func (c *KindContext) TakesAnswers(check func(value string) error) {
	if check == nil {
		check = func(string) error { return nil }
	}
	c.step.checkAnswer = check
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

// ShellTemplate compiles a value that a shell runs (run:, test:, service
// and wait commands) in the dialect of shell ("" or bash, or sh): the
// script is parsed and each ${{ }} is checked for where it stands, for
// Exec.Shell. Errors are reported and nil is returned.
func (c *KindContext) ShellTemplate(v *spec.Value, shell string) *eval.Template {
	return c.comp.shellTemplate(v, c.Step.ID, eval.DialectOf(shell))
}

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
	Map                        // map of names to any values, strings interpolated
)

func (t FieldType) String() string {
	return [...]string{"a string", "true or false", "an integer", "a duration", "a list", "a map", "a value", "a map"}[t]
}

// Field declares one with: argument.
type Field struct {
	Name        string
	Type        FieldType
	Required    bool
	Enum        []string // for String: allowed literal values
	Description string   // for people: rbflow schema, and the error when a required one is missing
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

// WrittenPrefix returns the part of v, the value of item i of a List
// argument (or of a String argument, i 0), that the procedure's author
// wrote rather than a value gave: the item's text before its first ${{ }},
// or all of v when the whole list is one expression and v is a string
// written as an item of a list literal in it (the "-z" of
// ${{ concat(["ls-tree", "-z"], params.files) }}).
func (a *Args) WrittenPrefix(name string, i int, v string) string {
	x, ok := a.fields[name]
	if !ok {
		return ""
	}
	switch {
	case x.list != nil && i < len(x.list):
		return x.list[i].LiteralPrefix()
	case x.list == nil && x.tmpl != nil && i == 0 && x.tmpl.LiteralPrefix() != "":
		return x.tmpl.LiteralPrefix()
	case x.list == nil && x.tmpl != nil && x.tmpl.ListedStrings()[v]:
		return v
	}
	return ""
}

// Literal returns an argument's value when it holds no expression.
func (a *Args) Literal(name string) (any, bool) {
	x, ok := a.fields[name]
	if !ok || x.lit == nil {
		return nil, false
	}
	return x.lit, true
}

// With returns the step's with: arguments, compiled. The engine checked
// them against the signature before Compile: every argument is one the kind
// (or the step's action) declares, of its type, and the required ones are
// there. An argument that failed those checks is absent.
func (c *KindContext) With() *Args { return c.args }

// compileWith checks the step's with: against the fields its signature
// declares for the step's action and compiles it. Unknown keys get a "did
// you mean" hint, or the actions they belong to; required fields must be
// present.
func (c *KindContext) compileWith() *Args {
	fields := c.sig.Fields(c.Action())
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
				c.unknownArg(e, names)
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
		// Written beside with:, it is reported as belonging in it, not
		// as missing as well.
		if f.Required && c.Step.Def != nil && c.Step.Def.Entry(f.Name) != nil && !slices.Contains(spec.StepFields(), f.Name) {
			continue
		}
		if f.Required {
			pos := c.Step.KindPos
			if w != nil {
				pos = w.Pos
			}
			why := ""
			if f.Description != "" {
				why = " (" + f.Description + ")"
			}
			c.Errorf(pos, "%s needs with.%s%s", c.kindLabel(), f.Name, why)
		}
	}
	return args
}

// unknownArg reports a with: key the step's action does not take: with the
// actions that take it, or a "did you mean" hint.
func (c *KindContext) unknownArg(e *spec.Entry, names []string) {
	var takers []string
	for _, a := range c.sig.Actions {
		if slices.ContainsFunc(a.With, func(f Field) bool { return f.Name == e.Key }) {
			takers = append(takers, a.Name)
		}
	}
	switch {
	case len(takers) > 0:
		c.Errorf(e.KeyPos, "with.%s is for %s: %s, not %s", e.Key, c.Step.Kind, joinAnd(takers), c.action.Name)
	case len(names) == 0 && c.action == nil:
		c.Errorf(e.KeyPos, "unknown argument %q: %s steps take no with: arguments", e.Key, c.Step.Kind)
	case len(names) == 0:
		c.Errorf(e.KeyPos, "unknown argument %q: %s takes no with: arguments", e.Key, c.kindLabel())
	default:
		c.Errorf(e.KeyPos, "unknown argument %q for %s%s; it takes %s", e.Key, c.kindLabel(), spec.Hint(e.Key, names), strings.Join(names, ", "))
	}
}

// joinAnd joins a, b and c as "a, b and c".
func joinAnd(l []string) string {
	if len(l) < 2 {
		return strings.Join(l, "")
	}
	return strings.Join(l[:len(l)-1], ", ") + " and " + l[len(l)-1]
}

// kindLabel names the step's kind in messages: "git: reset" for a kind
// with actions, "report" for one without.
func (c *KindContext) kindLabel() string {
	if c.action != nil {
		return c.Step.Kind + ": " + c.action.Name
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
				h := spec.Hint(v.Str, f.Enum)
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
	case Any, Map:
		if f.Type == Map && v.Kind != spec.Map {
			return wrongType()
		}
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
