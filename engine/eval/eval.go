package eval

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/rbflow/rbflow/engine/spec"
)

// Param declares one typed procedure parameter to the compiler.
type Param struct {
	Name string
	Type string // string, int, bool, list or command (a string that is code)
	// Fields are the fields of a list of records (a list param with
	// items:), by name, with their types; nil for a list of strings.
	Fields map[string]string
}

// Item is what the expressions of a step with for_each know of item.
type Item struct {
	// Fields are the fields of the items when they are records whose
	// shape is known (nil otherwise), each true when its value may run as
	// code: a field of type command, or a value written in the procedure.
	Fields map[string]bool
	// Written reports whether the items are written in the procedure
	// itself (a for_each list): such a value may run as code.
	Written bool
}

// Decl is what expressions of one procedure may refer to.
type Decl struct {
	Params []Param
	Steps  []string // every step id of the procedure
}

// StepState is what steps.<id> holds in an expression.
type StepState struct {
	Status     string         `expr:"status"`
	Outcome    string         `expr:"outcome"`
	Conclusion string         `expr:"conclusion"`
	ExitCode   int            `expr:"exit_code"`
	Outputs    map[string]any `expr:"outputs"`
	Duration   float64        `expr:"duration"`
	Attempts   int            `expr:"attempts"`
}

// RunState is what run.* holds in an expression.
type RunState struct {
	ID         string  `expr:"id"`
	Procedure  string  `expr:"procedure"`
	Dir        string  `expr:"dir"`
	Elapsed    float64 `expr:"elapsed"` // seconds
	Target     float64 `expr:"target"`  // seconds, 0 when the procedure has none
	Status     string  `expr:"status"`
	FailedStep string  `expr:"failed_step"`
}

// AttemptState is what a retry.if expression sees of the last attempt.
type AttemptState struct {
	ExitCode int            `expr:"exit_code"`
	Error    string         `expr:"error"`
	Outputs  map[string]any `expr:"outputs"`
	Status   string         `expr:"status"`
}

// Funcs are the host functions of §2.3. The engine fills them per run.
type Funcs struct {
	FileExists      func(path string) bool
	Glob            func(pattern string) []string
	ChangedFiles    func(base string) []string
	RefExists       func(ref string) bool
	CurrentBranch   func() string
	IsDirty         func() bool
	DiskUsedPercent func(path string) float64
	MemAvailableMB  func() float64
	EnvOr           func(name, def string) string
}

// Status is the status-function view of one evaluation.
type Status struct {
	Success   bool // no dependency failed and the run is not cancelled
	Failure   bool // a dependency (or, in on_failure and finally, the run) failed
	Cancelled bool // the run was interrupted or cancelled
}

// Data is the runtime content of an expression environment.
type Data struct {
	Params  map[string]any
	Env     map[string]string
	Steps   map[string]StepState
	Run     RunState
	Status  Status
	Funcs   Funcs
	Attempt int          // retry.if only
	Result  AttemptState // retry.if only
	Item    any          // a step with for_each: the item it runs for
	Index   int          // and that item's index
}

// statusFuncs are the functions that switch off the implicit success().
var statusFuncs = []string{"success", "failure", "always", "cancelled"}

// Compiler compiles the expressions of one procedure against its typed
// environment. It is safe for use by one goroutine.
type Compiler struct {
	refs      map[string]StepRefs // by cache key
	collect   *StepRefs
	loop      *Item // the step being compiled has for_each: item and index exist
	decl      Decl
	stepIDs   map[string]bool
	paramType reflect.Type
	envType   reflect.Type // for if: and ${{ }}
	retryType reflect.Type // for retry.if
	cache     map[string]*vm.Program
}

