package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps/testresult"
)

// testKind is the test step (SPEC §6): `test: COMMAND` runs the command as
// a run step runs its script (bash -eo pipefail, or shell: sh; under the
// reaper, in the step's dir, its output in the step's log) and reads the
// test results it reports.
//
// with:
//   - format: go-json, junit, tap, pytest, exit-code, or auto (the
//     default), which picks by the command and the results file
//     (testresult.Detect).
//   - results: the file the command writes its results to (JUnit XML,
//     TAP), relative to the step's dir. Default: the --junitxml path in the
//     command, else the command's standard output. The file must be written
//     by this attempt: a file left from an earlier run is an error, never
//     its counts.
//   - select: all (the default), changed or files. With changed only the
//     tests affected by the files changed since base run: git diff
//     --name-only base (the work tree against base) and the untracked
//     files; with files, those affected by the paths in with.files (a
//     folder stands for the files git tracks in it). The paths are mapped
//     by the map rules (testresult.DefaultRules when there are none) to
//     the test files and Go packages that exist. The selected tests are
//     appended to the command as shell-quoted words, so the command names
//     the test runner and its options but no tests (`go test -json
//     -count=1`, `python3 -m pytest -q`): a command that runs go test gets
//     the Go packages, one that runs pytest the Python test files, any
//     other command all of them. A command `eval "$VAR"` is read as the
//     command the variable holds, and the tests are quoted so that they
//     are still single words once eval reads them again. When no test is
//     affected, the command does not run and the step succeeds with total
//     0.
//   - base: the ref to compare with; required with select: changed.
//   - files: repo-relative paths; required with select: files.
//   - map: the selection rules, a list of {match: REGEX, tests: [TEMPLATE]}
//     (see testresult.Rule: the regexp matches a whole repo-relative path,
//     $1 is its first group), or of the same as text, 'REGEX -> TEMPLATE
//     [TEMPLATE...]', where the word defaults stands for
//     testresult.DefaultRules. Written out, they are checked when the
//     procedure loads; map may also be one ${{ }} giving a list of rules as
//     text (a list param), checked when the step runs.
//
// While a command's go test -json output comes, its tests are counted
// (testresult.Tally) and the counts and the latest failures reported
// (engine.Exec.Report): a live view shows them, not the raw events.
//
// Outputs: passed, failed, skipped, errors, total, duration (seconds),
// failures (a list of {name, file, message}), ok and format; with select:
// changed also selected (the tests given to the command). The step fails
// when a test failed or errored (continue_on_error applies) and when the
// results cannot be read: cut or malformed output is an error, never a
// smaller count.
type testKind struct{}

var _ engine.Kind = testKind{}

var testFormats = []string{
	testresult.FormatAuto, testresult.FormatGoJSON, testresult.FormatJUnit,
	testresult.FormatTAP, testresult.FormatPytest, testresult.FormatExitCode,
}

// Signature: a test command, how to read its results and which tests to run.
func (testKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: "the test command; its results are parsed",
		With: []engine.Field{
			{Name: "format", Type: engine.String, Enum: testFormats, Description: "how to read the results (auto picks by the command)"},
			{Name: "results", Type: engine.String, Description: "the results file the command writes (JUnit XML, TAP)"},
			{Name: "select", Type: engine.String, Enum: []string{"all", "changed", "files"}, Description: "which tests to run"},
			{Name: "base", Type: engine.String, Description: "the ref to compare with, for select: changed"},
			{Name: "files", Type: engine.List, Description: "the paths whose tests to run, for select: files"},
			{Name: "map", Type: engine.Any, Description: "rules from changed paths to tests: {match: REGEX, tests: [...]} or 'REGEX -> TEST...'"},
			{Name: "ref", Type: engine.String, Description: "the branch the tests run on, as reports name it (default: the branch, or commit, checked out where the step runs; give it for a detached worktree of a branch)"},
		},
	}
}

