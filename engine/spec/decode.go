package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	topKeys     = []string{"version", "name", "description", "severity", "target", "deadline", "contacts", "notifications", "params", "env", "steps", "on_failure", "finally"}
	paramKeys   = []string{"type", "default", "required", "enum", "description", "secret", "from_env", "from_file", "items"}
	contactKeys = []string{"role", "name", "reach"}
	notifyKeys  = []string{"url", "format", "on", "text", "timeout"}
	retryKeys   = []string{"attempts", "delay", "backoff", "if"}
	stepFields  = []string{"id", "with", "needs", "if", "env", "dir", "timeout", "retry", "for_each", "max_parallel", "continue_on_error", "on_resume", "description", "dry_run", "idempotent", "shell"}
)

// topNotes explain top-level keys of other tools (GitHub Actions) that
// rbflow has no place for, or has under another name.
var topNotes = map[string]string{
	"on":     "rbflow has no triggers: a procedure runs when it is started (rbflow run FILE, by a person, a CI job, cron or a hook)",
	"inputs": "a procedure's inputs are its params, given as rbflow run FILE --set NAME=VALUE",
}

// decoder collects every error of one file.
type decoder struct {
	src      *Source
	errs     ErrorList
	stepID   string   // current step id, for error context
	kinds    []string // the action keys a step may have
	stepKeys []string // stepFields and kinds
	args     func(kind, action string) []string
}

func (d *decoder) errorf(pos Pos, format string, args ...any) {
	d.errs = append(d.errs, d.src.Errorf(pos, d.stepID, format, args...))
}

// Load decodes a procedure file strictly. kinds are the action keys a step
// may have (run, git, ...): the step kinds registered in the engine, in the
// order error messages list them. The error, if any, is an ErrorList
// holding every problem found, each with its position.
func Load(file string, text []byte, kinds []string) (*Procedure, error) {
	return (&Decoder{Kinds: kinds}).Load(file, text)
}

// Decoder decodes procedure files for a set of step kinds.
type Decoder struct {
	// Kinds are the action keys a step may have (run, git, ...), in the
	// order error messages list them.
	Kinds []string
	// Args lists, when set, the with: arguments of a step of kind whose
	// action key names action ("" for a kind without actions, or to ask
	// for the kind's own), so that one written beside with: instead of
	// in it is reported as such.
	Args func(kind, action string) []string
}