// Error is an expression error. Offset is the byte offset into the source
// string given to Condition or Template.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// NewCompiler prepares the environment types for a procedure.
func NewCompiler(d Decl) *Compiler {
	c := &Compiler{decl: d, stepIDs: make(map[string]bool, len(d.Steps)), cache: map[string]*vm.Program{}, refs: map[string]StepRefs{}}
	for _, id := range d.Steps {
		c.stepIDs[id] = true
	}
	var pf []reflect.StructField
	for i, p := range d.Params {
		pf = append(pf, reflect.StructField{
			Name: fmt.Sprintf("P%d", i),
			Type: paramGoType(p),
			Tag:  reflect.StructTag(fmt.Sprintf(`expr:%q`, p.Name)),
		})
	}
	c.paramType = reflect.StructOf(pf)
	base := []reflect.StructField{
		{Name: "Params", Type: c.paramType, Tag: `expr:"params"`},
		{Name: "Env", Type: reflect.TypeFor[map[string]string](), Tag: `expr:"env"`},
		{Name: "Steps", Type: reflect.TypeFor[map[string]StepState](), Tag: `expr:"steps"`},
		{Name: "Run", Type: reflect.TypeFor[RunState](), Tag: `expr:"run"`},
		{Name: "Success", Type: reflect.TypeFor[func() bool](), Tag: `expr:"success"`},
		{Name: "Failure", Type: reflect.TypeFor[func() bool](), Tag: `expr:"failure"`},
		{Name: "Always", Type: reflect.TypeFor[func() bool](), Tag: `expr:"always"`},
		{Name: "Cancelled", Type: reflect.TypeFor[func() bool](), Tag: `expr:"cancelled"`},
		{Name: "FileExists", Type: reflect.TypeFor[func(string) bool](), Tag: `expr:"file_exists"`},
		{Name: "Glob", Type: reflect.TypeFor[func(string) []string](), Tag: `expr:"glob"`},
		{Name: "ChangedFiles", Type: reflect.TypeFor[func(string) []string](), Tag: `expr:"changed_files"`},
		{Name: "RefExists", Type: reflect.TypeFor[func(string) bool](), Tag: `expr:"ref_exists"`},
		{Name: "CurrentBranch", Type: reflect.TypeFor[func() string](), Tag: `expr:"current_branch"`},
		{Name: "IsDirty", Type: reflect.TypeFor[func() bool](), Tag: `expr:"is_dirty"`},
		{Name: "DiskUsedPercent", Type: reflect.TypeFor[func(string) float64](), Tag: `expr:"disk_used_percent"`},
		{Name: "MemAvailableMB", Type: reflect.TypeFor[func() float64](), Tag: `expr:"mem_available_mb"`},
		{Name: "EnvOr", Type: reflect.TypeFor[func(string, string) string](), Tag: `expr:"env_or"`},
		{Name: "Item", Type: reflect.TypeFor[any](), Tag: `expr:"item"`},
		{Name: "Index", Type: reflect.TypeFor[int](), Tag: `expr:"index"`},
	}
	c.envType = reflect.StructOf(base)
	c.retryType = reflect.StructOf(append(slices.Clone(base),
		reflect.StructField{Name: "Attempt", Type: reflect.TypeFor[int](), Tag: `expr:"attempt"`},
		reflect.StructField{Name: "Result", Type: reflect.TypeFor[AttemptState](), Tag: `expr:"result"`},
	))
	return c
}

func paramGoType(p Param) reflect.Type {
	if p.Type == "list" && p.Fields != nil {
		return reflect.TypeFor[[]map[string]any]()
	}
	switch p.Type {
	case "int":
		return reflect.TypeFor[int]()
	case "bool":
		return reflect.TypeFor[bool]()
	case "list":
		return reflect.TypeFor[[]string]()
	}
	return reflect.TypeFor[string]()
}

// Condition is a compiled if: expression.
type Condition struct {
	Source   string
	prog     *vm.Program
	implicit bool // no status function: evaluated as success() && (...)
	retry    bool
	runtime  bool
	status   bool     // uses the run's status, elapsed time or status functions
	steps    []string // step ids it reads; nil when none (or not literal)
	reads    string   // the first call that reads the machine or the clock
}

// Condition compiles an if: expression. It must be boolean; a ${{ }} inside
// it is an error.
func (c *Compiler) Condition(src string) (*Condition, error) {
	return c.condition(src, false)
}

// RetryCondition compiles a retry.if expression, which also sees attempt and
// result.
func (c *Compiler) RetryCondition(src string) (*Condition, error) {
	return c.condition(src, true)
}

