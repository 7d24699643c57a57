package steps

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

func wantCounts(t *testing.T, rec *engine.StepRecord, want map[string]int) {
	t.Helper()
	for k, n := range want {
		if got := intOutput(t, rec, k); got != n {
			t.Errorf("step %s: outputs.%s = %d, want %d (outputs %v)", rec.StepID, k, got, n, rec.Outputs)
		}
	}
}

const goModule = "module example.com/m\n\ngo 1.21\n"

// TestTestGoJSON runs go test -json on a package with a passing, a failing
// and a skipped test; the counts are outputs that a later if: reads.
func TestTestGoJSON(t *testing.T) {
	t.Parallel()
	needGo(t)
	repo := testkit.GitRepo(t, map[string]string{
		"go.mod": goModule,
		"pkg/pkg_test.go": `package pkg

import "testing"

func TestPass(t *testing.T) {}
func TestFail(t *testing.T) { t.Errorf("rollback left %d files", 3) }
func TestSkip(t *testing.T) { t.Skip("needs a database") }
`,
	})
	f := runProcedure(t, repo, `version: 1
name: gotest
steps:
  - id: unit
    test: go test -json -count=1 ./...
    continue_on_error: true
  - id: decide
    if: steps.unit.outputs.failed == 1 && steps.unit.outputs.passed == 1 && steps.unit.outputs.skipped == 1 && !steps.unit.outputs.ok
    run: echo "first=${{ steps.unit.outputs.failures[0].name }}" >> "$RBFLOW_OUTPUT"
  - id: never
    if: steps.unit.outputs.ok
    run: echo never
`, runOpts{})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	unit := f.step(t, "unit")
	if unit.Outcome != engine.StepFailed || unit.Conclusion != engine.StepSucceeded {
		t.Errorf("unit outcome/conclusion = %s/%s, want failed/succeeded (continue_on_error)", unit.Outcome, unit.Conclusion)
	}
	wantCounts(t, unit, map[string]int{"passed": 1, "failed": 1, "skipped": 1, "errors": 0, "total": 3})
	if unit.Outputs["format"] != "go-json" {
		t.Errorf("format = %v, want go-json (auto)", unit.Outputs["format"])
	}
	if !strings.Contains(unit.Error, "tests failed: 1 failed, 0 errors, 1 passed, 1 skipped (example.com/m/pkg.TestFail)") {
		t.Errorf("unit error = %q", unit.Error)
	}
	if got := f.step(t, "decide"); got.Status != engine.StepSucceeded || got.Outputs["first"] != "example.com/m/pkg.TestFail" {
		t.Errorf("decide: %s %v, want succeeded with first=example.com/m/pkg.TestFail", got.Status, got.Outputs)
	}
	if got := f.step(t, "never"); got.Status != engine.StepSkipped {
		t.Errorf("never: %s, want skipped", got.Status)
	}
	failures, _ := unit.Outputs["failures"].([]any)
	if len(failures) != 1 {
		t.Fatalf("failures = %#v, want one", unit.Outputs["failures"])
	}
	if fm, _ := failures[0].(map[string]any); fm["file"] != "pkg_test.go" || !strings.Contains(fmt.Sprint(fm["message"]), "rollback left 3 files") {
		t.Errorf("failure = %v, want file pkg_test.go and the message", fm)
	}
}

// TestTestFailsRun: without continue_on_error a failing test fails the run.
func TestTestFailsRun(t *testing.T) {
	t.Parallel()
	f := runProcedure(t, testkit.GitRepo(t, nil), `version: 1
name: tap
steps:
  - id: tap
    test: printf 'TAP version 13\n1..2\nok 1 - reset\nnot ok 2 - clean\n'
    with: {format: tap}
  - id: after
    run: echo after
`, runOpts{})
	if f.run.Status != engine.RunFailed || f.run.FailedStep != "tap" {
		t.Fatalf("run %s at %q, want failed at tap", f.run.Status, f.run.FailedStep)
	}
	wantCounts(t, f.step(t, "tap"), map[string]int{"passed": 1, "failed": 1, "total": 2})
	if got := f.step(t, "after").Status; got != engine.StepSkipped {
		t.Errorf("after: %s, want skipped", got)
	}
}

