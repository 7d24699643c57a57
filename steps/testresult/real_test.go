package testresult

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// run runs a command in dir and returns its stdout; a non-zero exit is
// expected (tests fail on purpose), so only a failure to start is fatal.
func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	t.Logf("%s %s: exit %d, %d bytes of output; stderr:\n%s", name, strings.Join(args, " "), cmd.ProcessState.ExitCode(), stdout.Len(), stderr.String())
	return stdout.Bytes()
}

// TestParseGoJSONReal runs go test -json on a module made here, with
// passing, failing and skipped tests, subtests, a package that does not
// build and one whose TestMain fails.
func TestParseGoJSONReal(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{
		"go.mod": "module example.com/real\n\ngo 1.21\n",
		"good/good_test.go": `package good

import "testing"

func TestPass(t *testing.T) {}
func TestFail(t *testing.T) { t.Errorf("rollback left %d files", 3) }
func TestSkip(t *testing.T) { t.Skip("needs a database") }
func TestTable(t *testing.T) {
	t.Parallel()
	t.Run("up", func(t *testing.T) {})
	t.Run("down", func(t *testing.T) { t.Fatalf("down migration is not reversible") })
	t.Run("skip", func(t *testing.T) { t.Skip() })
}
`,
		"broken/broken.go":      "package broken\n\nfunc N() int { return \"not a number\" }\n",
		"broken/broken_test.go": "package broken\n\nimport \"testing\"\n\nfunc TestN(t *testing.T) { N() }\n",
		"setup/setup_test.go": `package setup

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	fmt.Println("cannot reach the staging database")
	os.Exit(1)
}

func TestNever(t *testing.T) {}
`,
		"notests/notests.go": "package notests\n",
	})
	env := []string{"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local", "GOPROXY=off"}
	out := run(t, dir, env, "go", "test", "-json", "-count=1", "./...")
	got, err := ParseGoJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("ParseGoJSON(go test -json output) error: %v\n%s", err, out)
	}
	// good: TestPass, TestFail, TestSkip, TestTable, TestTable/{up,down,skip}:
	// passed TestPass and up; failed TestFail, down and TestTable; skipped
	// TestSkip and skip. broken and setup: one error each.
	want := counts{Passed: 2, Failed: 3, Skipped: 2, Errors: 2, Total: 9}
	if countsOf(got) != want {
		t.Fatalf("ParseGoJSON(go test -json output) = %+v, want %+v\n%s", countsOf(got), want, out)
	}
	byName := map[string]Failure{}
	for _, f := range got.Failures {
		byName[f.Name] = f
	}
	for name, msg := range map[string]string{
		"example.com/real/good.TestFail":       "rollback left 3 files",
		"example.com/real/good.TestTable/down": "down migration is not reversible",
		"example.com/real/good.TestTable":      "subtest failed: TestTable/down",
		"example.com/real/broken":              "not a number",
		"example.com/real/setup":               "cannot reach the staging database",
	} {
		if f, ok := byName[name]; !ok || !strings.Contains(f.Message, msg) {
			t.Errorf("ParseGoJSON(go test -json output) failure %q = %+v, want a message containing %q (failures: %q)",
				name, f, msg, failureNames(got))
		}
	}
	if f := byName["example.com/real/good.TestFail"]; f.File != "good_test.go" {
		t.Errorf("failure TestFail File = %q, want good_test.go", f.File)
	}
	if got.OK() {
		t.Errorf("ParseGoJSON(go test -json output).OK() = true, want false")
	}
}

const pytestSample = `import pytest


@pytest.fixture
def database():
    raise RuntimeError("staging database is down")


def test_checkout():
    assert True


def test_tag_exists():
    pass


def test_health():
    assert 503 == 200, "health check returned 503"


@pytest.mark.skip(reason="needs the VPN")
def test_remote():
    pass


def test_migration(database):
    pass


@pytest.mark.xfail(reason="known flaky")
def test_flaky():
    assert False


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1, "only one is fine"
`

// TestParsePytestReal runs pytest on a file made here and parses both its
// terminal summary and its --junitxml file: passed 3 (test_checkout,
// test_tag_exists, test_param[1]), failed 2 (test_health, test_param[2]),
// skipped 2 (the skip and the xfail), one error (the fixture).
func TestParsePytestReal(t *testing.T) {
	t.Parallel()
	py := testkit.Python(t)
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{"tests/test_rollback.py": pytestSample})
	env := []string{"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1", "PYTEST_ADDOPTS=", "PYTHONDONTWRITEBYTECODE=1"}
	want := counts{Passed: 3, Failed: 2, Skipped: 2, Errors: 1, Total: 8}

	for _, args := range [][]string{
		{"-m", "pytest", "-p", "no:cacheprovider", "--junitxml=results/junit.xml"},
		{"-m", "pytest", "-p", "no:cacheprovider", "-q"},
	} {
		out := run(t, dir, env, py, args...)
		got, err := ParsePytest(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("ParsePytest(pytest %s) error: %v\n%s", strings.Join(args[1:], " "), err, out)
		}
		if countsOf(got) != want {
			t.Errorf("ParsePytest(pytest %s) = %+v, want %+v\n%s", strings.Join(args[1:], " "), countsOf(got), want, out)
		}
		if names := failureNames(got); strings.Join(names, " ") != "tests/test_rollback.py::test_health tests/test_rollback.py::test_param[2] tests/test_rollback.py::test_migration" {
			t.Errorf("ParsePytest(pytest %s) failures = %q, want test_health, test_param[2], test_migration", strings.Join(args[1:], " "), names)
		}
	}

	cmd := py + " -m pytest --junitxml=results/junit.xml"
	if Detect(cmd, nil) != FormatJUnit || ResultsPath(cmd) != "results/junit.xml" {
		t.Fatalf("Detect(%q) = %q, ResultsPath = %q, want junit and results/junit.xml", cmd, Detect(cmd, nil), ResultsPath(cmd))
	}
	xmlFile, err := os.Open(filepath.Join(dir, ResultsPath(cmd)))
	if err != nil {
		t.Fatal(err)
	}
	defer xmlFile.Close()
	got, err := ParseJUnit(xmlFile)
	if err != nil {
		t.Fatalf("ParseJUnit(pytest --junitxml) error: %v", err)
	}
	if countsOf(got) != want {
		t.Errorf("ParseJUnit(pytest --junitxml) = %+v, want %+v", countsOf(got), want)
	}
	for _, f := range got.Failures {
		if f.Name == "tests.test_rollback.test_health" && !strings.Contains(f.Message, "health check returned 503") {
			t.Errorf("ParseJUnit(pytest --junitxml) failure %+v, want the assert message", f)
		}
	}
}
