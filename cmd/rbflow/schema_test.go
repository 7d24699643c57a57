package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps"
)

// schemaApp is the app `rbflow validate` and `rbflow schema` run with.
func schemaApp() *app {
	reg := engine.NewRegistry()
	steps.Register(reg)
	return &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, registry: reg}
}

// compiledSchema compiles what `rbflow schema` prints with a real JSON
// Schema validator.
func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	var out strings.Builder
	if code := Main([]string{"schema"}, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("rbflow schema: exit %d: %s", code, out.String())
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out.String()))
	if err != nil {
		t.Fatalf("rbflow schema printed no JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://rbflow.dev/schema/procedure-v1.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

// node is where a YAML node or key sits in the file's JSON form.
type node struct {
	ptr   string      // JSON pointer
	key   bool        // the position is a map key's: ptr names the entry
	value *spec.Value // the node (for a key, its value)
}

// yamlJSON is a procedure file as the schema sees it: the data YAML gives,
// as an editor's YAML language server converts it to JSON.
type yamlJSON struct {
	root       *spec.Value
	parseErrs  spec.ErrorList // what the YAML layer refused
	instance   any            // nil when the file is not YAML at all
	positioned map[spec.Pos][]node
	starts     []spec.Pos // of every node, in file order
}

func asJSON(t *testing.T, file string, text []byte) *yamlJSON {
	t.Helper()
	y := &yamlJSON{positioned: map[spec.Pos][]node{}}
	y.root, y.parseErrs = spec.Parse(file, text)
	if y.root == nil {
		return y
	}
	b, err := json.Marshal(plainJSON(y.root))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if y.instance, err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	y.index(y.root, "")
	for p := range y.positioned {
		y.starts = append(y.starts, p)
	}
	sort.Slice(y.starts, func(i, j int) bool { return before(y.starts[i], y.starts[j]) })
	return y
}

func before(a, b spec.Pos) bool { return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col }

// plainJSON is Value.Plain with floats JSON can hold (YAML's .inf and .nan
// stay text).
func plainJSON(v *spec.Value) any {
	switch v.Kind {
	case spec.List:
		out := make([]any, len(v.List))
		for i, x := range v.List {
			out[i] = plainJSON(x)
		}
		return out
	case spec.Map:
		out := make(map[string]any, len(v.Map))
		for _, e := range v.Map {
			out[e.Key] = plainJSON(e.Value)
		}
		return out
	}
	return v.Plain()
}

func (y *yamlJSON) index(v *spec.Value, ptr string) {
	y.positioned[v.Pos] = append(y.positioned[v.Pos], node{ptr: ptr, value: v})
	switch v.Kind {
	case spec.List:
		for i, x := range v.List {
			y.index(x, fmt.Sprintf("%s/%d", ptr, i))
		}
	case spec.Map:
		for _, e := range v.Map {
			p := ptr + "/" + escapePtr(e.Key)
			y.positioned[e.KeyPos] = append(y.positioned[e.KeyPos], node{ptr: p, key: true, value: e.Value})
			y.index(e.Value, p)
		}
	}
}

func escapePtr(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

func parentPtr(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return ""
}

// schemaErrors validates the file's JSON against the schema and returns
// where the schema found it wrong (the JSON pointers of the innermost
// errors), with the validator's message.
func schemaErrors(sch *jsonschema.Schema, y *yamlJSON) (map[string]bool, string) {
	err := sch.Validate(y.instance)
	if err == nil {
		return nil, ""
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return map[string]bool{"": true}, err.Error()
	}
	at := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			var b strings.Builder
			for _, tok := range e.InstanceLocation {
				b.WriteString("/" + escapePtr(tok))
			}
			at[b.String()] = true
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return at, err.Error()
}

// at returns the nodes an error at pos points at: those that start there,
// or else the one it lies inside (a position within a scalar, such as an
// expression's column), or else the top of the file ("missing version").
func (y *yamlJSON) at(pos spec.Pos) []node {
	if n := y.positioned[pos]; len(n) > 0 {
		return n
	}
	i := sort.Search(len(y.starts), func(i int) bool { return !before(y.starts[i], pos) })
	if i == 0 {
		return []node{{ptr: "", value: y.root}}
	}
	return y.positioned[y.starts[i-1]]
}

// flagged reports whether the schema found a problem where the loader did:
// at the node the loader's error points at, or, for an error at a map key,
// at the map that holds it (an unknown key, a missing one).
func (y *yamlJSON) flagged(e *spec.Error, found map[string]bool) bool {
	for _, n := range y.at(e.Pos) {
		if found[n.ptr] || n.key && found[parentPtr(n.ptr)] {
			return true
		}
	}
	return false
}

var (
	exprText = regexp.MustCompile(`\$\{\{`)
	ifPath   = regexp.MustCompile(`^/(steps|on_failure|finally)/\d+(/retry)?/if$`)
)

// inExpression reports whether an error points at or into an expression:
// a scalar holding ${{ }}, or the value of an if:.
func (y *yamlJSON) inExpression(e *spec.Error) bool {
	for _, n := range y.at(e.Pos) {
		if n.value != nil && n.value.Kind == spec.Scalar && (exprText.MatchString(n.value.Str) || ifPath.MatchString(n.ptr)) {
			return true
		}
	}
	return false
}

// beyondSchema are the loader's errors a JSON Schema cannot express, by
// category, with the reason. Every other error the loader finds in a golden
// invalid file, the schema must find at the same place.
var beyondSchema = []struct {
	category, reason string
	is               func(e *spec.Error, y *yamlJSON) bool
}{
	{"YAML", "the schema applies to the data a YAML parser gives; syntax, encoding, tags, merge and duplicate keys, aliases and size limits are the parser's, and an editor reports them as YAML errors",
		func(e *spec.Error, y *yamlJSON) bool {
			return y.instance == nil || slices.ContainsFunc(y.parseErrs, func(p *spec.Error) bool { return p.Pos == e.Pos && p.Msg == e.Msg })
		}},
	{"expressions", "to a schema an expression (a ${{ }}, an if:) is text; its syntax, names and type are checked against the procedure's params, steps and functions when it is compiled",
		func(e *spec.Error, y *yamlJSON) bool { return y.inExpression(e) }},
	{"step references", "needs: names other steps of the file; JSON Schema checks a value's shape, and cannot look a value up elsewhere in the instance",
		matches(`^(needs unknown step |needs ".*" twice$|step needs itself$|needs ".*", which is in )`)},
	{"cycles", "a cycle is a property of the whole graph of needs, not of any one value",
		matches(`^dependency cycle: `)},
	{"duplicate ids", "ids are unique across three lists of steps; uniqueItems compares whole items, never one property",
		matches(`^duplicate step id `)},
	{"git refs and paths", "git's ref-name rules and paths that must stay inside the repository are checked by the git kind on literal values",
		matches(`^with\.\w+: (invalid ref name|invalid path|".*" begins with '-')`)},
	{"what a script writes to", "to a schema a run: script is text; that it writes to GitHub Actions' $GITHUB_OUTPUT or $GITHUB_ENV (a redirection, not a mention) is decided by parsing it as bash",
		matches(`^\$GITHUB_(OUTPUT|ENV) is GitHub Actions' file: `)},
	{"over_target without a target", "whether a hook may fire on over_target depends on the value of another key (target:, where 0 is no target)",
		matches(`^a notification on over_target needs the procedure's target`)},
	{"defaults outside their enum", "the enum is another value of the same param; JSON Schema cannot compare one instance value with another",
		matches(`^param ".*": bad default: ".*" is not one of `)},
}

func matches(re string) func(*spec.Error, *yamlJSON) bool {
	r := regexp.MustCompile(re)
	return func(e *spec.Error, _ *yamlJSON) bool { return r.MatchString(e.Msg) }
}

// validate is what rbflow validate does with one argument.
func validate(a *app, arg string) error {
	_, _, err := a.load(context.Background(), arg, nil)
	return err
}

// TestSchemaAgreesWithLoader runs every golden invalid file, every valid
// one, every built-in and every example through both rbflow validate's
// loader and the JSON Schema rbflow schema prints, checked by a real
// validator. Whatever the loader accepts, the schema accepts; whatever the
// loader rejects, the schema rejects at the same place, unless the error is
// of a category beyondSchema names. (The hostile inputs engine's
// TestInvalidGolden generates, megabytes long or deep, have no file here;
// they are the YAML layer's but for one unknown key.)
func TestSchemaAgreesWithLoader(t *testing.T) {
	sch := compiledSchema(t)
	a := schemaApp()

	invalid, err := filepath.Glob("../../engine/testdata/invalid/*.yaml")
	if err != nil || len(invalid) < 100 {
		t.Fatalf("engine/testdata/invalid: %d files, %v", len(invalid), err)
	}
	used := map[string]int{}
	for _, f := range invalid {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var list spec.ErrorList
		if err := validate(a, f); !errors.As(err, &list) {
			t.Errorf("rbflow validate %s = %v, want load errors", f, err)
			continue
		}
		y := asJSON(t, f, text)
		var found map[string]bool
		var why string
		if y.instance != nil {
			found, why = schemaErrors(sch, y)
		}
	errs:
		for _, e := range list {
			if y.instance != nil && y.flagged(e, found) {
				continue
			}
			for _, b := range beyondSchema {
				if b.is(e, y) {
					used[b.category]++
					continue errs
				}
			}
			t.Errorf("%s: the schema misses what the loader finds:\n%v\nschema: %s", filepath.Base(f), e, orNone(why))
		}
	}
	for _, b := range beyondSchema {
		if used[b.category] == 0 {
			t.Errorf("no golden invalid file has an error of category %q: remove it from beyondSchema", b.category)
		}
	}
	t.Logf("errors beyond a schema, by category: %v", used)

	var valid []string
	for _, glob := range []string{"../../engine/testdata/valid/*.yaml", "../../procedures/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", glob, err)
		}
		valid = append(valid, files...)
	}
	examples := 0
	err = filepath.WalkDir("../../examples", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
			return err
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if root, _ := spec.Parse(path, text); root.Get("version") == nil || root.Get("steps") == nil {
			t.Logf("%s is not a procedure (no version and steps)", path)
			return nil
		}
		valid = append(valid, path)
		examples++
		return nil
	})
	if err != nil || examples == 0 {
		t.Fatalf("examples: %d procedures, %v", examples, err)
	}
	for _, f := range valid {
		arg := f
		if filepath.Dir(f) == filepath.Clean("../../procedures") {
			arg = strings.TrimSuffix(filepath.Base(f), ".yaml") // as a built-in, by name
		}
		if err := validate(a, arg); err != nil {
			t.Errorf("rbflow validate %s = %v, want ok", arg, err)
			continue
		}
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, why := schemaErrors(sch, asJSON(t, f, text)); why != "" {
			t.Errorf("rbflow validate accepts %s; the schema rejects it: %s", f, why)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "no error"
	}
	return s
}

// TestSchemaMatchesLoader: the schema names exactly the keys the loader
// accepts, and the registry's action keys.
func TestSchemaMatchesLoader(t *testing.T) {
	var out strings.Builder
	if code := Main([]string{"schema"}, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("schema: exit %d: %s", code, out.String())
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	get := func(path ...any) map[string]any {
		var v any = s
		for _, p := range path {
			switch p := p.(type) {
			case string:
				v = v.(map[string]any)[p]
			case int:
				v = v.([]any)[p]
			}
		}
		m, _ := v.(map[string]any)
		return m
	}
	keys := func(m map[string]any) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return k
	}
	sorted := func(l ...[]string) []string {
		out := slices.Concat(l...)
		sort.Strings(out)
		return out
	}
	step := []any{"$defs", "step", "properties"}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"top-level keys", keys(get("properties")), sorted(spec.TopKeys())},
		{"step keys", keys(get(step...)), sorted(spec.StepFields(), schemaApp().registry.Keys())},
		{"param keys", keys(get("properties", "params", "patternProperties", spec.IDPattern, "properties")), sorted(spec.ParamKeys())},
		{"retry keys", keys(get(append(step, "retry", "anyOf", 1, "properties")...)), sorted(spec.RetryKeys())},
		{"contact keys", keys(get("properties", "contacts", "items", "properties")), sorted(spec.ContactKeys())},
		{"notification keys", keys(get("properties", "notifications", "items", "properties")), sorted(spec.NotifyKeys())},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("schema %s = %v, loader accepts %v", c.what, c.got, c.want)
		}
	}
}