// TestTestTAPFile reads TAP from the results file the command writes, the
// format picked by its extension.
func TestTestTAPFile(t *testing.T) {
	t.Parallel()
	f := runProcedure(t, testkit.GitRepo(t, nil), `version: 1
name: tap
steps:
  - id: tap
    test: |
      mkdir -p out
      printf 'TAP version 13\n1..3\nok 1 - reset\nok 2 - clean # SKIP no database\nok 3 - tag\n' > out/results.tap
      echo "this is not TAP"
    with: {results: out/results.tap}
`, runOpts{})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	rec := f.step(t, "tap")
	wantCounts(t, rec, map[string]int{"passed": 2, "skipped": 1, "failed": 0, "total": 3})
	if rec.Outputs["format"] != "tap" || rec.Outputs["ok"] != true {
		t.Errorf("outputs = %v, want format tap and ok", rec.Outputs)
	}
}

// TestTestPytestJUnit runs pytest with --junitxml: the results come from
// the XML file named in the command, with its errors and skips.
func TestTestPytestJUnit(t *testing.T) {
	t.Parallel()
	py := testkit.Python(t)
	repo := testkit.GitRepo(t, map[string]string{
		"tests/test_rollback.py": `import pytest


@pytest.fixture
def database():
    raise RuntimeError("staging database is down")


def test_reset():
    assert True


def test_health():
    assert 503 == 200, "health check returned 503"


@pytest.mark.skip(reason="needs the VPN")
def test_remote():
    pass


def test_migration(database):
    pass
`,
	})
	f := runProcedure(t, repo, `version: 1
name: pytest
params:
  py: {type: string}
steps:
  - id: unit
    test: ${{ params.py }} -m pytest -q -p no:cacheprovider --junitxml=out/junit.xml tests
    continue_on_error: true
`, runOpts{sets: []string{"py=" + py}})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	rec := f.step(t, "unit")
	wantCounts(t, rec, map[string]int{"passed": 1, "failed": 1, "skipped": 1, "errors": 1, "total": 4})
	if rec.Outputs["format"] != "junit" {
		t.Errorf("format = %v, want junit (from --junitxml)", rec.Outputs["format"])
	}
	if !strings.Contains(rec.Error, "test_health") || !strings.Contains(rec.Error, "test_migration") {
		t.Errorf("error = %q, want the failing test and the error named", rec.Error)
	}
}

// TestTestUnreadableResults: a cut results file, output that is not in the
// format, and a results file left from before are step errors that say
// so, with no counts.
func TestTestUnreadableResults(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{
		"stale.xml": `<testsuite tests="1"><testcase name="old"/></testsuite>` + "\n",
	})
	f := runProcedure(t, repo, `version: 1
name: broken
steps:
  - id: cut
    needs: []
    test: |
      printf '<testsuites><testsuite name="s" tests="3"><testcase name="a"/><testcase name="b"><failure message="x">' > cut.xml
      exit 1
    with: {results: cut.xml}
  - id: cut_tap
    needs: []
    test: printf 'TAP version 13\n1..5\nok 1 - a\nok 2 - b\n'
    with: {format: tap}
  - id: not_go
    needs: []
    test: 'echo "go: command not found"; exit 127'
    with: {format: go-json}
  - id: stale
    needs: []
    test: echo "tests ran, but wrote no results"
    with: {results: stale.xml, format: junit}
  - id: missing
    needs: []
    test: "true"
    with: {results: nowhere.xml}
`, runOpts{})
	if f.run.Status != engine.RunFailed {
		t.Fatalf("run %s, want failed", f.run.Status)
	}
	for id, want := range map[string]string{
		"cut":     "cannot read the test results in cut.xml (the command exited with status 1): parse junit:",
		"cut_tap": "cannot read the test results in the command's output (the command exited with status 0): parse tap:",
		"not_go":  "cannot read the test results in the command's output (the command exited with status 127): parse go-json:",
		"stale":   "did not write its results file stale.xml: the file there is left from before",
		"missing": "the command (exit status 0) did not write its results file nowhere.xml",
	} {
		rec := f.step(t, id)
		t.Logf("%s: %s", id, rec.Error)
		if rec.Status != engine.StepFailed || !strings.Contains(rec.Error, want) {
			t.Errorf("%s: %s %q, want failed with %q", id, rec.Status, rec.Error, want)
		}
		for _, k := range []string{"passed", "failed", "total"} {
			if _, ok := rec.Outputs[k]; ok {
				t.Errorf("%s: output %s = %v after a parse error; want no counts", id, k, rec.Outputs[k])
			}
		}
	}
	if rec := f.step(t, "cut_tap"); !strings.Contains(rec.Error, "output ends early") && !strings.Contains(rec.Error, "plan") {
		t.Errorf("cut_tap error = %q, want it to say the output is cut", rec.Error)
	}
}

