package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/rbflow/rbflow/engine/spec"
)

// Callee is a procedure a call step names, resolved and compiled with the
// procedure that calls it (or, for a target built with ${{ }}, when the
// step starts).
type Callee struct {
	Plan   *Plan
	Source Source
}

// compilation is one Load: the procedures being compiled, the caller
// outermost, and every callee compiled so far, so that a procedure called
// twice compiles once and a call cycle is seen instead of followed.
type compilation struct {
	reg     *Registry
	resolve Resolver
	stack   []string // paths being compiled, outermost first
	done    map[string]*compiledCallee
	// stored compiles the text a run started with: a callee that no longer
	// loads as written (deleted or edited since, by the rollback itself
	// perhaps) is left to be resolved when its step starts, so that a
	// resumed run can go on with the child it started.
	stored bool
}

// compiledCallee is a callee's plan, or the errors it failed with.
type compiledCallee struct {
	callee *Callee
	errs   spec.ErrorList
}

func (l *Loader) compilation() *compilation {
	return &compilation{reg: l.Registry, resolve: l.Resolve, done: map[string]*compiledCallee{}}
}

// load decodes and compiles src, reporting the errors of both stages
// together: those of src by position, then those of the procedures it
// calls.
func (s *compilation) load(src Source) (*Plan, error) {
	p, errs := s.reg.Decoder().Decode(src.Path, src.Text)
	if p == nil {
		return nil, errs
	}
	plan, err := s.compile(p)
	if len(errs) == 0 {
		return plan, err
	}
	if l, ok := err.(spec.ErrorList); ok {
		errs = append(errs, l...)
	}
	return nil, sortErrors(dedupe(errs), src.Path)
}

// compile compiles p with p on the stack of procedures being compiled.
func (s *compilation) compile(p *spec.Procedure) (*Plan, error) {
	s.stack = append(s.stack, p.File)
	defer func() { s.stack = s.stack[:len(s.stack)-1] }()
	return compile(p, s)
}

