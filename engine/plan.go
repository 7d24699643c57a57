package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Plan is a procedure checked in full and compiled: its graph, every
// expression and every step's arguments. Nothing changes it after Compile.
type Plan struct {
	Procedure *spec.Procedure
	Hash      string // sha256 of the procedure text
	Env       []EnvVar
	Main      []*Step
	OnFailure []*Step
	Finally   []*Step
	// Notifications are the procedure's notification hooks (notify.go).
	Notifications []*Notification

	byID map[string]*Step
	eval *eval.Compiler
	reg  *Registry
}

// EnvVar is a compiled environment entry.
type EnvVar struct {
	Name  string
	Value *eval.Template
}

// Step is one compiled step of a plan.
type Step struct {
	Spec    *spec.Step
	ID      string
	Section string
	Kind    string
	Needs   []*Step // direct dependencies
	If      *eval.Condition
	Env     []EnvVar
	Dir     *eval.Template
	RetryIf *eval.Condition
	// ForEach gives the items of a step with for_each written as an
	// expression; Items are those written as a YAML list. Both nil: the
	// step runs once.
	ForEach  *eval.List
	Items    []any
	Action   Action
	DefHash  string
	OnResume string // resolved policy: rerun, ask, skip or fail
	Order    int    // position across all sections, for stable output

	checkAnswer func(string) error // nil: the step takes no answers
	refs        *eval.StepRefs     // the steps its expressions read
}

// GitStep returns the first step, in order, that uses git (a git action,
// or an expression calling a function that asks git) and how, or nil when
// none does: such a plan needs a git repository.
func (p *Plan) GitStep() (*Step, string) {
	for _, st := range p.Steps() {
		if st.Kind == "git" {
			return st, "a git step"
		}
		if st.refs != nil && st.refs.Git != "" {
			return st, st.refs.Git
		}
	}
	return nil, ""
}

// Step returns a step by id.
func (p *Plan) Step(id string) (*Step, bool) {
	s, ok := p.byID[id]
	return s, ok
}

// Steps returns every step: main, then on_failure, then finally.
func (p *Plan) Steps() []*Step {
	out := make([]*Step, 0, len(p.Main)+len(p.OnFailure)+len(p.Finally))
	out = append(out, p.Main...)
	out = append(out, p.OnFailure...)
	return append(out, p.Finally...)
}

// Name is the procedure's name.
func (p *Plan) Name() string { return p.Procedure.Name }

// hooks are the run-end hooks of the kinds the plan was compiled with.
func (p *Plan) hooks() []RunEndHook {
	if p.reg == nil {
		return nil
	}
	return p.reg.ends
}

// CheckAnswers refuses, before anything runs, an answer given for a step
// that takes none, or a value the step cannot take.
func (p *Plan) CheckAnswers(answers map[string]string) error {
	ids := make([]string, 0, len(answers))
	for id := range answers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var asking []string
	for _, st := range p.Steps() {
		if st.checkAnswer != nil {
			asking = append(asking, st.ID)
		}
	}
	for _, id := range ids {
		st, ok := p.Step(id)
		if step, _, item := ItemOf(id); !ok && item {
			// An item of a prompt step with for_each: ask.1.
			if s, found := p.Step(step); found && s.Looped() {
				st, ok = s, true
			}
		}
		switch {
		case !ok && len(asking) == 0:
			return usageErr("--answer %s=%s: %s has no step %q (it has no prompt steps)", id, answers[id], p.Name(), id)
		case !ok:
			return usageErr("--answer %s=%s: %s has no step %q%s (its prompt steps: %s)", id, answers[id], p.Name(), id, spec.Hint(id, asking), strings.Join(asking, ", "))
		case st.checkAnswer == nil:
			return usageErr("--answer %s=%s: step %s is a %s step: only prompt steps take answers", id, answers[id], id, st.Kind)
		}
		if err := st.checkAnswer(answers[id]); err != nil {
			return usageErr("--answer %s=%s: %v", id, answers[id], err)
		}
	}
	return nil
}