// selectionRepo is a repository with Python and Go sources and tests; each
// test leaves a mark in $MARKS when it runs.
func selectionRepo(t *testing.T) string {
	t.Helper()
	goTest := func(pkg string) string {
		return fmt.Sprintf(`package %[1]s

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMark(t *testing.T) {
	t.Parallel()
	if err := os.WriteFile(filepath.Join(os.Getenv("MARKS"), "go-%[1]s"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
`, pkg)
	}
	pyTest := func(name string) string {
		return fmt.Sprintf(`import os


def test_mark():
    open(os.path.join(os.environ["MARKS"], "py-%s"), "w").close()
`, name)
	}
	return testkit.GitRepo(t, map[string]string{
		".gitignore":                          "__pycache__/\n.pytest_cache/\n",
		"go.mod":                              goModule,
		"core/core.go":                        "package core\n\nfunc Version() int { return 1 }\n",
		"core/core_test.go":                   goTest("core"),
		"api/api.go":                          "package api\n\nfunc Route() string { return \"/\" }\n",
		"api/api_test.go":                     goTest("api"),
		"backend/app/models.py":               "VERSION = 1\n",
		"backend/app/views.py":                "ROUTE = '/'\n",
		"backend/tests/unit/models_test.py":   pyTest("models"),
		"backend/tests/unit/views_test.py":    pyTest("views"),
		"backend/tests/unit/__init__.py":      "",
		"docs/rollback.md":                    "# Rollback\n",
		"backend/tests/unit/test_settings.py": pyTest("settings"),
	})
}

