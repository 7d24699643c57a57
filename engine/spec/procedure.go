package spec

import (
	"regexp"
	"sync"
	"time"
)

// Procedure is a decoded procedure file (schema version 1). Decoding checks
// its shape; engine.Compile checks its meaning (graph, expressions, kinds).
type Procedure struct {
	File        string
	Text        []byte
	Source      *Source
	Version     int
	Name        string
	NamePos     Pos
	Description string
	Severity    string
	Target      time.Duration
	Deadline    time.Duration // stops a run that goes on longer (counted from each start, resume or retry); 0 if none
	Contacts    []Contact
	// Notifications are the webhooks told of the run's start, failure,
	// passing of its target and finish.
	Notifications []*Notification
	Params        []*Param
	Env           []*EnvVar
	Steps         []*Step
	OnFailure     []*Step
	Finally       []*Step
}

// Contact is one entry of the procedure's contacts, rendered into notifications.
type Contact struct {
	Role  string
	Name  string
	Reach string
}

// Param types.
const (
	TypeString = "string"
	TypeInt    = "int"
	TypeBool   = "bool"
	TypeList   = "list"
	// TypeCommand is a string that is code, such as a service's start
	// command: only such a param may stand where a script runs a value
	// as code (eval, bash -c, sh -c, source, trap). Otherwise it is a
	// string.
	TypeCommand = "command"
)

// Param declares one procedure parameter.
type Param struct {
	Name        string
	Pos         Pos
	Type        string
	Default     any // converted to Type; nil when not set
	Required    bool
	Enum        []string
	Description string
	Secret      bool
	// Items, set on a list param, makes it a list of records: each item
	// is a map with these fields (a field left out is its type's zero
	// value). Without Items a list holds strings.
	Items []*Field
	// FromEnv and FromFile name where a secret's value is read (at most one
	// is set): at the start of a run when it is not given, and again on
	// resume, since rbflow never keeps a secret's value.
	FromEnv  string
	FromFile string
}

// Field is one field of a list param's items: a name and a param type
// other than list.
type Field struct {
	Name string
	Type string
	Pos  Pos
}

// Field returns the item field of that name, or nil.
func (p *Param) Field(name string) *Field {
	for _, f := range p.Items {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// EnvVar is one environment variable; Value may hold ${{ }} expressions.
type EnvVar struct {
	Name  string
	Value *Value
	Pos   Pos
}

// Section names.
const (
	SectionMain      = "steps"
	SectionOnFailure = "on_failure"
	SectionFinally   = "finally"
)

// Ref is a step id used in needs, with its position.
type Ref struct {
	ID  string
	Pos Pos
}

// Retry configures repeated attempts of a failing step.
type Retry struct {
	Attempts int
	Delay    time.Duration
	Backoff  float64
	If       *Value // expression over attempt and the last result; nil = always
	Pos      Pos
}

// Step is one decoded step.
type Step struct {
	ID      string
	Pos     Pos
	Section string
	Index   int // position within its section

	Kind    string // action key: run, git, test, ...
	KindPos Pos
	Arg     *Value // the action key's value
	With    *Value // map or nil

	Needs    []Ref
	NeedsSet bool // needs was written (needs: [] means "no dependency")
	If       *Value
	Env      []*EnvVar
	Dir      *Value
	Timeout  time.Duration
	Retry    *Retry

	// ForEach makes the step run once per item: a YAML list written in
	// the step (its items taken as written) or an expression that gives
	// a list. nil: the step runs once.
	ForEach *Value
	// MaxParallel bounds how many items run at once (0: one at a time).
	MaxParallel int

	ContinueOnError bool
	OnResume        string // rerun, ask, skip, fail or "" (kind default)
	Description     string
	DryRun          string // "run" when the step is read-only and may run in --dry-run
	Idempotent      *bool
	Shell           string

	// Def is the step's definition as written, used to hash it for resume --reload.
	Def *Value
}

// Patterns of the names a procedure gives: its own name, step and param
// ids, environment variable names. rbflow schema writes them out too.
const (
	NamePattern    = `^[a-z][a-z0-9-]*$`
	IDPattern      = `^[a-z][a-z0-9_]*$`
	EnvNamePattern = `^[A-Za-z_][A-Za-z0-9_]*$`
)

var (
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(NamePattern) })
	idRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(IDPattern) })
	envRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(EnvNamePattern) })
)

// Severities allowed in the procedure header.
var Severities = []string{"critical", "high", "medium", "low"}

// OnResumePolicies allowed in on_resume.
var OnResumePolicies = []string{"rerun", "ask", "skip", "fail"}

// DryRunModes allowed in dry_run: run (the step is read-only and runs in
// --dry-run) or skip.
var DryRunModes = []string{"run", "skip"}

// Shells allowed in shell.
var Shells = []string{"bash", "sh"}

// FieldTypes allowed for the fields of a list param's items.
var FieldTypes = []string{TypeString, TypeInt, TypeBool, TypeCommand}

// ParamTypes allowed in a param's type.
var ParamTypes = []string{TypeString, TypeInt, TypeBool, TypeList, TypeCommand}