// hint is a "did you mean" suffix for an unknown step id.
func (p *Plan) hint(id string) string {
	ids := make([]string, 0, len(p.byID))
	for _, s := range p.Steps() {
		ids = append(ids, s.ID)
	}
	return spec.Hint(id, ids)
}

// Eval returns the plan's expression compiler.
func (p *Plan) Eval() *eval.Compiler { return p.eval }

// compiler collects the errors of one Compile.
type compiler struct {
	proc *spec.Procedure
	errs spec.ErrorList
	ev   *eval.Compiler
	// calls is the Load this compile is part of: call steps compile
	// their callees there.
	calls *compilation
}

func (c *compiler) errorf(pos spec.Pos, step, format string, args ...any) {
	c.errs = append(c.errs, c.proc.Source.Errorf(pos, step, format, args...))
}

// exprErr reports an expression error at its column inside the YAML.
func (c *compiler) exprErr(v *spec.Value, step string, err error) {
	pos := v.Pos
	msg := err.Error()
	if e, ok := err.(*eval.Error); ok {
		pos = c.proc.Source.Locate(v, e.Offset)
		msg = e.Msg
	}
	c.errorf(pos, step, "%s", msg)
}

func (c *compiler) template(v *spec.Value, step string) *eval.Template {
	if v == nil {
		return nil
	}
	t, err := c.ev.Template(v.Str)
	if err != nil {
		c.exprErr(v, step, err)
		return nil
	}
	return t
}

func (c *compiler) shellTemplate(v *spec.Value, step string, d eval.Dialect) *eval.Template {
	if v == nil {
		return nil
	}
	t, err := c.ev.ShellTemplate(v.Str, d)
	if err != nil {
		c.exprErr(v, step, err)
		return nil
	}
	return t
}

// Load decodes and compiles a procedure file, reporting the errors of both
// stages together (a spec.ErrorList in file order). It has no resolver: a
// call step with a literal target is a load error (see KindContext.Callee);
// a Loader with Resolve compiles what it calls.
func Load(file string, text []byte, reg *Registry) (*Plan, error) {
	return (&Loader{Registry: reg}).Load(Source{Path: file, Text: text})
}