func marks(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func selected(rec *engine.StepRecord) []string {
	var out []string
	l, _ := rec.Outputs["selected"].([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// TestTestSelectChanged: on a repository with Python and Go sources, the
// tests affected by the changes since main run, pytest getting the test
// files and go test the packages; nothing affected is a success with
// total 0 and the command not run.
func TestTestSelectChanged(t *testing.T) {
	t.Parallel()
	needGo(t)
	py := testkit.Python(t)
	repo := selectionRepo(t)
	testkit.Git(t, repo, "switch", "-q", "-c", "sprint-7")
	testkit.WriteFiles(t, repo, map[string]string{
		"core/core.go":          "package core\n\nfunc Version() int { return 2 }\n",
		"backend/app/models.py": "VERSION = 2\n",
	})
	testkit.Git(t, repo, "commit", "-q", "-am", "sprint work")
	// An untracked new test counts as changed too (it selects itself).
	testkit.WriteFiles(t, repo, map[string]string{"backend/tests/unit/test_new.py": strings.ReplaceAll(
		"import os\n\n\ndef test_mark():\n    open(os.path.join(os.environ['MARKS'], 'py-new'), 'w').close()\n", "'", `"`)})
	markDir := t.TempDir()
	f := runProcedure(t, repo, `version: 1
name: incremental
params:
  py: {type: string}
  marks: {type: string}
env:
  MARKS: ${{ params.marks }}
steps:
  - id: python
    test: ${{ params.py }} -m pytest -q -p no:cacheprovider
    with: {select: changed, base: main}
  - id: go
    test: go test -json -count=1
    with:
      select: changed
      base: main
      map:
        - {match: '(.+)/[^/]+\.go', tests: ['./$1']}
  - id: docs
    test: touch "$MARKS/docs-ran"; go test -json -count=1
    with:
      select: changed
      base: main
      map:
        - {match: 'docs/(.*)\.md', tests: ['./docs/$1']}
  - id: docs_ok
    if: steps.docs.outputs.total == 0 && steps.docs.outputs.ok
    run: "true"
`, runOpts{sets: []string{"py=" + py, "marks=" + markDir}})
	if f.err != nil {
		t.Fatalf("run: %v\npython log:\n%s\ngo log:\n%s", f.err, f.log(t, "python"), f.log(t, "go"))
	}
	if got, want := marks(t, markDir), []string{"go-core", "py-models", "py-new"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tests that ran: %v, want %v", got, want)
	}
	pyRec, goRec, docs := f.step(t, "python"), f.step(t, "go"), f.step(t, "docs")
	if got, want := selected(pyRec), []string{"backend/tests/unit/models_test.py", "backend/tests/unit/test_new.py"}; !reflect.DeepEqual(got, want) {
		t.Errorf("python selected %v, want %v", got, want)
	}
	wantCounts(t, pyRec, map[string]int{"passed": 2, "total": 2})
	if got, want := selected(goRec), []string{"./core"}; !reflect.DeepEqual(got, want) {
		t.Errorf("go selected %v, want %v", got, want)
	}
	wantCounts(t, goRec, map[string]int{"passed": 1, "total": 1})
	if docs.Status != engine.StepSucceeded || len(selected(docs)) != 0 {
		t.Errorf("docs: %s, selected %v; want succeeded with nothing selected", docs.Status, selected(docs))
	}
	wantCounts(t, docs, map[string]int{"total": 0, "failed": 0})
	if got := f.step(t, "docs_ok").Status; got != engine.StepSucceeded {
		t.Errorf("docs_ok: %s, want succeeded (total 0 and ok)", got)
	}
	if log := f.log(t, "docs"); !strings.Contains(log, "no test is affected by the 3 files changed since main") {
		t.Errorf("docs log = %q", log)
	}
}

// TestTestSelectInDir: a step with dir: gets its tests relative to that
// folder.
func TestTestSelectInDir(t *testing.T) {
	t.Parallel()
	repo := selectionRepo(t)
	testkit.WriteFiles(t, repo, map[string]string{"backend/app/views.py": "ROUTE = '/v2'\n"})
	f := runProcedure(t, repo, `version: 1
name: indir
steps:
  - id: show
    dir: backend
    test: echo
    with: {select: changed, base: HEAD, format: exit-code}
`, runOpts{})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	if got, want := selected(f.step(t, "show")), []string{"tests/unit/views_test.py"}; !reflect.DeepEqual(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
	if log := f.log(t, "show"); !strings.Contains(log, "tests/unit/views_test.py\n") {
		t.Errorf("log %q: the command did not get the test", log)
	}
}

// TestTestSelectErrors: a base that is not a commit, or one that looks
// like an option, is a step error.
func TestTestSelectErrors(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	f := runProcedure(t, repo, `version: 1
name: badbase
params:
  base: {type: string, default: nosuch}
steps:
  - id: a
    needs: []
    test: "true"
    with: {select: changed, base: "${{ params.base }}"}
  - id: b
    needs: []
    test: "true"
    with: {select: changed, base: "--output=/tmp/x"}
`, runOpts{})
	for id, want := range map[string]string{
		"a": `with.base: resolve "nosuch": no such commit in`,
		"b": `with.base: invalid revision "--output=/tmp/x": it begins with '-', which git would read as an option`,
	} {
		if rec := f.step(t, id); rec.Status != engine.StepFailed || !strings.Contains(rec.Error, want) {
			t.Errorf("%s: %s %q, want failed with %q", id, rec.Status, rec.Error, want)
		}
	}
}

func TestTestRelativeTest(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ repo, dir, test, want string }{
		{"/r", "/r", "./core", "./core"},
		{"/r", "/r/backend", "backend/tests/x_test.py", "tests/x_test.py"},
		{"/r", "/r/backend", "./backend/api", "./api"},
		{"/r", "/r/backend", "./backend/...", "./..."},
		{"/r", "/r/backend", "./backend", "."},
		{"/r", "/r/backend", "./core/...", "../core/..."},
		{"/r", "/r/backend", "docs/x.md", "../docs/x.md"},
	} {
		if got := relativeTest(c.repo, c.dir, c.test); got != c.want {
			t.Errorf("relativeTest(%q, %q, %q) = %q, want %q", c.repo, c.dir, c.test, got, c.want)
		}
	}
}

func TestTestRunner(t *testing.T) {
	t.Parallel()
	for cmd, want := range map[string]string{
		"go test -json -count=1":                  "go",
		"cd backend && /usr/local/go/bin/go test": "go",
		"'/usr/bin/python3' -m pytest -q":         "pytest",
		"pytest -q":                               "pytest",
		"npm test":                                "",
		"go vet ./...":                            "",
	} {
		if got := testRunner(cmd); got != want {
			t.Errorf("testRunner(%q) = %q, want %q", cmd, got, want)
		}
	}
}

// TestTestSelectFiles: select: files runs the tests of the given paths (a
// folder standing for the files in it), with rules given as text by a
// list param; a command run through eval "$VAR" gets the tests as single
// words even when a path holds a space.
func TestTestSelectFiles(t *testing.T) {
	t.Parallel()
	repo := selectionRepo(t)
	testkit.WriteFiles(t, repo, map[string]string{
		"backend/app/odd name.py":             "X = 1\n",
		"backend/tests/unit/odd name_test.py": "",
	})
	testkit.Git(t, repo, "add", "-A")
	testkit.Git(t, repo, "commit", "-q", "-m", "odd name")
	f := runProcedure(t, repo, `version: 1
name: files
params:
  files: {type: list}
  map: {type: list}
env:
  TEST_COMMAND: printf '<%s>\n'
steps:
  - id: defaults
    test: eval "$TEST_COMMAND"
    with: {select: files, files: "${{ params.files }}", format: exit-code}
  - id: mapped
    test: eval "$TEST_COMMAND"
    with: {select: files, files: "${{ params.files }}", map: "${{ params.map }}", format: exit-code}
  - id: folder
    test: eval "$TEST_COMMAND"
    with: {select: files, files: [backend/app/], format: exit-code}
  - id: written
    test: eval "$TEST_COMMAND"
    with:
      select: files
      files: [docs/rollback.md]
      format: exit-code
      map: ['docs/(.*)\.md -> backend/tests/unit/test_settings.py', defaults]
`, runOpts{sets: []string{"files=./backend/app/views.py", "files=backend/app/odd name.py", "files=backend/app/gone.py",
		`map=backend/app/(.*)\.py -> backend/tests/unit/$1_test.py backend/tests/unit/test_$1.py`}})
	if f.err != nil {
		t.Fatalf("run: %v\n%s", f.err, f.log(t, "defaults"))
	}
	for id, want := range map[string][]string{
		"defaults": {"backend/tests/unit/odd name_test.py", "backend/tests/unit/views_test.py"},
		"mapped":   {"backend/tests/unit/odd name_test.py", "backend/tests/unit/views_test.py"},
		"folder":   {"backend/tests/unit/models_test.py", "backend/tests/unit/odd name_test.py", "backend/tests/unit/views_test.py"},
		"written":  {"backend/tests/unit/test_settings.py"},
	} {
		rec := f.step(t, id)
		if got := selected(rec); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: selected %v, want %v", id, got, want)
		}
		// printf prints each word it got between <>: one word per test.
		var words []string
		for _, l := range strings.Split(f.log(t, id), "\n") {
			if strings.HasPrefix(l, "<") {
				words = append(words, strings.Trim(l, "<>"))
			}
		}
		if !reflect.DeepEqual(words, want) {
			t.Errorf("%s: the command got %q, want %q", id, words, want)
		}
	}
	if log := f.log(t, "defaults"); !strings.Contains(log, "running the 2 tests affected by the 3 files given") {
		t.Errorf("defaults log = %q", log)
	}
}

// TestTestSelectErrorsAtLoad: select: files needs files; files, base and
// map only go with the modes that use them; rules as text are checked.
func TestTestSelectErrorsAtLoad(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, err := engine.Load("p.yaml", []byte(`version: 1
name: bad
steps:
  - id: a
    test: pytest
    with: {select: files}
  - id: b
    test: pytest
    with: {select: changed, base: main, files: [x.py]}
  - id: c
    test: pytest
    with: {files: [x.py], map: [defaults]}
  - id: d
    test: pytest
    with: {select: files, files: [x.py], base: main, map: ['x.py', '(.* -> t.py', 'a(.*) -> t$2.py']}
`), h.reg)
	for _, want := range []string{
		`p.yaml:6:20: step "a": select: files needs with.files, the paths whose tests to run`,
		`p.yaml:9:48: step "b": with.files applies only with select: files`,
		`p.yaml:12:19: step "c": with.files applies only with select: files`,
		`p.yaml:12:32: step "c": with.map applies only with select: changed or files`,
		`p.yaml:15:48: step "d": with.base applies only with select: changed`,
		`p.yaml:15:60: step "d": with.map rule 1: "x.py" is not a rule: write 'REGEX -> TEST...'`,
		`p.yaml:15:68: step "d": with.map rule 2 (match "(.*"): invalid regular expression`,
		`p.yaml:15:83: step "d": with.map rule 3 (match "a(.*)"): test "t$2.py": $2 but the match has only 1 groups`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load errors lack %q:\n%v", want, err)
		}
	}
}

func TestTestShellSees(t *testing.T) {
	t.Parallel()
	env := []string{"TEST_COMMAND=go test -json", "PY=python3 -m pytest --junitxml=out.xml"}
	for cmd, want := range map[string]string{
		`eval "$TEST_COMMAND"`: "go test -json",
		`eval "$PY"`:           "python3 -m pytest --junitxml=out.xml",
		`$PY -q`:               "python3 -m pytest --junitxml=out.xml -q",
		`pytest -q`:            "pytest -q",
	} {
		if got := shellSees(cmd, env); got != want {
			t.Errorf("shellSees(%q) = %q, want %q", cmd, got, want)
		}
	}
}

// TestTestShellSeesMultiLineEval: a variable run through eval may hold a
// command of several lines (analyze wraps the test command to keep its
// output).
func TestTestShellSeesMultiLineEval(t *testing.T) {
	t.Parallel()
	cmd := "{ python3 -m pytest -v # the whole suite\n} 2>&1 | tee \"$RBFLOW_RUN_DIR/out.txt\""
	if got := shellSees(`eval "$TEST_COMMAND"`, []string{"TEST_COMMAND=" + cmd}); got != cmd {
		t.Errorf("shellSees(eval \"$TEST_COMMAND\") with TEST_COMMAND=%q = %q, want the command", cmd, got)
	}
}

// progressEvents keeps the step_progress events of a run.
type progressEvents struct {
	mu     sync.Mutex
	events []engine.Progress
}

func (o *progressEvents) Event(e engine.Event) {
	if e.Kind == "step_progress" {
		o.mu.Lock()
		o.events = append(o.events, *e.Progress)
		o.mu.Unlock()
	}
}

// TestTestProgress: a test step reading go test -json from its output
// reports the tests counted so far as they end, the failures by name.
func TestTestProgress(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var o progressEvents
	r := h.runner()
	r.Observer = &o
	plan, err := engine.Load("p.yaml", []byte(`version: 1
name: progress
steps:
  - id: tests
    test: |
      ev() { printf '{"Action":"%s","Package":"example.com/m/pkg","Test":"%s"}\n' "$1" "$2"; }
      ev run TestA; ev pass TestA
      ev run TestBroken; ev fail TestBroken
      ev run TestC; ev skip TestC
      printf '{"Action":"fail","Package":"example.com/m/pkg"}\n'
    with: {format: go-json}
`), h.reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(context.Background(), plan, nil, "p.yaml"); err == nil {
		t.Fatal("the run succeeded with a failed test")
	}
	want := []engine.Progress{
		{Passed: 1},
		{Passed: 1, Failed: 1, Failures: []string{"pkg.TestBroken"}},
		{Passed: 1, Failed: 1, Skipped: 1, Failures: []string{"pkg.TestBroken"}},
	}
	if !reflect.DeepEqual(o.events, want) {
		t.Errorf("progress events = %+v, want %+v", o.events, want)
	}
}