func (c *Compiler) condition(src string, retry bool) (*Condition, error) {
	if i := strings.Index(src, "${{"); i >= 0 {
		return nil, &Error{Offset: i, Msg: "${{ }} does not belong in if: write the bare expression (inside if, ${{ }} makes a string that is always true)"}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Offset: 0, Msg: "empty expression"}
	}
	prog, err := c.compile(src, retry, true)
	if err != nil {
		return nil, err
	}
	cond := &Condition{Source: src, prog: prog, retry: retry, implicit: true, runtime: usesRuntime(prog.Node()),
		status: usesRunState(prog.Node()), steps: stepRefs(prog.Node()), reads: readsMachine(prog.Node())}
	if usesStatusFunc(prog.Node()) {
		cond.implicit = false
	}
	return cond, nil
}

// Runtime reports whether the value depends on what earlier steps did
// (steps.*, run status, status functions): a dry run cannot know it.
func (c *Condition) Runtime() bool { return c.runtime }

// StepRefs lists the step ids the condition reads (steps.<id>), and
// whether it also depends on the run's state (status functions, run.status,
// run.elapsed): with neither it is known before anything runs.
func (c *Condition) StepRefs() (ids []string, runState bool) { return c.steps, c.status }

// Reads names the first function the condition calls whose value is not
// a function of the expression's data alone: a host function (it reads
// the machine: file_exists(), is_dirty()), now() and date() (the clock),
// keys() and values() (Go's map order). It is "" when the condition gives
// the same value for the same params, env, steps and run wherever and
// whenever it is evaluated, as a Temporal workflow needs (engine/fleet
// evaluates the others on the step's host).
func (c *Condition) Reads() string { return c.reads }

// unsteadyFuncs are the expr-lang built-ins whose value is not a function
// of their arguments.
var unsteadyFuncs = map[string]bool{"now": true, "date": true, "keys": true, "values": true}

func readsMachine(root ast.Node) string {
	found := ""
	ast.Find(root, func(n ast.Node) bool {
		name := ""
		switch m := n.(type) {
		case *ast.CallNode:
			if id, ok := m.Callee.(*ast.IdentifierNode); ok {
				name = id.Value
			}
		case *ast.BuiltinNode:
			name = m.Name
		}
		if name != "" && found == "" && (slices.Contains(funcNames, name) || unsteadyFuncs[name]) {
			found = name + "()"
		}
		return false
	})
	return found
}

// stepRefs lists the literal steps.<id> references; a dynamic one
// (steps[x]) gives nil with "steps" in the list, which matches no id.
func stepRefs(root ast.Node) []string {
	var ids []string
	seen := map[string]bool{}
	ast.Find(root, func(n ast.Node) bool {
		if m, ok := n.(*ast.MemberNode); ok {
			if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "steps" {
				name := "steps"
				if p, ok := m.Property.(*ast.StringNode); ok {
					name = p.Value
				}
				if !seen[name] {
					seen[name] = true
					ids = append(ids, name)
				}
			}
		}
		return false
	})
	return ids
}

func usesRunState(root ast.Node) bool {
	return ast.Find(root, func(n ast.Node) bool {
		switch m := n.(type) {
		case *ast.MemberNode:
			if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "run" {
				if p, ok := m.Property.(*ast.StringNode); ok {
					return p.Value == "status" || p.Value == "failed_step" || p.Value == "elapsed"
				}
			}
		case *ast.CallNode:
			if id, ok := m.Callee.(*ast.IdentifierNode); ok {
				return id.Value == "failure" || id.Value == "cancelled"
			}
		}
		return false
	}) != nil
}

func usesRuntime(root ast.Node) bool {
	return ast.Find(root, func(n ast.Node) bool {
		switch m := n.(type) {
		case *ast.IdentifierNode:
			return m.Value == "steps"
		case *ast.MemberNode:
			if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "run" {
				if p, ok := m.Property.(*ast.StringNode); ok {
					return p.Value == "status" || p.Value == "failed_step" || p.Value == "elapsed"
				}
			}
		case *ast.CallNode:
			if id, ok := m.Callee.(*ast.IdentifierNode); ok {
				return id.Value == "failure" || id.Value == "cancelled"
			}
		}
		return false
	}) != nil
}