// Load is the package's Load with the decoder's kinds.
func (dc *Decoder) Load(file string, text []byte) (*Procedure, error) {
	p, errs := dc.Decode(file, text)
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// Decode is Load for callers that go on checking a flawed file so that all
// its errors are reported together: it returns what could be decoded (nil
// only when the text is not YAML at all) with the errors found. With no
// kinds every action key is an unknown key, and the rest of the file (its
// params, say) still decodes.
func Decode(file string, text []byte, kinds []string) (*Procedure, ErrorList) {
	return (&Decoder{Kinds: kinds}).Decode(file, text)
}

// Decode is the package's Decode with the decoder's kinds.
func (dc *Decoder) Decode(file string, text []byte) (*Procedure, ErrorList) {
	kinds := dc.Kinds
	src := NewSource(file, text)
	root, errs := parseYAML(src, text)
	d := &decoder{src: src, errs: errs, kinds: kinds, stepKeys: append(slices.Clone(stepFields), kinds...), args: dc.Args}
	if root == nil || root.Kind == Null && len(d.errs) == 0 {
		if len(d.errs) == 0 {
			d.errs = append(d.errs, &Error{File: file, Msg: "file is empty"})
		}
		return nil, d.errs
	}
	p := &Procedure{File: file, Text: text, Source: src}
	d.procedure(root, p)
	d.errs.Sort()
	return p, d.errs
}

// keys checks that m is a map with only allowed keys and reports unknown ones
// with a hint.
func (d *decoder) keys(m *Value, what string, allowed []string) bool {
	return d.keysNoted(m, what, allowed, nil)
}

// keysNoted is keys with notes on some unknown keys: what to write instead
// of a key another tool has.
func (d *decoder) keysNoted(m *Value, what string, allowed []string, notes map[string]string) bool {
	if m.Kind != Map {
		d.errorf(m.Pos, "%s must be a map, not %s", what, m.TypeName())
		return false
	}
	for _, e := range m.Map {
		if !slices.Contains(allowed, e.Key) {
			note := ""
			if n, ok := notes[e.Key]; ok {
				note = ": " + n
			}
			d.errorf(e.KeyPos, "unknown key %q in %s%s%s", e.Key, what, Hint(e.Key, allowed), note)
		}
	}
	return true
}

func (d *decoder) str(v *Value, what string) (string, bool) {
	if v.Kind == Null {
		return "", true
	}
	if v.Kind != Scalar {
		d.errorf(v.Pos, "%s must be a string, not %s", what, v.TypeName())
		return "", false
	}
	return v.Str, true
}

func (d *decoder) boolean(v *Value, what string) bool {
	b, ok := v.Bool()
	if !ok {
		d.errorf(v.Pos, "%s must be true or false, not %s", what, quoteVal(v))
	}
	return b
}

func (d *decoder) duration(v *Value, what string) time.Duration {
	if v.Kind != Scalar {
		d.errorf(v.Pos, "%s must be a duration such as 30s, 5m or 1h30m, not %s", what, v.TypeName())
		return 0
	}
	t, err := time.ParseDuration(v.Str)
	if err != nil || t < 0 {
		d.errorf(v.Pos, "%s: %s", what, DurationError(v.Str))
		return 0
	}
	return t
}

var spelledDuration = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\s*$`)
})

// DurationError explains why s is not a duration, with the fix where it is
// plain: a number without a unit, or a unit spelled out.
func DurationError(s string) string {
	if _, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return fmt.Sprintf("%s has no unit: write %ss, %sm or %sh", s, strings.TrimSpace(s), strings.TrimSpace(s), strings.TrimSpace(s))
	}
	if m := spelledDuration().FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("bad duration %q: write %s%s", s, m[1], m[2][:1])
	}
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return fmt.Sprintf("bad duration %q: it must not be negative", s)
	}
	return fmt.Sprintf("bad duration %q: use a Go duration such as 30s, 5m or 1h30m", s)
}

// quoteVal shows a wrong value in a message: strings quoted, numbers and
// booleans as written, anything else by its type.
func quoteVal(v *Value) string {
	if v.Kind == Scalar {
		if v.Tag != "!!str" {
			return v.Str
		}
		return fmt.Sprintf("%q", v.Str)
	}
	return v.TypeName()
}

// hinted returns the known keys that unknown keys of m were taken for, so
// that "missing steps" is not reported next to "stpes (did you mean steps?)".
func hinted(m *Value, allowed []string) map[string]bool {
	out := map[string]bool{}
	for _, e := range m.Map {
		if !slices.Contains(allowed, e.Key) {
			if s := Suggest(e.Key, allowed); s != "" {
				out[s] = true
			}
		}
	}
	return out
}

func (d *decoder) procedure(root *Value, p *Procedure) {
	if !d.keysNoted(root, "the procedure", topKeys, topNotes) {
		return
	}
	typo := hinted(root, topKeys)
	if v := root.Get("version"); v == nil {
		if !typo["version"] {
			d.errorf(Pos{Line: 1, Col: 1}, "missing version: add 'version: 1' at the top")
		}
	} else if n, ok := v.Int(); !ok || n != 1 {
		d.errorf(v.Pos, "unsupported version %s: this rbflow reads version 1", quoteVal(v))
	} else {
		p.Version = n
	}
	if e := root.Entry("name"); e == nil {
		if !typo["name"] {
			d.errorf(Pos{Line: 1, Col: 1}, "missing name: add 'name: my-procedure'")
		}
	} else if s, ok := d.str(e.Value, "name"); ok {
		if !nameRE().MatchString(s) {
			d.errorf(e.Value.Pos, "bad name %q: use lowercase letters, digits and dashes, starting with a letter", s)
		}
		p.Name, p.NamePos = s, e.Value.Pos
	}
	if v := root.Get("description"); v != nil {
		p.Description, _ = d.str(v, "description")
	}
	if v := root.Get("severity"); v != nil {
		if s, ok := d.str(v, "severity"); ok {
			if !slices.Contains(Severities, s) {
				d.errorf(v.Pos, "bad severity %q: use one of %s%s", s, strings.Join(Severities, ", "), Hint(s, Severities))
			}
			p.Severity = s
		}
	}
	if v := root.Get("target"); v != nil {
		p.Target = d.duration(v, "target")
	}
	if v := root.Get("deadline"); v != nil {
		n := len(d.errs)
		if p.Deadline = d.duration(v, "deadline"); p.Deadline == 0 && len(d.errs) == n {
			d.errorf(v.Pos, "deadline %s stops every run at once: give a duration longer than 0, or leave deadline out", quoteVal(v))
		}
	}
	if v := root.Get("contacts"); v != nil {
		d.contacts(v, p)
	}
	if v := root.Get("notifications"); v != nil {
		d.notifications(v, p)
	}
	if v := root.Get("params"); v != nil {
		d.params(v, p)
	}
	if v := root.Get("env"); v != nil {
		p.Env = d.env(v, "env")
	}
	ids := map[string]Pos{}
	if v := root.Get("steps"); v == nil {
		if !typo["steps"] {
			d.errorf(Pos{Line: 1, Col: 1}, "missing steps: a procedure needs at least one step")
		}
	} else if v.Kind == Null || v.Kind == List && len(v.List) == 0 {
		d.errorf(v.Pos, "steps is empty: a procedure needs at least one step")
	} else {
		p.Steps = d.steps(v, SectionMain, ids)
	}
	if v := root.Get("on_failure"); v != nil {
		p.OnFailure = d.steps(v, SectionOnFailure, ids)
	}
	if v := root.Get("finally"); v != nil {
		p.Finally = d.steps(v, SectionFinally, ids)
	}
}

func (d *decoder) contacts(v *Value, p *Procedure) {
	if v.Kind != List {
		d.errorf(v.Pos, "contacts must be a list of {role, name, reach}, not %s", v.TypeName())
		return
	}
	for _, c := range v.List {
		if !d.keys(c, "a contact", contactKeys) {
			continue
		}
		var ct Contact
		for _, e := range c.Map {
			s, _ := d.str(e.Value, "contact "+e.Key)
			switch e.Key {
			case "role":
				ct.Role = s
			case "name":
				ct.Name = s
			case "reach":
				ct.Reach = s
			}
		}
		p.Contacts = append(p.Contacts, ct)
	}
}

func (d *decoder) params(v *Value, p *Procedure) {
	if v.Kind != Map {
		d.errorf(v.Pos, "params must be a map of name: {type: ...}, not %s", v.TypeName())
		return
	}
	for _, e := range v.Map {
		if !idRE().MatchString(e.Key) {
			d.errorf(e.KeyPos, "bad param name %q: use lowercase letters, digits and underscores, starting with a letter", e.Key)
		}
		pm := &Param{Name: e.Key, Pos: e.KeyPos, Type: TypeString}
		p.Params = append(p.Params, pm)
		what := fmt.Sprintf("param %q", e.Key)
		if e.Value.Kind != Map {
			d.errorf(e.Value.Pos, "%s must be a map such as {type: string, default: main}, not %s", what, e.Value.TypeName())
			continue
		}
		if !d.keys(e.Value, what, paramKeys) {
			continue
		}
		m := e.Value
		if t := m.Get("type"); t != nil {
			if s, ok := d.str(t, what+": type"); ok {
				if !slices.Contains(ParamTypes, s) {
					d.errorf(t.Pos, "param %q: unknown type %q: use string, int, bool, list or command%s", e.Key, s, Hint(s, ParamTypes))
				} else {
					pm.Type = s
				}
			}
		}
		if t := m.Entry("items"); t != nil {
			d.items(pm, t, what)
		}
		if t := m.Get("required"); t != nil {
			pm.Required = d.boolean(t, what+": required")
		}
		if t := m.Get("secret"); t != nil {
			pm.Secret = d.boolean(t, what+": secret")
		}
		d.paramSource(pm, m, what)
		if t := m.Get("description"); t != nil {
			pm.Description, _ = d.str(t, what+": description")
		}
		if t := m.Get("enum"); t != nil {
			if t.Kind != List || len(t.List) == 0 {
				d.errorf(t.Pos, "param %q: enum must be a non-empty list of allowed values", e.Key)
			} else {
				for _, x := range t.List {
					if x.Kind != Scalar {
						d.errorf(x.Pos, "param %q: enum values must be scalars, not %s", e.Key, x.TypeName())
						continue
					}
					pm.Enum = append(pm.Enum, x.Str)
				}
			}
		}
		if t := m.Entry("secret"); t != nil && pm.Secret && pm.Items != nil {
			d.errorf(t.KeyPos, "%s: a list of records cannot be secret: declare the secret as a param of its own (type: string, secret: true) and refer to it", what)
		}
		if t := m.Entry("enum"); t != nil && pm.Items != nil {
			d.errorf(t.KeyPos, "%s: enum is for strings, not a list of records", what)
			pm.Enum = nil
		}
		if t := m.Get("default"); t != nil && t.Kind != Null {
			val, err := pm.FromValue(t)
			if err != nil {
				d.errorf(t.Pos, "param %q: bad default: %v", e.Key, err)
			} else {
				pm.Default = val
			}
		}
	}
}

// items reads a list param's items: the fields of each record, name:
// type.
func (d *decoder) items(pm *Param, e *Entry, what string) {
	if pm.Type != TypeList {
		d.errorf(e.KeyPos, "%s: items is for type: list (a list of records), not %s", what, pm.Type)
		return
	}
	v := e.Value
	if v.Kind != Map || len(v.Map) == 0 {
		d.errorf(v.Pos, "%s: items must map each field of an item to its type, such as {name: string, port: int, start: command}, not %s", what, v.TypeName())
		return
	}
	for _, f := range v.Map {
		if !idRE().MatchString(f.Key) {
			d.errorf(f.KeyPos, "%s: bad field name %q: use lowercase letters, digits and underscores, starting with a letter", what, f.Key)
			continue
		}
		t, ok := d.str(f.Value, what+": items."+f.Key)
		if !ok {
			continue
		}
		if !slices.Contains(FieldTypes, t) {
			d.errorf(f.Value.Pos, "%s: field %s: unknown type %q: use string, int, bool or command%s", what, f.Key, t, Hint(t, FieldTypes))
			continue
		}
		pm.Items = append(pm.Items, &Field{Name: f.Key, Type: t, Pos: f.KeyPos})
	}
}

// paramSource reads a secret param's from_env or from_file: where its
// value is read at the start of a run and again on resume, so that it
// never has to be given on the command line or kept by rbflow.
func (d *decoder) paramSource(pm *Param, m *Value, what string) {
	env, file := m.Get("from_env"), m.Get("from_file")
	for _, key := range []string{"from_env", "from_file"} {
		if e := m.Entry(key); e != nil && !pm.Secret {
			d.errorf(e.KeyPos, "%s: %s is for secrets: add secret: true (its value is then masked and never stored)", what, key)
			return
		}
	}
	if env != nil && file != nil {
		d.errorf(m.Entry("from_file").KeyPos, "%s: from_env and from_file both given: choose one source", what)
		return
	}
	if env != nil {
		if s, ok := d.str(env, what+": from_env"); ok {
			if !envRE().MatchString(s) {
				d.errorf(env.Pos, "%s: from_env %q is not an environment variable name: use letters, digits and underscores, not starting with a digit", what, s)
			} else {
				pm.FromEnv = s
			}
		}
	}
	if file != nil {
		if s, ok := d.str(file, what+": from_file"); ok {
			if s == "" {
				d.errorf(file.Pos, "%s: from_file is empty: give the path of the file that holds the secret", what)
			} else {
				pm.FromFile = s
			}
		}
	}
}

func (d *decoder) env(v *Value, what string) []*EnvVar {
	if v.Kind != Map {
		d.errorf(v.Pos, "%s must be a map of NAME: value, not %s", what, v.TypeName())
		return nil
	}
	var out []*EnvVar
	for _, e := range v.Map {
		if !envRE().MatchString(e.Key) {
			d.errorf(e.KeyPos, "bad environment variable name %q: use letters, digits and underscores, not starting with a digit", e.Key)
			continue
		}
		if e.Value.Kind != Scalar && e.Value.Kind != Null {
			d.errorf(e.Value.Pos, "%s.%s must be a string, not %s", what, e.Key, e.Value.TypeName())
			continue
		}
		out = append(out, &EnvVar{Name: e.Key, Value: e.Value, Pos: e.KeyPos})
	}
	return out
}

func (d *decoder) steps(v *Value, section string, ids map[string]Pos) []*Step {
	if v.Kind != List {
		d.errorf(v.Pos, "%s must be a list of steps, not %s", section, v.TypeName())
		return nil
	}
	var out []*Step
	for i, sv := range v.List {
		if s := d.step(sv, section, i, ids); s != nil {
			out = append(out, s)
		}
	}
	d.stepID = ""
	return out
}

func (d *decoder) step(v *Value, section string, index int, ids map[string]Pos) *Step {
	d.stepID = ""
	if v.Kind == Null {
		d.errorf(v.Pos, "empty step: a step is a map with an id and one action (%s)", strings.Join(d.kinds, ", "))
		return nil
	}
	if v.Kind != Map {
		d.errorf(v.Pos, "a step must be a map with an id and one action (%s), not %s", strings.Join(d.kinds, ", "), v.TypeName())
		return nil
	}
	s := &Step{Pos: v.Pos, Section: section, Index: index, Def: v}
	if e := v.Entry("id"); e == nil {
		d.errorf(v.Pos, "step %d of %s has no id: add one such as 'id: build' (lowercase letters, digits and underscores)", index+1, section)
	} else if id, ok := d.str(e.Value, "id"); ok {
		s.ID = id
		d.stepID = id
		if !idRE().MatchString(id) {
			d.errorf(e.Value.Pos, "bad step id %q: use lowercase letters, digits and underscores, starting with a letter", id)
		} else if first, dup := ids[id]; dup {
			pos := e.Value.Pos
			if pos == first {
				pos = v.Pos // the step is an alias of the first
			}
			d.errorf(pos, "duplicate step id %q (first at line %d): ids must be unique in the file, across steps, on_failure and finally", id, first.Line)
		} else {
			ids[id] = e.Value.Pos
		}
	}
	typo := hinted(v, d.stepKeys)
	for _, e := range v.Map {
		if !slices.Contains(d.kinds, e.Key) {
			continue
		}
		if s.Kind != "" {
			d.errorf(e.KeyPos, "a step has exactly one action: %q and %q are both given", s.Kind, e.Key)
			continue
		}
		s.Kind, s.KindPos, s.Arg = e.Key, e.KeyPos, e.Value
		if e.Value.Kind != Scalar {
			d.errorf(e.KeyPos, "%s: the action's value must be a string, not %s (arguments go under with:)", e.Key, e.Value.TypeName())
		}
	}
	for _, e := range v.Map {
		if slices.Contains(d.stepKeys, e.Key) {
			continue
		}
		if taker := d.argOf(s, e.Key); taker != "" {
			d.errorf(e.KeyPos, "unknown key %q in a step: %s is an argument of %s and belongs under with: (with: {%s: %s})", e.Key, e.Key, taker, e.Key, shortVal(e.Value))
			continue
		}
		d.errorf(e.KeyPos, "unknown key %q in a step%s", e.Key, Hint(e.Key, d.stepKeys))
	}
	if s.Kind == "" && !slices.ContainsFunc(d.kinds, func(k string) bool { return typo[k] }) {
		d.errorf(v.Pos, "step has no action: give one of %s", strings.Join(d.kinds, ", "))
	}
	if w := v.Get("with"); w != nil && w.Kind != Null {
		if w.Kind != Map {
			d.errorf(w.Pos, "with must be a map of arguments, not %s", w.TypeName())
		} else {
			s.With = w
		}
	}
	if n := v.Entry("needs"); n != nil {
		s.NeedsSet = true
		switch n.Value.Kind {
		case Scalar:
			s.Needs = []Ref{{ID: n.Value.Str, Pos: n.Value.Pos}}
		case List:
			for _, x := range n.Value.List {
				if x.Kind != Scalar {
					d.errorf(x.Pos, "needs must list step ids, not %s", x.TypeName())
					continue
				}
				s.Needs = append(s.Needs, Ref{ID: x.Str, Pos: x.Pos})
			}
		case Null:
		default:
			d.errorf(n.Value.Pos, "needs must be a list of step ids, not %s", n.Value.TypeName())
		}
	}
	if x := v.Get("if"); x != nil {
		switch {
		case x.Kind == Scalar:
			s.If = x
		default:
			d.errorf(x.Pos, "if must be an expression, not %s", x.TypeName())
		}
	}
	if x := v.Get("env"); x != nil {
		s.Env = d.env(x, "env")
	}
	if x := v.Get("dir"); x != nil {
		if _, ok := d.str(x, "dir"); ok && x.Kind == Scalar {
			s.Dir = x
		}
	}
	if x := v.Get("timeout"); x != nil {
		s.Timeout = d.duration(x, "timeout")
	}
	if x := v.Get("retry"); x != nil {
		s.Retry = d.retry(x)
	}
	if x := v.Get("for_each"); x != nil {
		switch {
		case x.Kind == List, x.Kind == Scalar && x.IsString() && strings.TrimSpace(x.Str) != "":
			s.ForEach = x
		default:
			d.errorf(x.Pos, "for_each must be a list, or an expression that gives one (such as params.files), not %s", quoteVal(x))
		}
	}
	if e := v.Entry("max_parallel"); e != nil {
		n, ok := e.Value.Int()
		switch {
		case !ok || n < 1:
			d.errorf(e.Value.Pos, "max_parallel must be a whole number of at least 1, not %s", quoteVal(e.Value))
		case v.Get("for_each") == nil:
			d.errorf(e.KeyPos, "max_parallel bounds how many items of a for_each run at once: add for_each, or remove max_parallel (--parallel bounds the steps)")
		default:
			s.MaxParallel = n
		}
	}
	if x := v.Get("continue_on_error"); x != nil {
		s.ContinueOnError = d.boolean(x, "continue_on_error")
	}
	if x := v.Get("on_resume"); x != nil {
		if p, ok := d.str(x, "on_resume"); ok {
			if !slices.Contains(OnResumePolicies, p) {
				d.errorf(x.Pos, "bad on_resume %q: use rerun, ask, skip or fail%s", p, Hint(p, OnResumePolicies))
			}
			s.OnResume = p
		}
	}
	if x := v.Get("description"); x != nil {
		s.Description, _ = d.str(x, "description")
	}
	if x := v.Get("dry_run"); x != nil {
		if p, ok := d.str(x, "dry_run"); ok {
			if !slices.Contains(DryRunModes, p) {
				d.errorf(x.Pos, "bad dry_run %q: use run (the step is read-only) or skip", p)
			}
			s.DryRun = p
		}
	}
	if x := v.Get("idempotent"); x != nil {
		b := d.boolean(x, "idempotent")
		s.Idempotent = &b
	}
	if x := v.Get("shell"); x != nil {
		if p, ok := d.str(x, "shell"); ok {
			if !slices.Contains(Shells, p) {
				d.errorf(x.Pos, "bad shell %q: use bash or sh", p)
			}
			s.Shell = p
		}
	}
	return s
}

// argOf says which steps take key as a with: argument ("prompt steps",
// "git: reset") when s is one of them, or "".
func (d *decoder) argOf(s *Step, key string) string {
	if d.args == nil || s.Kind == "" || s.Arg == nil || s.Arg.Kind != Scalar {
		return ""
	}
	if slices.Contains(d.args(s.Kind, ""), key) {
		return s.Kind + " steps"
	}
	if slices.Contains(d.args(s.Kind, s.Arg.Str), key) {
		return s.Kind + ": " + s.Arg.Str
	}
	return ""
}

var plainWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_./@%+-]+( [A-Za-z0-9_./@%+-]+)*$`) })