// dedupe drops errors reported twice at one position (a flaw the decoder
// saw that compiling a partial procedure sees again).
func dedupe(l spec.ErrorList) spec.ErrorList {
	seen := map[string]bool{}
	out := l[:0]
	for _, e := range l {
		k := fmt.Sprintf("%s:%d:%d:%s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// Compile checks a decoded procedure against the registry and builds its
// plan. The error is a spec.ErrorList with every problem found. Like Load,
// it has no resolver for call steps.
func Compile(p *spec.Procedure, reg *Registry) (*Plan, error) {
	return (&Loader{Registry: reg}).Compile(p)
}

// compile builds p's plan within calls, the Load it is part of.
func compile(p *spec.Procedure, calls *compilation) (*Plan, error) {
	reg := calls.reg
	decl := eval.Decl{}
	for _, pm := range p.Params {
		ep := eval.Param{Name: pm.Name, Type: pm.Type}
		if pm.Items != nil {
			ep.Fields = map[string]string{}
			for _, f := range pm.Items {
				ep.Fields[f.Name] = f.Type
			}
		}
		decl.Params = append(decl.Params, ep)
	}
	all := append(append(append([]*spec.Step{}, p.Steps...), p.OnFailure...), p.Finally...)
	for _, s := range all {
		if s.ID != "" {
			decl.Steps = append(decl.Steps, s.ID)
		}
	}
	c := &compiler{proc: p, ev: eval.NewCompiler(decl), calls: calls}
	sum := sha256.Sum256(p.Text)
	plan := &Plan{Procedure: p, Hash: hex.EncodeToString(sum[:]), byID: map[string]*Step{}, eval: c.ev, reg: reg}

	for _, e := range p.Env {
		if t := c.template(e.Value, ""); t != nil {
			plan.Env = append(plan.Env, EnvVar{Name: e.Name, Value: t})
		}
	}
	order := 0
	build := func(list []*spec.Step) []*Step {
		var out []*Step
		for _, s := range list {
			st := c.step(s, reg)
			st.Order = order
			order++
			out = append(out, st)
			if s.ID != "" {
				plan.byID[s.ID] = st
			}
		}
		return out
	}
	for _, n := range p.Notifications {
		if h := c.notification(n); h != nil {
			plan.Notifications = append(plan.Notifications, h)
		}
	}
	plan.Main = build(p.Steps)
	plan.OnFailure = build(p.OnFailure)
	plan.Finally = build(p.Finally)
	for _, sec := range [][]*Step{plan.Main, plan.OnFailure, plan.Finally} {
		c.link(sec, plan.byID)
	}
	c.cycles(plan.Main)
	c.cycles(plan.OnFailure)
	c.cycles(plan.Finally)
	if len(c.errs) > 0 {
		return nil, sortErrors(dedupe(c.errs), c.proc.Source.File)
	}
	return plan, nil
}

func (c *compiler) step(s *spec.Step, reg *Registry) *Step {
	st := &Step{Spec: s, ID: s.ID, Section: s.Section, Kind: s.Kind, refs: &eval.StepRefs{}}
	// What the step's expressions read of other steps: data() builds only that.
	c.ev.Collect(st.refs)
	defer c.ev.Collect(nil)
	if s.ForEach != nil {
		c.ev.Loop(c.forEach(s, st))
		defer c.ev.Loop(nil)
	}
	if s.If != nil {
		cond, err := c.ev.Condition(s.If.Str)
		if err != nil {
			c.exprErr(s.If, s.ID, err)
		}
		st.If = cond
	}
	for _, e := range s.Env {
		if t := c.template(e.Value, s.ID); t != nil {
			st.Env = append(st.Env, EnvVar{Name: e.Name, Value: t})
		}
	}
	st.Dir = c.template(s.Dir, s.ID)
	if s.Retry != nil && s.Retry.If != nil {
		cond, err := c.ev.RetryCondition(s.Retry.If.Str)
		if err != nil {
			c.exprErr(s.Retry.If, s.ID, err)
		}
		st.RetryIf = cond
	}
	// A non-scalar action value was reported by the decoder already.
	if s.Kind != "" && s.Arg != nil && s.Arg.Kind == spec.Scalar {
		if k, ok := reg.kinds[s.Kind]; !ok {
			// Load decodes with the registry's keys; a procedure decoded
			// with others may still name a kind this build lacks.
			c.errorf(s.KindPos, s.ID, "step kind %q is not available in this build (available: %s)", s.Kind, strings.Join(reg.Keys(), ", "))
		} else {
			st.Action = c.compileStep(k, s, st)
		}
	}
	st.DefHash = defHash(s.Def)
	st.OnResume = s.OnResume
	if st.OnResume == "" {
		st.OnResume = "rerun"
		if st.Action != nil {
			st.OnResume = st.Action.DefaultOnResume()
		}
		if s.Idempotent != nil && !*s.Idempotent {
			st.OnResume = "ask"
		}
	}
	return st
}

// forEach compiles a step's for_each and says what its expressions know
// of item.
func (c *compiler) forEach(s *spec.Step, st *Step) *eval.Item {
	v := s.ForEach
	if v.Kind == spec.List {
		st.Items = make([]any, 0, len(v.List))
		keys := make([][]string, 0, len(v.List))
		for _, x := range v.List {
			st.Items = append(st.Items, x.Plain())
			var ks []string
			if x.Kind == spec.Map {
				ks = []string{}
				for _, e := range x.Map {
					ks = append(ks, e.Key)
				}
			}
			keys = append(keys, ks)
		}
		if len(keys) > 0 && !slices.ContainsFunc(keys, func(k []string) bool { return k != nil }) {
			keys = nil // scalars only
		}
		return eval.WrittenItem(keys)
	}
	l, err := c.ev.List(v.Str)
	if err != nil {
		c.exprErr(v, s.ID, err)
		return &eval.Item{}
	}
	st.ForEach = l
	if it := l.Item(); it != nil {
		return it
	}
	return &eval.Item{}
}

// defHash hashes a step's definition as data, so that reformatting the file
// does not count as a change.
func defHash(v *spec.Value) string {
	b, _ := json.Marshal(v.Plain())
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// link resolves needs: explicit ids, or the previous step of the section.
func (c *compiler) link(sec []*Step, byID map[string]*Step) {
	for i, st := range sec {
		s := st.Spec
		if !s.NeedsSet {
			if i > 0 {
				st.Needs = []*Step{sec[i-1]}
			}
			continue
		}
		seen := map[string]bool{}
		for _, r := range s.Needs {
			dep, ok := byID[r.ID]
			switch {
			case !ok:
				ids := make([]string, 0, len(sec))
				for _, o := range sec {
					if o.ID != s.ID { // a step cannot need itself: never the hint
						ids = append(ids, o.ID)
					}
				}
				h := spec.Hint(r.ID, ids)
				c.errorf(r.Pos, s.ID, "needs unknown step %q%s", r.ID, h)
			case dep.Section != st.Section:
				c.errorf(r.Pos, s.ID, "needs %q, which is in %s: needs cannot cross sections; %s", r.ID, dep.Section, crossSection(st.Section, dep))
			case dep == st:
				c.errorf(r.Pos, s.ID, "step needs itself")
			case seen[r.ID]:
				c.errorf(r.Pos, s.ID, "needs %q twice", r.ID)
			default:
				seen[r.ID] = true
				st.Needs = append(st.Needs, dep)
			}
		}
	}
}

// crossSection explains why a step of one section cannot need one of another.
func crossSection(from string, dep *Step) string {
	switch {
	case dep.Section == spec.SectionMain:
		return fmt.Sprintf("%s runs after the main steps have ended anyway (to act on how %q ended, use if: with steps.%s.status)", from, dep.ID, dep.ID)
	case from == spec.SectionMain:
		return fmt.Sprintf("%s runs only after the main steps have ended", dep.Section)
	case from == spec.SectionFinally:
		return "finally runs after on_failure anyway"
	}
	return "finally runs after on_failure, never before it"
}

// cycles reports each dependency cycle once, naming every link, at an
// explicit needs entry of the cycle where there is one.
func (c *compiler) cycles(sec []*Step) {
	const (
		white = iota
		grey
		black
	)
	color := map[*Step]int{}
	var stack []*Step
	var visit func(s *Step)
	visit = func(s *Step) {
		color[s] = grey
		stack = append(stack, s)
		for _, d := range s.Needs {
			switch color[d] {
			case white:
				visit(d)
			case grey:
				start := 0
				for i, x := range stack {
					if x == d {
						start = i
					}
				}
				// ring[i] needs ring[i+1], and the last needs the first.
				ring := append([]*Step{s}, stack[start:len(stack)-1]...)
				c.cycle(ring)
			}
		}
		stack = stack[:len(stack)-1]
		color[s] = black
	}
	for _, s := range sec {
		if color[s] == white {
			visit(s)
		}
	}
}

// cycle reports one dependency cycle: ring[i] needs ring[i+1], the last
// needs the first. A link is implicit when the step has no needs: and
// follows the step written before it.
func (c *compiler) cycle(ring []*Step) {
	ref := func(i int) (spec.Pos, bool) {
		from, to := ring[i], ring[(i+1)%len(ring)]
		if from.Spec.NeedsSet {
			for _, r := range from.Spec.Needs {
				if r.ID == to.ID {
					return r.Pos, true
				}
			}
		}
		return from.Spec.Pos, false
	}
	first := 0
	for i := range ring {
		if _, ok := ref(i); ok {
			first = i
			break
		}
	}
	ring = append(ring[first:], ring[:first]...)
	var links []string
	implicit := false
	for i, from := range ring {
		to := ring[(i+1)%len(ring)]
		if _, ok := ref(i); ok {
			links = append(links, fmt.Sprintf("%s needs %s", from.ID, to.ID))
		} else {
			links = append(links, fmt.Sprintf("%s follows %s", from.ID, to.ID))
			implicit = true
		}
	}
	msg := "dependency cycle: " + strings.Join(links, ", ")
	if implicit {
		msg += " (a step without needs: runs after the step written before it)"
	}
	pos, _ := ref(0)
	c.errorf(pos, ring[0].ID, "%s", msg)
}