// Implicit reports whether the condition is evaluated as success() && (...).
func (c *Condition) Implicit() bool { return c.implicit }

// Eval evaluates the condition.
func (c *Condition) Eval(env *Env) (bool, error) {
	if c.implicit && !env.data.Status.Success {
		return false, nil
	}
	out, err := vm.Run(c.prog, env.value(c.retry))
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", c.Source, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: result is %T, not a boolean", c.Source, out)
	}
	return b, nil
}

// Limits on one expression: expr-lang's parser and checker recurse once per
// level of nesting, and a hostile procedure must not exhaust the stack or
// the memory of rbflow validate.
const (
	maxExprBytes = 64 << 10
	maxExprDepth = 64
)

// checkSize refuses an expression too long or too deeply nested, at the
// offset where it goes over, before any parser sees it.
func checkSize(src string) *Error {
	if len(src) > maxExprBytes {
		return &Error{Offset: maxExprBytes, Msg: fmt.Sprintf("expression is %d bytes, over the limit of %d KiB", len(src), maxExprBytes>>10)}
	}
	depth := 0
	var quote byte
	for i := 0; i < len(src); i++ {
		b := src[i]
		switch {
		case quote != 0:
			if b == '\\' {
				i++
			} else if b == quote {
				quote = 0
			}
		case b == '"' || b == '\'' || b == '`':
			quote = b
		case b == '(' || b == '[' || b == '{':
			if depth++; depth > maxExprDepth {
				return &Error{Offset: i, Msg: fmt.Sprintf("expression nests brackets more than %d deep", maxExprDepth)}
			}
		case b == ')' || b == ']' || b == '}':
			depth--
		}
	}
	return nil
}

func (c *Compiler) compile(src string, retry, asBool bool) (*vm.Program, error) {
	key := src
	if retry {
		key = "\x00r" + key
	}
	if asBool {
		key = "\x00b" + key
	}
	if c.loop != nil {
		key = c.loop.key() + key
	}
	if p, ok := c.cache[key]; ok {
		c.collectRefs(c.refs[key])
		return p, nil
	}
	typ := c.envType
	if retry {
		typ = c.retryType
	}
	opts := []expr.Option{expr.Env(reflect.New(typ).Elem().Interface()), compareOption, expr.Patch(comparePatch{})}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	if err := checkSize(src); err != nil {
		return nil, err
	}
	tree, err := parser.Parse(src)
	if err != nil {
		e := exprError(src, err)
		if e.Msg == "unexpected token EOF" {
			e.Msg = "unexpected end: an operand or a closing bracket is missing"
		}
		if m := operatorCall().FindStringSubmatch(src[e.Offset:]); m != nil && e.Msg == fmt.Sprintf("unexpected token Operator(%q)", m[1]) {
			e.Msg = fmt.Sprintf("%s is not a function: %s", m[1], otherToolFuncs[m[1]])
			return nil, e
		}
		e.Msg = "bad expression: " + e.Msg
		return nil, e
	}
	if err := c.checkRefs(src, tree.Node, retry); err != nil {
		return nil, err
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		e := exprError(src, err)
		if t, ok := strings.CutPrefix(e.Msg, "expected bool, but got "); ok && asBool {
			e.Msg = fmt.Sprintf("expected bool, but the expression gives %s: a condition must be true or false (compare the value, e.g. n > 0 or s != \"\")", t)
		}
		return nil, e
	}
	c.cache[key] = prog
	refs := stepRefsOf(tree.Node)
	c.refs[key] = refs
	c.collectRefs(refs)
	return prog, nil
}

// StepRefs are the steps whose state a step's expressions read: the ids
// named as steps.<id>, or All when some expression reads steps otherwise
// (steps[name], the whole map).
type StepRefs struct {
	IDs map[string]bool
	All bool
	// Git names a function that asks git (current_branch, ref_exists,
	// changed_files, is_dirty) when an expression calls one: the step
	// needs a git repository.
	Git string
}

// gitFuncs are the host functions that ask git.
var gitFuncs = map[string]bool{"current_branch": true, "ref_exists": true, "changed_files": true, "is_dirty": true}

// Collect makes the compiler add the step references of every expression
// it compiles from now on to r (nil: stop).
func (c *Compiler) Collect(r *StepRefs) { c.collect = r }