// shortVal shows a value in a suggested with: map: as written when it is
// a short plain word, else "...".
func shortVal(v *Value) string {
	if v.Kind == Scalar && v.Tag == "!!str" && len(v.Str) <= 40 && plainWord().MatchString(v.Str) {
		return v.Str
	}
	if v.Kind == Scalar && v.Tag != "!!str" && len(v.Str) <= 20 {
		return v.Str
	}
	return "..."
}

func (d *decoder) retry(v *Value) *Retry {
	r := &Retry{Attempts: 1, Backoff: 1, Pos: v.Pos}
	attemptsPos := v.Pos
	if n, ok := v.Int(); ok {
		r.Attempts = n
	} else if v.Kind != Map {
		d.errorf(v.Pos, "retry must be a number of attempts or a map {attempts, delay, backoff, if}, not %s", quoteVal(v))
		return nil
	} else if !d.keys(v, "retry", retryKeys) {
		return nil
	} else {
		if x := v.Get("attempts"); x != nil {
			n, ok := x.Int()
			if !ok {
				d.errorf(x.Pos, "retry.attempts must be an integer, not %s", quoteVal(x))
				n = 1 // reported; do not report the range as well
			}
			r.Attempts, attemptsPos = n, x.Pos
		}
		if x := v.Get("delay"); x != nil {
			r.Delay = d.duration(x, "retry.delay")
		}
		if x := v.Get("backoff"); x != nil {
			f, ok := x.Plain().(float64)
			if n, isInt := x.Int(); isInt {
				f, ok = float64(n), true
			}
			if !ok || f < 1 {
				d.errorf(x.Pos, "retry.backoff must be a number of at least 1, not %s", quoteVal(x))
			}
			r.Backoff = f
		}
		if x := v.Get("if"); x != nil {
			if x.Kind != Scalar {
				d.errorf(x.Pos, "retry.if must be an expression, not %s", x.TypeName())
			} else {
				r.If = x
			}
		}
	}
	if r.Attempts < 1 || r.Attempts > 100 {
		d.errorf(attemptsPos, "retry.attempts must be between 1 and 100, not %d", r.Attempts)
	}
	return r
}

// StepFields lists the keys a step may have besides its action key.
func StepFields() []string { return slices.Clone(stepFields) }

// RetryKeys lists the keys of a step's retry map.
func RetryKeys() []string { return slices.Clone(retryKeys) }

// ContactKeys lists the keys of a contact.
func ContactKeys() []string { return slices.Clone(contactKeys) }

// TopKeys lists the keys of a procedure's top level.
func TopKeys() []string { return slices.Clone(topKeys) }

// ParamKeys lists the keys of a param declaration.
func ParamKeys() []string { return slices.Clone(paramKeys) }

// NotifyKeys lists the keys of a notification hook.
func NotifyKeys() []string { return slices.Clone(notifyKeys) }