func (testKind) Compile(c *engine.KindContext) engine.Action {
	args := c.With()
	if c.Step.Arg == nil || c.Step.Arg.Kind != spec.Scalar || strings.TrimSpace(c.Step.Arg.Str) == "" {
		c.Errorf(c.Step.KindPos, "test needs a command, e.g. test: go test -json ./...")
		return nil
	}
	command := c.ShellTemplate(c.Step.Arg, c.Step.Shell)
	rules, rulesOK := selectionRules(c, c.Step.With.Get("map"))
	mapExpr := false
	if v := c.Step.With.Get("map"); v != nil && v.Kind == spec.Scalar {
		mapExpr = true // one ${{ }}: the rules come when the step runs
	}

	sel := ""
	if v, ok := args.Literal("select"); ok {
		sel = v.(string)
	} else if !args.Has("select") {
		sel = "all"
	}
	if sel == "changed" && !args.Has("base") {
		c.Errorf(args.Pos("select"), "select: changed needs with.base, the ref to compare with (e.g. base: main)")
	}
	if sel == "files" && !args.Has("files") {
		c.Errorf(args.Pos("select"), "select: files needs with.files, the paths whose tests to run")
	}
	if sel != "" {
		for _, only := range []struct{ name, modes string }{{"base", "changed"}, {"files", "files"}, {"map", "changed or files"}} {
			if args.Has(only.name) && !strings.Contains(only.modes, sel) {
				c.Errorf(args.Pos(only.name), "with.%s applies only with select: %s", only.name, only.modes)
			}
		}
	}
	if f, ok := args.Literal("format"); ok && f == testresult.FormatExitCode && args.Has("results") {
		c.Errorf(args.Pos("results"), "with.results has no use with format: exit-code, which judges the command by its exit code alone")
	}
	if command == nil || !rulesOK {
		return nil
	}
	shell := c.Step.Shell
	if shell == "" {
		shell = "bash"
	}
	return &testAction{command: command, shell: shell, args: args, rules: rules, mapExpr: mapExpr}
}

// selectionRules reads with.map, reporting every bad rule at its place.
func selectionRules(c *engine.KindContext, v *spec.Value) ([]testresult.Rule, bool) {
	if v == nil {
		return nil, true
	}
	const example = `{match: 'backend/app/(.*)\.py', tests: ['backend/tests/unit/$1_test.py']}`
	if v.Kind == spec.Scalar && strings.Contains(v.Str, "${{") {
		return nil, true // compiled with the other arguments, read when the step runs
	}
	if v.Kind != spec.List {
		c.Errorf(v.Pos, "with.map must be a list of rules such as %s, not %s", example, v.TypeName())
		return nil, false
	}
	ok := true
	bad := func(pos spec.Pos, format string, args ...any) {
		c.Errorf(pos, format, args...)
		ok = false
	}
	literal := func(x *spec.Value, what string) bool {
		if x.Kind != spec.Scalar {
			bad(x.Pos, "%s must be a string, not %s", what, x.TypeName())
			return false
		}
		if strings.Contains(x.Str, "${{") {
			bad(x.Pos, "%s is used as written: ${{ }} is not evaluated in selection rules", what)
			return false
		}
		return true
	}
	var rules []testresult.Rule
	for i, item := range v.List {
		n := i + 1
		if item.Kind == spec.Scalar {
			if !literal(item, fmt.Sprintf("with.map rule %d", n)) {
				continue
			}
			rs, err := textRules(n, item.Str)
			if err != nil {
				bad(item.Pos, "%v", err)
				continue
			}
			rules = append(rules, rs...)
			continue
		}
		if item.Kind != spec.Map {
			bad(item.Pos, "with.map rule %d must be a map such as %s, not %s", n, example, item.TypeName())
			continue
		}
		var (
			r        testresult.Rule
			matchVal *spec.Value
			testVals []*spec.Value
		)
		for _, e := range item.Map {
			switch e.Key {
			case "match":
				if literal(e.Value, fmt.Sprintf("with.map rule %d: match", n)) {
					r.Match, matchVal = e.Value.Str, e.Value
				}
			case "tests":
				vals := []*spec.Value{e.Value}
				if e.Value.Kind == spec.List {
					vals = e.Value.List
				}
				for _, t := range vals {
					if literal(t, fmt.Sprintf("with.map rule %d: tests", n)) {
						r.Tests = append(r.Tests, t.Str)
						testVals = append(testVals, t)
					}
				}
			default:
				h := spec.Hint(e.Key, []string{"match", "tests"})
				bad(e.KeyPos, "with.map rule %d: unknown key %q%s; a rule takes match and tests", n, e.Key, h)
			}
		}
		if matchVal == nil || len(testVals) == 0 {
			if item.Entry("match") == nil || item.Entry("tests") == nil {
				bad(item.Pos, "with.map rule %d needs match (a regular expression) and tests (what a matching path selects)", n)
			}
			continue
		}
		// The regular expression first, then each template on its own, so
		// that every error points at what is wrong.
		if err := testresult.ValidateRules([]testresult.Rule{{Match: r.Match, Tests: []string{"$0"}}}); err != nil {
			bad(matchVal.Pos, "%s", ruleError(err, n))
			continue
		}
		for _, t := range testVals {
			if err := testresult.ValidateRules([]testresult.Rule{{Match: r.Match, Tests: []string{t.Str}}}); err != nil {
				bad(t.Pos, "%s", ruleError(err, n))
			}
		}
		rules = append(rules, r)
	}
	return rules, ok
}