// TestSchemaForms: forms rbflow validate accepts that a schema written by
// hand easily refuses (a plain string for needs, a YAML boolean for if, a
// number where the loader reads text, one ${{ }} for a typed argument)
// pass the schema too; mistakes in with: are found by both, at one place.
func TestSchemaForms(t *testing.T) {
	sch := compiledSchema(t)
	a := schemaApp()
	dir := t.TempDir()
	const head = `version: 1
name: forms
params:
  n: {type: int, default: 3}
  files: {type: list, default: a.py}
  flag: {type: bool}
  t: {type: string, default: 5s}
  s: {default: 5}
steps:
  - id: first
    run: echo first
`
	file := func(name, steps string) string {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		if err := os.WriteFile(f, []byte(head+steps), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	accepted := []struct{ name, steps string }{
		{"needs as a plain string", "  - id: b\n    needs: first\n    run: echo b\n"},
		{"needs empty", "  - id: b\n    needs:\n    run: echo b\n"},
		{"if as a YAML boolean", "  - id: b\n    if: true\n    run: echo b\n"},
		{"if as a block", "  - id: b\n    if: |\n      params.n > 1\n        && params.flag\n    run: echo b\n"},
		{"a script YAML reads as a number", "  - id: b\n    run: 5\n"},
		{"numbers and null as text", "  - id: b\n    description: 2024\n    dir:\n    env: {N: 1, B: true, E: }\n    run: echo b\n"},
		{"a step id YAML reads as a boolean", "  - id: true\n    run: echo b\n"},
		{"timeout 0 and retry as a number", "  - id: b\n    timeout: 0\n    retry: 3\n    run: echo b\n"},
		{"a full retry", "  - id: b\n    timeout: 1.5h\n    retry: {attempts: 2, delay: 0, backoff: 1.5, if: attempt < 2}\n    run: echo b\n"},
		{"step options", "  - id: b\n    continue_on_error: false\n    idempotent: true\n    on_resume: ask\n    dry_run: run\n    shell: sh\n    run: echo b\n"},
		{"with empty", "  - id: b\n    run: echo b\n    with:\n"},
		{"booleans written as text", "  - id: b\n    git: checkout\n    with: {ref: main, create: \"true\", discard_changes: TRUE}\n"},
		{"integers written as text or ${{ }}", "  - id: b\n    git: log\n    with: {max: \" 5 \"}\n  - id: c\n    git: reflog\n    with: {max: \"${{ params.n }}\"}\n"},
		{"one item for a list", "  - id: b\n    git: restore_files\n    with: {files: a.py, from: main}\n"},
		{"a list as one ${{ }}", "  - id: b\n    git: restore_files\n    with: {files: \"${{ params.files }}\", from: main}\n"},
		{"a boolean as ${{ }}", "  - id: b\n    git: branch\n    with: {name: x, delete: \"${{ params.flag }}\"}\n"},
		{"durations as ${{ }}, 0 and padded", "  - id: b\n    wait: tcp\n    with: {address: \"localhost:1\", timeout: \"${{ params.t }}\", interval: 0}\n  - id: c\n    service: stop\n    with: {name: web, grace: \" 5s \"}\n"},
		{"an enum argument as ${{ }}", "  - id: b\n    git: reset\n    with: {to: main, mode: \"${{ params.t }}\"}\n"},
		{"record steps", "  - id: b\n    record: rollback\n    with: {cause: x, sprint: \"${{ params.n }}\", severity: high}\n  - id: c\n    record: event\n    with: {cause: y}\n"},
		{"text arguments YAML reads as numbers", "  - id: b\n    prompt: Why?\n    with: {type: text, default: 3}\n  - id: c\n    report: \"-\"\n    with: {template: 5, data: {a: 1}}\n"},
		{"a service with its readiness", "  - id: b\n    service: start\n    with: {name: web, command: sleep 9, env: {PORT: 8080}, ready: {tcp: \"localhost:8080\", timeout: 30s}}\n"},
		{"tests of changed files", "  - id: b\n    test: go test ./...\n    with: {select: changed, base: main, format: go-json}\n"},
		{"for_each over a list", "  - id: b\n    for_each: [a, {x: 1}, 3]\n    max_parallel: 2\n    run: echo ${{ item }}\n"},
		{"for_each over an expression", "  - id: b\n    for_each: params.files\n    if: index > 0\n    run: echo ${{ item }}\n"},
		{"readiness as one string", "  - id: b\n    service: start\n    with: {name: web, command: sleep 9, ready: \"http://localhost:8080/health\"}\n  - id: c\n    service: start\n    with: {name: db, command: sleep 9, ready: \"localhost:5432\"}\n"},
	}
	for _, c := range accepted {
		f := file(c.name, c.steps)
		if err := validate(a, f); err != nil {
			t.Errorf("%s: rbflow validate = %v, want ok", c.name, err)
			continue
		}
		text, _ := os.ReadFile(f)
		if _, why := schemaErrors(sch, asJSON(t, f, text)); why != "" {
			t.Errorf("%s: rbflow validate accepts it, the schema does not: %s", c.name, why)
		}
	}

	rejected := []struct{ name, steps, want string }{
		{"a misspelt argument", "  - id: b\n    git: reset\n    with: {to: main, mode: hard, mdoe: hard}\n", `unknown argument "mdoe" for git: reset (did you mean "mode"?)`},
		{"a misspelt argument, the required one missing", "  - id: b\n    git: reset\n    with: {to: main, mdoe: hard}\n", `git: reset needs with.mode`},
		{"a misspelt enum value", "  - id: b\n    git: reset\n    with: {to: main, mode: hardd}\n", `with.mode: "hardd" is not one of soft, mixed, hard (did you mean "hard"?)`},
		{"an argument of another action", "  - id: b\n    service: stop\n    with: {name: web, command: x}\n", `with.command is for service: start and restart, not stop`},
		{"a required argument missing", "  - id: b\n    wait: http\n    with: {timeout: 5s}\n", `wait: http needs with.url`},
		{"with missing", "  - id: b\n    wait: tcp\n", `wait: tcp needs with.address`},
		{"an action without arguments", "  - id: b\n    git: status\n    with: {short: true}\n", `unknown argument "short": git: status takes no with: arguments`},
		{"an unknown action", "  - id: b\n    record: rollbak\n", `unknown record action "rollbak" (did you mean "rollback"?)`},
		{"a list for a map", "  - id: b\n    report: out.md\n    with: {data: [a]}\n", `with.data must be a map, not a list`},
		{"text for an integer", "  - id: b\n    git: log\n    with: {max: five}\n", `with.max: want an integer, got "five"`},
		{"yes for a boolean", "  - id: b\n    git: checkout\n    with: {ref: main, create: yes}\n", `with.create: want true or false, got "yes"`},
		{"a duration without its unit", "  - id: b\n    wait: tcp\n    with: {address: x, interval: 5}\n", `with.interval: 5 has no unit`},
		{"an empty script", "  - id: b\n    run: \" \"\n", `run needs a script`},
		{"for_each as a number", "  - id: b\n    for_each: 3\n    run: echo\n", `for_each must be a list`},
		{"for_each as ${{ }}", "  - id: b\n    for_each: \"${{ params.files }}\"\n    run: echo\n", `for_each takes a bare expression`},
		{"max_parallel without for_each", "  - id: b\n    max_parallel: 2\n    run: echo\n", `max_parallel bounds how many items`},
		{"max_parallel 0", "  - id: b\n    for_each: [a]\n    max_parallel: 0\n    run: echo\n", `max_parallel must be a whole number of at least 1`},
	}
	for _, c := range rejected {
		f := file(c.name, c.steps)
		var list spec.ErrorList
		if err := validate(a, f); !errors.As(err, &list) {
			t.Errorf("%s: rbflow validate = %v, want an error containing %q", c.name, err, c.want)
			continue
		}
		i := slices.IndexFunc(list, func(e *spec.Error) bool { return strings.Contains(e.Msg, c.want) })
		if i < 0 {
			t.Errorf("%s: rbflow validate = %v, want an error containing %q", c.name, list, c.want)
			continue
		}
		text, _ := os.ReadFile(f)
		y := asJSON(t, f, text)
		found, why := schemaErrors(sch, y)
		if !y.flagged(list[i], found) {
			t.Errorf("%s: the loader finds %v; the schema does not, there: %s", c.name, list[i], orNone(why))
		}
	}
}

// TestSchemaValueTexts: for text where the loader takes a duration, an
// integer or a boolean, the schema's patterns accept exactly what the
// loader accepts.
func TestSchemaValueTexts(t *testing.T) {
	sch := compiledSchema(t)
	a := schemaApp()
	dir := t.TempDir()
	where := map[string]string{
		"a step's timeout":    "  - id: s\n    timeout: %s\n    run: echo\n",
		"a duration argument": "  - id: s\n    wait: tcp\n    with: {address: x, interval: %s}\n",
		"an integer argument": "  - id: s\n    git: log\n    with: {max: %s}\n",
		"a boolean argument":  "  - id: s\n    git: checkout\n    with: {ref: main, create: %s}\n",
	}
	texts := []string{"5m", " 5m ", "1h30m", "+5s", ".5s", "5.s", "1.5h", "1μs", "1µs", "0", "-0s", "-5s", "5", "5 minutes", "5M", ".s",
		"-3", "05", "+5", "007", "12", "-0", "1.0", "true", " TRUE ", "False", "yes", "on"}
	i := 0
	for what, step := range where {
		for _, text := range texts {
			i++
			f := filepath.Join(dir, fmt.Sprintf("t%d.yaml", i))
			yaml := fmt.Sprintf("version: 1\nname: t\nsteps:\n"+step, strconv.Quote(text))
			if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			loader := validate(a, f) == nil
			_, why := schemaErrors(sch, asJSON(t, f, []byte(yaml)))
			if schema := why == ""; schema != loader {
				t.Errorf("%s %q: rbflow validate accepts it: %v, the schema: %v", what, text, loader, schema)
			}
		}
	}
}

// TestInitCopiesMatchSchema: rbflow init writes the schema beside its
// copies, and each copy names it on its first line, relative to itself,
// as the YAML language server reads it; the schema the editor finds there
// accepts every copy, and so does rbflow validate.
func TestInitCopiesMatchSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space")
	var out, errOut strings.Builder
	if code := Main([]string{"init", dir, "--state", t.TempDir()}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	copies, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(copies) == 0 {
		t.Fatalf("init wrote no copies into %s (%v)", dir, err)
	}
	a := schemaApp()
	modeline := regexp.MustCompile(`^# yaml-language-server: \$schema=(\S+)\n`)
	for _, f := range copies {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := modeline.FindSubmatch(text)
		if m == nil {
			t.Errorf("%s does not start with a yaml-language-server modeline:\n%.80s", f, text)
			continue
		}
		ref := string(m[1])
		if filepath.IsAbs(ref) || strings.Contains(ref, "://") {
			t.Errorf("%s names its schema as %s, want a path relative to the copy", f, ref)
		}
		schemaText, err := os.ReadFile(filepath.Join(filepath.Dir(f), ref))
		if err != nil {
			t.Errorf("%s names the schema %s: %v", f, ref, err)
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaText))
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("file:///schema.json", doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("file:///schema.json")
		if err != nil {
			t.Fatalf("the schema init wrote does not compile: %v", err)
		}
		if _, why := schemaErrors(sch, asJSON(t, f, text)); why != "" {
			t.Errorf("the schema beside it rejects %s: %s", f, why)
		}
		if err := validate(a, f); err != nil {
			t.Errorf("rbflow validate %s = %v, want ok", f, err)
		}
	}
}