func (c *Compiler) collectRefs(r StepRefs) {
	if c.collect == nil {
		return
	}
	if r.All {
		c.collect.All = true
	}
	if r.Git != "" && c.collect.Git == "" {
		c.collect.Git = r.Git
	}
	for id := range r.IDs {
		if c.collect.IDs == nil {
			c.collect.IDs = map[string]bool{}
		}
		c.collect.IDs[id] = true
	}
}

// stepRefsOf finds the steps an expression reads.
func stepRefsOf(root ast.Node) StepRefs {
	var r StepRefs
	named, uses := 0, 0
	ast.Find(root, func(n ast.Node) bool {
		switch m := n.(type) {
		case *ast.IdentifierNode:
			if m.Value == "steps" {
				uses++
			}
		case *ast.CallNode:
			if id, ok := m.Callee.(*ast.IdentifierNode); ok && gitFuncs[id.Value] && r.Git == "" {
				r.Git = id.Value + "()"
			}
		case *ast.MemberNode:
			if base, ok := m.Node.(*ast.IdentifierNode); ok && base.Value == "steps" {
				if prop, ok := m.Property.(*ast.StringNode); ok {
					named++
					if r.IDs == nil {
						r.IDs = map[string]bool{}
					}
					r.IDs[prop.Value] = true
				}
			}
		}
		return false
	})
	r.All = uses > named
	return r
}

// checkRefs rejects names the procedure does not have, with a hint: expr
// would silently give nil for a missing map key (steps.<id>), and its own
// messages for struct fields name Go types the user never wrote.
func (c *Compiler) checkRefs(src string, root ast.Node, retry bool) error {
	var params []string
	for _, p := range c.decl.Params {
		params = append(params, p.Name)
	}
	locals := map[string]bool{}
	callees := map[ast.Node]bool{}
	ast.Find(root, func(n ast.Node) bool {
		switch v := n.(type) {
		case *ast.VariableDeclaratorNode:
			locals[v.Name] = true
		case *ast.CallNode:
			callees[v.Callee] = true
		}
		return false
	})
	var found *Error
	fail := func(n ast.Node, msg, name string, candidates []string) {
		msg += spec.Hint(name, candidates)
		found = &Error{Offset: locOffset(src, n.Location()), Msg: msg}
	}
	ast.Find(root, func(n ast.Node) bool {
		if found != nil {
			return true
		}
		switch m := n.(type) {
		case *ast.IdentifierNode:
			if locals[m.Value] || retry && (m.Value == "attempt" || m.Value == "result") || c.loop != nil && (m.Value == "item" || m.Value == "index") {
				return false
			}
			if m.Value == "item" || m.Value == "index" {
				fail(m, fmt.Sprintf("%s exists only in a step with for_each (the step runs once per item; item is the item, index its position from 0)", m.Value), m.Value, nil)
				return false
			}
			if !slices.Contains(globalNames, m.Value) && !slices.Contains(statusFuncs, m.Value) && !slices.Contains(funcNames, m.Value) {
				if isBuiltin(m.Value) {
					return false
				}
				if callees[m] {
					if note, ok := otherToolFuncs[m.Value]; ok {
						fail(m, fmt.Sprintf("unknown function %s: %s", m.Value, note), m.Value, nil)
						return false
					}
					fail(m, fmt.Sprintf("unknown function %s", m.Value), m.Value, functionNames())
					return false
				}
				names := append(slices.Clone(globalNames), funcNames...)
				if retry {
					names = append(names, "attempt", "result")
				}
				fail(m, fmt.Sprintf("unknown name %s", m.Value), m.Value, names)
			}
		case *ast.MemberNode:
			prop, ok := m.Property.(*ast.StringNode)
			if !ok {
				return false
			}
			switch base := m.Node.(type) {
			case *ast.IdentifierNode:
				switch base.Value {
				case "steps":
					if !c.stepIDs[prop.Value] {
						fail(m.Property, fmt.Sprintf("unknown step %q in steps.%s", prop.Value, prop.Value), prop.Value, c.decl.Steps)
					}
				case "params":
					if !slices.Contains(params, prop.Value) {
						msg := fmt.Sprintf("unknown param %q in params.%s", prop.Value, prop.Value)
						if spec.Suggest(prop.Value, params) == "" {
							if len(params) == 0 {
								msg += ": the procedure declares no params (add them under params:)"
							} else {
								msg += fmt.Sprintf(": declare it under params: (declared: %s)", strings.Join(params, ", "))
							}
						}
						fail(m.Property, msg, prop.Value, params)
					}
				case "run":
					if !slices.Contains(runFields, prop.Value) {
						fail(m.Property, fmt.Sprintf("run has no field %q (it has %s)", prop.Value, strings.Join(runFields, ", ")), prop.Value, runFields)
					}
				case "item":
					if c.loop != nil && c.loop.Fields != nil && !locals["item"] {
						if _, ok := c.loop.Fields[prop.Value]; !ok {
							names := slices.Sorted(maps.Keys(c.loop.Fields))
							fail(m.Property, fmt.Sprintf("an item has no field %q (it has %s)", prop.Value, strings.Join(names, ", ")), prop.Value, names)
						}
					}
				case "result":
					if retry && !locals["result"] && !slices.Contains(resultFields, prop.Value) {
						fail(m.Property, fmt.Sprintf("result has no field %q (it has %s)", prop.Value, strings.Join(resultFields, ", ")), prop.Value, resultFields)
					}
				}
			case *ast.MemberNode:
				if id, ok := base.Node.(*ast.IdentifierNode); ok && id.Value == "steps" {
					if !slices.Contains(stepFields, prop.Value) {
						fail(m.Property, fmt.Sprintf("a step has no field %q (it has %s)", prop.Value, strings.Join(stepFields, ", ")), prop.Value, stepFields)
					}
				}
			}
		}
		return false
	})
	if found != nil {
		return found
	}
	return nil
}