// ruleArrow separates the regular expression from the tests in a rule
// written as text.
const ruleArrow = " -> "

// textRules reads rule n of with.map written as text: 'REGEX -> TEMPLATE
// [TEMPLATE...]', or defaults for testresult.DefaultRules.
func textRules(n int, s string) ([]testresult.Rule, error) {
	s = strings.TrimSpace(s)
	if s == "defaults" {
		return testresult.DefaultRules(), nil
	}
	match, tests, ok := strings.Cut(s, ruleArrow)
	r := testresult.Rule{Match: strings.TrimSpace(match), Tests: strings.Fields(tests)}
	if !ok || r.Match == "" || len(r.Tests) == 0 {
		return nil, fmt.Errorf(`with.map rule %d: %q is not a rule: write 'REGEX -> TEST...', e.g. 'backend/app/(.*)\.py -> backend/tests/unit/$1_test.py', or defaults`, n, s)
	}
	if err := testresult.ValidateRules([]testresult.Rule{r}); err != nil {
		return nil, errors.New(ruleError(err, n))
	}
	return []testresult.Rule{r}, nil
}

// ruleError renumbers an error of ValidateRules, which saw one rule, as
// rule n of with.map.
func ruleError(err error, n int) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "test selection rule 1 "); ok {
		return fmt.Sprintf("with.map rule %d %s", n, rest)
	}
	return "with.map: " + msg
}

type testAction struct {
	command *eval.Template
	shell   string
	args    *engine.Args
	rules   []testresult.Rule
	mapExpr bool // with.map is one ${{ }}: the rules are read when the step runs
}

// DefaultOnResume: rerun; tests run again.
func (*testAction) DefaultOnResume() string { return "rerun" }

// runtimeRules reads with.map when it is one ${{ }}: a list of rules as
// text (see textRules).
func (a *testAction) runtimeRules(x *engine.Exec) ([]testresult.Rule, error) {
	v, err := x.Value(a.args, "map")
	if err != nil {
		return nil, err
	}
	var texts []string
	switch l := v.(type) {
	case nil:
	case []string:
		texts = l
	case []any:
		for _, e := range l {
			texts = append(texts, eval.Text(e))
		}
	default:
		texts = []string{eval.Text(v)}
	}
	var rules []testresult.Rule
	for i, s := range texts {
		if strings.TrimSpace(s) == "" {
			continue
		}
		rs, err := textRules(i+1, s)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rs...)
	}
	return rules, nil
}

// testRun is one attempt's plan: the arguments evaluated and the tests
// selected.
type testRun struct {
	ref        string      // the branch (or commit) the tests ran on, see testedRef
	script     eval.Script // the command, with the selected tests appended
	format     string      // as written: auto is resolved after the command ran
	results    string      // the results file as written, "" for standard output
	resultsAbs string
	changed    bool   // select: changed or files
	sel        string // which of them
	base       string
	nChanged   int      // files changed since base, or given
	selected   []string // tests appended to the command
	seen       string   // the command as the shell runs it (see shellSees)
}