// procKey identifies a procedure file whatever path named it: built-ins
// by their builtin:NAME path, files by their absolute path.
func procKey(path string) string {
	if strings.HasPrefix(path, "builtin:") {
		return path
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// Callee resolves and compiles the procedure a call step names with the
// literal ref (a built-in name or a path, relative to the calling file
// first), and checks params, the step's with.params map (nil when not
// written), against the params the procedure declares: unknown names,
// required params left out, and literal values of the wrong type or not
// in the enum. Values built with ${{ }} are checked when the step starts.
// Each problem is reported at ref or at the param, and Callee returns
// false. A call cycle is reported, naming the chain, instead of followed.
// When a stored run's text is compiled (Loader.LoadStored), a callee that
// no longer loads is no error: Callee returns nil and true, and the step
// resolves its target when it starts (or goes on with the child it
// started).
//
// A loader without a resolver (engine.Load, engine.Compile) cannot find
// procedures: a literal call target is a load error there.
func (c *KindContext) Callee(ref, params *spec.Value) (*Callee, bool) {
	if !c.comp.calls.stored {
		callee := c.callee(ref, params)
		return callee, callee != nil
	}
	// Check on a scratch compiler: what it finds is not an error here.
	saved := c.comp.errs
	callee := c.callee(ref, params)
	c.comp.errs = saved
	return callee, true
}

func (c *KindContext) callee(ref, params *spec.Value) *Callee {
	s, name := c.comp.calls, strings.TrimSpace(ref.Str)
	if s.resolve == nil {
		c.Errorf(ref.Pos, "cannot resolve procedure %q: this loader finds no procedures (load with an engine.Loader that has Resolve)", name)
		return nil
	}
	src, err := s.resolve(name, c.Procedure.File)
	if err != nil {
		// err goes in whole: only string arguments are shortened.
		note := ""
		if errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(name) {
			note = " (a relative path is looked for next to the calling file, then from the current directory)"
		}
		c.Errorf(ref.Pos, "cannot call %q: %v%s", name, err, note)
		return nil
	}
	key := procKey(src.Path)
	for i, p := range s.stack {
		if procKey(p) == key {
			c.Errorf(ref.Pos, "call cycle: %s", callChain(slices.Concat(s.stack[i:], []string{src.Path})))
			return nil
		}
	}
	done, ok := s.done[key]
	if !ok {
		plan, err := s.load(src)
		done = &compiledCallee{}
		if err != nil {
			done.errs = errorList(src.Path, err)
		} else {
			done.callee = &Callee{Plan: plan, Source: src}
		}
		s.done[key] = done
	}
	if done.callee == nil {
		files := map[string]bool{}
		for _, e := range done.errs {
			files[e.File] = true
		}
		where := src.Path
		if len(files) > 1 {
			where += " and the procedures it calls"
		}
		what := "the error"
		if n := len(done.errs); n > 1 {
			what = fmt.Sprintf("the %d errors", n)
		}
		c.Errorf(ref.Pos, "called procedure %q does not load: fix %s in %s, listed below", name, what, where)
		c.comp.errs = append(c.comp.errs, done.errs...)
		return nil
	}
	if !c.checkCallParams(done.callee.Plan.Procedure, ref, params) {
		return nil
	}
	return done.callee
}

// checkCallParams checks a call step's with.params against the params
// the callee declares, as ResolveParams will when the step starts.
func (c *KindContext) checkCallParams(callee *spec.Procedure, ref, params *spec.Value) bool {
	decl := map[string]*spec.Param{}
	var names []string
	for _, pm := range callee.Params {
		decl[pm.Name] = pm
		names = append(names, pm.Name)
	}
	ok := true
	// given holds the params written, and those a misspelt name was taken
	// for: that one error is enough.
	given := map[string]bool{}
	if params != nil && params.Kind == spec.Map {
		for _, e := range params.Map {
			pm, known := decl[e.Key]
			switch {
			case !known && len(names) == 0:
				c.Errorf(e.KeyPos, "unknown param %q: %s takes no params", e.Key, callee.Name)
				ok = false
				continue
			case !known:
				c.Errorf(e.KeyPos, "unknown param %q%s: %s takes %s", e.Key, spec.Hint(e.Key, names), callee.Name, strings.Join(names, ", "))
				given[spec.Suggest(e.Key, names)] = true
				ok = false
				continue
			}
			given[e.Key] = true
			if hasExpr(e.Value) {
				continue
			}
			if _, err := typed(pm, e.Value.Plain()); err != nil {
				c.Errorf(e.Value.Pos, "param %s of %s: %v", e.Key, callee.Name, err)
				ok = false
			}
		}
	}
	var missing []string
	for _, pm := range callee.Params {
		if pm.Required && pm.Default == nil && !given[pm.Name] && pm.FromEnv == "" && pm.FromFile == "" {
			missing = append(missing, pm.Name)
		}
	}
	if len(missing) > 0 {
		pos := ref.Pos
		if params != nil {
			pos = params.Pos
		}
		if len(missing) == 1 {
			c.Errorf(pos, "%s requires param %s (it has no default): give it in with.params", callee.Name, missing[0])
		} else {
			c.Errorf(pos, "%s requires params %s (they have no default): give them in with.params", callee.Name, strings.Join(missing, ", "))
		}
		ok = false
	}
	return ok
}

// hasExpr reports whether any scalar inside v holds ${{ }}.
func hasExpr(v *spec.Value) bool {
	switch v.Kind {
	case spec.Scalar:
		return strings.Contains(v.Str, "${{")
	case spec.List:
		for _, x := range v.List {
			if hasExpr(x) {
				return true
			}
		}
	case spec.Map:
		for _, e := range v.Map {
			if hasExpr(e.Value) {
				return true
			}
		}
	}
	return false
}

// callChain names a call cycle: chain[i] calls chain[i+1], and the last is
// the first again.
func callChain(chain []string) string {
	if len(chain) == 2 {
		return chain[0] + " calls itself"
	}
	links := make([]string, 0, len(chain)-1)
	for i := 0; i+1 < len(chain); i++ {
		links = append(links, chain[i]+" calls "+chain[i+1])
	}
	return strings.Join(links, ", ")
}

// errorList is err as a list of positioned errors; an error without a
// position (a file that cannot be read) is placed at the top of file.
func errorList(file string, err error) spec.ErrorList {
	var l spec.ErrorList
	if errors.As(err, &l) {
		return l
	}
	return spec.ErrorList{{File: file, Msg: err.Error()}}
}

// sortErrors puts the errors of file first, by position, then the errors
// of the procedures it calls in the order they were found (each callee's
// own already sorted).
func sortErrors(l spec.ErrorList, file string) spec.ErrorList {
	var own, called spec.ErrorList
	for _, e := range l {
		if e.File == file {
			own = append(own, e)
		} else {
			called = append(called, e)
		}
	}
	sort.SliceStable(own, func(i, j int) bool {
		a, b := own[i].Pos, own[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return append(own, called...)
}