var (
	globalNames  = []string{"params", "env", "steps", "run"}
	funcNames    = []string{"file_exists", "glob", "changed_files", "ref_exists", "current_branch", "is_dirty", "disk_used_percent", "mem_available_mb", "env_or"}
	runFields    = []string{"id", "procedure", "dir", "elapsed", "target", "status", "failed_step"}
	stepFields   = []string{"status", "outcome", "conclusion", "exit_code", "outputs", "duration", "attempts"}
	resultFields = []string{"exit_code", "error", "outputs", "status"}
)

// otherToolFuncs are GitHub Actions functions that expr writes another
// way, with how.
var otherToolFuncs = map[string]string{
	"contains":   "here it is an operator: a contains b (text), b in a (a list)",
	"startsWith": "here it is an operator: a startsWith b",
	"endsWith":   "here it is an operator: a endsWith b",
	"format":     `join the text with + ("v" + params.x)`,
}

// operatorCall is a GitHub Actions function that expr has as an operator,
// called: contains(a, b).
var operatorCall = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(contains|startsWith|endsWith)\s*\(`) })

// functionNames are the functions an expression may call, for hints: the
// status functions, the host functions and expr's built-ins.
func functionNames() []string {
	names := append(slices.Clone(statusFuncs), funcNames...)
	for _, b := range builtin.Builtins {
		names = append(names, b.Name)
	}
	return names
}

func isBuiltin(name string) bool {
	_, ok := builtin.Index[name]
	return ok
}

func usesStatusFunc(root ast.Node) bool {
	return ast.Find(root, func(n ast.Node) bool {
		call, ok := n.(*ast.CallNode)
		if !ok {
			return false
		}
		id, ok := call.Callee.(*ast.IdentifierNode)
		return ok && slices.Contains(statusFuncs, id.Value)
	}) != nil
}

// exprError converts an expr error into an Error with a byte offset.
func exprError(src string, err error) *Error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &Error{Offset: lineColOffset(src, fe.Line, fe.Column), Msg: fe.Message}
	}
	return &Error{Offset: 0, Msg: err.Error()}
}

func locOffset(src string, loc file.Location) int {
	// Location.From counts runes.
	return runeOffset(src, loc.From)
}

func runeOffset(src string, runes int) int {
	off := 0
	for i := 0; i < runes && off < len(src); i++ {
		_, w := utf8.DecodeRuneInString(src[off:])
		off += w
	}
	return off
}

// lineColOffset maps expr's 1-based line and 0-based rune column to a byte offset.
func lineColOffset(src string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	return off + runeOffset(src[off:], col)
}

// Env is a runtime expression environment built from Data for one compiler.
type Env struct {
	c     *Compiler
	data  *Data
	base  any
	retry any
}

// Env binds runtime data to the compiler's environment types.
func (c *Compiler) Env(d *Data) *Env { return &Env{c: c, data: d} }

// Data returns the data the environment was built from.
func (e *Env) Data() *Data { return e.data }

func (e *Env) value(retry bool) any {
	if retry {
		if e.retry == nil {
			e.retry = e.c.build(e.data, true)
		}
		return e.retry
	}
	if e.base == nil {
		e.base = e.c.build(e.data, false)
	}
	return e.base
}

func (c *Compiler) build(d *Data, retry bool) any {
	typ := c.envType
	if retry {
		typ = c.retryType
	}
	v := reflect.New(typ).Elem()
	params := v.Field(0)
	for i, p := range c.decl.Params {
		if x, ok := d.Params[p.Name]; ok && x != nil {
			xv := reflect.ValueOf(x)
			if xv.Type().AssignableTo(params.Field(i).Type()) {
				params.Field(i).Set(xv)
			}
		}
	}
	env := d.Env
	if env == nil {
		env = map[string]string{}
	}
	v.Field(1).Set(reflect.ValueOf(env))
	steps := d.Steps
	if steps == nil {
		steps = map[string]StepState{}
	}
	v.Field(2).Set(reflect.ValueOf(steps))
	v.Field(3).Set(reflect.ValueOf(d.Run))
	st := d.Status
	v.Field(4).Set(reflect.ValueOf(func() bool { return st.Success }))
	v.Field(5).Set(reflect.ValueOf(func() bool { return st.Failure }))
	v.Field(6).Set(reflect.ValueOf(func() bool { return true }))
	v.Field(7).Set(reflect.ValueOf(func() bool { return st.Cancelled }))
	f := d.Funcs.withDefaults()
	v.Field(8).Set(reflect.ValueOf(f.FileExists))
	v.Field(9).Set(reflect.ValueOf(f.Glob))
	v.Field(10).Set(reflect.ValueOf(f.ChangedFiles))
	v.Field(11).Set(reflect.ValueOf(f.RefExists))
	v.Field(12).Set(reflect.ValueOf(f.CurrentBranch))
	v.Field(13).Set(reflect.ValueOf(f.IsDirty))
	v.Field(14).Set(reflect.ValueOf(f.DiskUsedPercent))
	v.Field(15).Set(reflect.ValueOf(f.MemAvailableMB))
	v.Field(16).Set(reflect.ValueOf(f.EnvOr))
	if d.Item != nil {
		v.Field(17).Set(reflect.ValueOf(d.Item))
	}
	v.Field(18).SetInt(int64(d.Index))
	if retry {
		v.Field(19).SetInt(int64(d.Attempt))
		v.Field(20).Set(reflect.ValueOf(d.Result))
	}
	return v.Interface()
}

// withDefaults fills missing host functions with ones that report nothing,
// so that an environment is always callable (tests, dry runs).
func (f Funcs) withDefaults() Funcs {
	if f.FileExists == nil {
		f.FileExists = func(string) bool { return false }
	}
	if f.Glob == nil {
		f.Glob = func(string) []string { return nil }
	}
	if f.ChangedFiles == nil {
		f.ChangedFiles = func(string) []string { return nil }
	}
	if f.RefExists == nil {
		f.RefExists = func(string) bool { return false }
	}
	if f.CurrentBranch == nil {
		f.CurrentBranch = func() string { return "" }
	}
	if f.IsDirty == nil {
		f.IsDirty = func() bool { return false }
	}
	if f.DiskUsedPercent == nil {
		f.DiskUsedPercent = func(string) float64 { return 0 }
	}
	if f.MemAvailableMB == nil {
		f.MemAvailableMB = func() float64 { return 0 }
	}
	if f.EnvOr == nil {
		f.EnvOr = func(_, def string) string { return def }
	}
	return f
}