func (a *testAction) prepare(ctx context.Context, x *engine.Exec) (*testRun, error) {
	command, err := x.Shell(a.command)
	if err != nil {
		return nil, err
	}
	t := &testRun{script: command, format: testresult.FormatAuto, seen: shellSees(command.Text, withScript(x.Env, command))}
	if f, err := x.String(a.args, "format"); err != nil {
		return nil, err
	} else if f != "" {
		t.format = f
	}
	if t.results, err = x.String(a.args, "results"); err != nil {
		return nil, err
	}
	if t.results == "" && t.format != testresult.FormatExitCode {
		t.results = testresult.ResultsPath(t.seen)
	}
	if t.results != "" {
		t.resultsAbs = t.results
		if !filepath.IsAbs(t.resultsAbs) {
			t.resultsAbs = filepath.Join(x.Dir, t.resultsAbs)
		}
	}
	sel, err := x.String(a.args, "select")
	if err != nil {
		return nil, err
	}
	var changed []string
	switch sel {
	case "changed":
		if t.base, err = x.String(a.args, "base"); err != nil {
			return nil, err
		}
		if changed, err = changedSince(ctx, x.Repo, t.base); err != nil {
			return nil, err
		}
	case "files":
		files, err := x.Strings(a.args, "files")
		if err != nil {
			return nil, err
		}
		if changed, err = filesIn(ctx, x.Repo, files); err != nil {
			return nil, err
		}
	default:
		return t, nil
	}
	t.changed, t.sel, t.nChanged = true, sel, len(changed)
	rules := a.rules
	if a.mapExpr {
		if rules, err = a.runtimeRules(x); err != nil {
			return nil, err
		}
	}
	tests, err := testresult.Select(changed, rules, testresult.ExistsIn(x.Repo))
	if err != nil {
		return nil, err
	}
	python, goPkgs, _ := testresult.Group(tests)
	switch testRunner(t.seen) {
	case "go":
		tests = goPkgs
	case "pytest":
		tests = python
	}
	t.selected = []string{}
	for _, s := range tests {
		s = relativeTest(x.Repo, x.Dir, s)
		if strings.HasPrefix(s, "-") {
			// A file named -x reaches the runner as a path, not an option.
			s = "./" + s
		}
		t.selected = append(t.selected, s)
	}
	if len(t.selected) > 0 {
		words := eval.ShellQuote(t.selected)
		if evalRE().MatchString(command.Text) {
			// eval joins its words and reads them again: quote them twice.
			words = eval.Quote(words)
		}
		t.script.Text = strings.TrimRight(command.Text, " \t\r\n") + " " + words
	}
	return t, nil
}

// filesIn lists the given repo-relative paths for selection, a folder
// standing for the files git tracks in it.
func filesIn(ctx context.Context, dir string, paths []string) ([]string, error) {
	if dir == "" {
		return nil, errors.New("select: files needs a git repository, and this run has none")
	}
	repo, err := git.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		p = strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(p), "./"), "/")
		if p == "" {
			continue
		}
		if err := git.CheckPath(p); err != nil {
			return nil, fmt.Errorf("with.files: %w", err)
		}
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err != nil || !fi.IsDir() {
			out = append(out, p)
			continue
		}
		list, err := repo.Git(ctx, "--literal-pathspecs", "ls-files", "-z", "--", p)
		if err != nil {
			return nil, fmt.Errorf("list the files in %s: %w", p, err)
		}
		for _, f := range strings.Split(list, "\x00") {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// shellSees returns the command as the shell runs it, for telling the
// test runner and the results format: `eval "$TEST_COMMAND"` is the
// command the variable holds (the built-ins run a test_command param that
// way).
func shellSees(command string, env []string) string {
	cmd := os.Expand(command, envLookup(env))
	if m := evalRE().FindStringSubmatch(cmd); m != nil {
		return m[1]
	}
	return cmd
}

// changedSince lists the paths changed since base, committed, uncommitted
// and untracked, as the seed's incremental validation does.
func changedSince(ctx context.Context, dir, base string) ([]string, error) {
	if dir == "" {
		return nil, errors.New("select: changed needs a git repository, and this run has none")
	}
	repo, err := git.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	changed, err := repo.ChangedFiles(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("with.base: %w", err)
	}
	return changed, nil
}

// testRunner tells which test runner a command runs: "go" for go test,
// "pytest" for pytest in any of its spellings, "" otherwise.
func testRunner(command string) string {
	words := strings.Fields(command)
	for i, w := range words {
		w = strings.Trim(w, `'"`)
		next := ""
		if i+1 < len(words) {
			next = strings.Trim(words[i+1], `'"`)
		}
		switch base := path.Base(w); {
		case base == "go" && next == "test":
			return "go"
		case base == "pytest" || base == "py.test" || strings.HasPrefix(base, "pytest-3"),
			w == "-m" && next == "pytest":
			return "pytest"
		}
	}
	return ""
}

// relativeTest turns a repo-relative test path or Go package pattern into
// one relative to dir, where the command runs.
func relativeTest(repo, dir, test string) string {
	if filepath.Clean(repo) == filepath.Clean(dir) {
		return test
	}
	pkg := strings.HasPrefix(test, "./") || test == "." || strings.HasSuffix(test, "/...")
	p, dots := test, false
	if pkg {
		p, dots = strings.CutSuffix(strings.TrimPrefix(p, "./"), "...")
		p = strings.TrimSuffix(p, "/")
	}
	rel, err := filepath.Rel(dir, filepath.Join(repo, filepath.FromSlash(p)))
	if err != nil {
		return test
	}
	rel = filepath.ToSlash(rel)
	if !pkg {
		return rel
	}
	if rel != "." && !strings.HasPrefix(rel, "../") {
		rel = "./" + rel
	}
	if dots {
		rel = strings.TrimSuffix(rel, "/") + "/..."
	}
	return rel
}

// Describe shows the command as it would run, with the selected tests,
// and where the results would be read from.
func (a *testAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t, err := a.prepare(ctx, x)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(t.script.Display(x.Mask))
	if strings.HasPrefix(strings.TrimSpace(t.script.Text), "eval ") {
		fmt.Fprintf(&b, "\n# the shell runs: %s", strings.TrimSpace(t.seen+" "+eval.ShellQuote(t.selected)))
	}
	format := t.resolvedFormat()
	from := "standard output"
	switch {
	case format == testresult.FormatExitCode:
		from = "the exit code"
	case t.results != "":
		from = t.results
	}
	if t.format == testresult.FormatAuto {
		format += " (auto)"
	}
	fmt.Fprintf(&b, "\n# results: %s, read from %s", format, from)
	if t.changed {
		if len(t.selected) == 0 {
			fmt.Fprintf(&b, "\n# select: no test affected by %s: the command would not run", t.what())
		} else {
			fmt.Fprintf(&b, "\n# select: %d tests chosen by %s", len(t.selected), t.what())
		}
	}
	return b.String(), nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (a *testAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	t, err := a.prepare(ctx, x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	t.ref = testedRef(ctx, x.Dir)
	if a.args.Has("ref") {
		ref, err := x.String(a.args, "ref")
		if err != nil {
			return engine.Result{ExitCode: -1}, err
		}
		if ref != "" {
			t.ref = ref
		}
	}
	if t.changed && len(t.selected) == 0 {
		fmt.Fprintf(x.Log, "no test is affected by %s: the tests did not run\n", t.what())
		return engine.Result{Outputs: t.outputs(testresult.Result{Format: t.resolvedFormat()})}, nil
	}
	if t.changed {
		fmt.Fprintf(x.Log, "running the %d tests affected by %s: %s\n", len(t.selected), t.what(), strings.Join(t.selected, " "))
	}
	var before os.FileInfo
	if t.resultsAbs != "" {
		before, _ = os.Stat(t.resultsAbs)
	}
	// Standard output is kept for parsing; it holds secrets unmasked, so
	// it lives only until then (the log keeps the masked copy).
	capture := filepath.Join(x.RunDir, fmt.Sprintf("%s.%d.stdout", x.StepID, x.Attempt))
	f, err := os.OpenFile(capture, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return engine.Result{ExitCode: -1}, fmt.Errorf("capture test output: %w", err)
	}
	defer os.Remove(capture)
	var stdout io.Writer = io.MultiWriter(x.Log, f)
	if t.results == "" && t.resolvedFormat() == testresult.FormatGoJSON {
		// A live view shows the tests counted so far, not the raw events.
		stdout = io.MultiWriter(stdout, &progressLines{x: x})
	}
	code, err := runScript(ctx, x, a.shell, t.script, stdout)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("capture test output: %w", cerr)
	}
	if err != nil {
		return engine.Result{ExitCode: code}, err
	}
	res, err := t.read(capture, before, code)
	if err != nil {
		return engine.Result{ExitCode: code, Outputs: map[string]any{"ok": false}}, err
	}
	out := t.outputs(res)
	if !res.OK() && res.Format == testresult.FormatExitCode {
		// One exit status is not a count of tests.
		return engine.Result{ExitCode: code, Outputs: out}, fmt.Errorf("%s the suite failed (read by its exit code only): exit status %d", testsFailedPrefix, code)
	}
	if !res.OK() {
		return engine.Result{ExitCode: code, Outputs: out}, testsFailed(res)
	}
	return engine.Result{ExitCode: code, Outputs: out}, nil
}

// progressLines counts the tests of go test -json output as it comes and
// reports the counts to the run's observer each time they change.
type progressLines struct {
	x       *engine.Exec
	tally   testresult.Tally
	partial []byte
	long    bool // the line so far was too long to be an event worth reading
}

// maxEventLine bounds what progressLines keeps of one line: a longer one
// is test output, counted by nobody.
const maxEventLine = 1 << 20

func (p *progressLines) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.add(b)
			break
		}
		p.add(b[:i])
		if !p.long && p.tally.GoJSONLine(p.partial) {
			p.x.Report(engine.Progress{Passed: p.tally.Passed, Failed: p.tally.Failed, Skipped: p.tally.Skipped, Failures: p.tally.Failures})
		}
		p.partial, p.long = p.partial[:0], false
		b = b[i+1:]
	}
	return n, nil
}

func (p *progressLines) add(b []byte) {
	if p.long || len(p.partial)+len(b) > maxEventLine {
		p.partial, p.long = p.partial[:0], true
		return
	}
	p.partial = append(p.partial, b...)
}

// read parses what the command reported: the results file or its standard
// output, in the format given or detected.
func (t *testRun) read(capture string, before os.FileInfo, code int) (testresult.Result, error) {
	format := t.resolvedFormat()
	if format == testresult.FormatExitCode {
		return testresult.FromExitCode(code), nil
	}
	src, where := capture, "the command's output"
	if t.results != "" {
		src, where = t.resultsAbs, t.results
		fi, err := os.Stat(src)
		if err != nil {
			return testresult.Result{}, fmt.Errorf("the command (exit status %d) did not write its results file %s", code, t.results)
		}
		if before != nil && os.SameFile(before, fi) && before.ModTime().Equal(fi.ModTime()) && before.Size() == fi.Size() {
			return testresult.Result{}, fmt.Errorf("the command (exit status %d) did not write its results file %s: the file there is left from before", code, t.results)
		}
	}
	fh, err := os.Open(src)
	if err != nil {
		return testresult.Result{}, fmt.Errorf("read test results: %w", err)
	}
	defer fh.Close()
	res, err := testresult.Parse(format, fh)
	if err != nil {
		return testresult.Result{}, fmt.Errorf("cannot read the test results in %s (the command exited with status %d): %w", where, code, err)
	}
	return res.WithExitCode(code), nil
}

// what names the paths tests were selected for.
func (t *testRun) what() string {
	if t.sel == "files" {
		return fmt.Sprintf("the %d files given", t.nChanged)
	}
	return fmt.Sprintf("the %d files changed since %s", t.nChanged, t.base)
}

// resolvedFormat is the format given, or the one auto detects from the
// command as the shell sees it.
func (t *testRun) resolvedFormat() string {
	if t.format == testresult.FormatAuto {
		return testresult.Detect(t.seen, nonEmpty(t.results))
	}
	return t.format
}

// (?s): the variable may hold a command of several lines.
var evalRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)^\s*eval\s+"(.*)"\s*$`) })

// envLookup looks names up in an environment list; the last entry wins.
func envLookup(env []string) func(string) string {
	return func(name string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v
			}
		}
		return ""
	}
}

func (t *testRun) outputs(res testresult.Result) map[string]any {
	out := res.Outputs()
	out["format"] = res.Format
	if t.ref != "" {
		out["ref"] = t.ref
	}
	if t.changed {
		out["selected"] = t.selected
	}
	return out
}

const testsFailedPrefix = "tests failed:"

// testsFailed is the step's error when tests failed: the counts and the
// first names.
func testsFailed(res testresult.Result) error {
	var names []string
	for i, f := range res.Failures {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(res.Failures)-5))
			break
		}
		names = append(names, f.Name)
	}
	msg := fmt.Sprintf(testsFailedPrefix+" %d failed, %d errors, %d passed, %d skipped", res.Failed, res.Errors, res.Passed, res.Skipped)
	if len(names) > 0 {
		msg += " (" + strings.Join(names, ", ") + ")"
	}
	return errors.New(msg)
}

// testedRef is the branch the work tree at dir has checked out, or its
// short commit when HEAD is detached; "" outside git. Reports label test
// figures with it: a sprint rollback runs the tests on two branches.
func testedRef(ctx context.Context, dir string) string {
	r, err := git.Open(ctx, dir)
	if err != nil {
		return ""
	}
	if b, err := r.Branch(ctx); err == nil && b != "" {
		return b
	}
	if h, err := r.Head(ctx); err == nil && len(h) >= 12 {
		return h[:12]
	}
	return ""
}
