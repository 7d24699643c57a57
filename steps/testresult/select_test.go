package testresult

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// repoFiles is the work tree the selection tests pretend to have: test
// files, and Go package directories as ./dir.
var repoFiles = map[string]bool{
	"backend/tests/unit/services/user_test.py":   true, // the seed's <name>_test.py
	"backend/tests/unit/services/test_orders.py": true, // test_<base>.py
	"backend/tests/unit/models_test.py":          true,
	"backend/tests/test_api.py":                  true,
	"tests/test_cli.py":                          true,
	"tests/unit/test_config.py":                  true,
	".":                                          true,
	"./engine":                                   true,
	"./engine/store":                             true,
	"./cmd/rbflow":                               true,
	"./...":                                      true,
	"./tools/...":                                true,
}

func inRepo(p string) bool { return repoFiles[p] }

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		changed []string
		rules   []Rule
		want    []string
	}{
		{"seed mapping", []string{"backend/app/services/user.py"}, nil,
			[]string{"backend/tests/unit/services/user_test.py"}},
		{"test_ style", []string{"backend/app/services/orders.py"}, nil,
			[]string{"backend/tests/unit/services/test_orders.py"}},
		{"top-level module", []string{"backend/app/models.py", "backend/app/api.py"}, nil,
			[]string{"backend/tests/test_api.py", "backend/tests/unit/models_test.py"}},
		{"module outside app", []string{"src/rb/cli.py", "rb/config.py"}, nil,
			[]string{"tests/test_cli.py", "tests/unit/test_config.py"}},
		{"changed test selects itself", []string{"backend/tests/test_api.py", "tests/unit/test_config.py"}, nil,
			[]string{"backend/tests/test_api.py", "tests/unit/test_config.py"}},
		{"deleted test is gone", []string{"backend/tests/test_gone.py"}, nil, nil},
		{"go file selects its package", []string{"engine/store/sqlite.go", "engine/run.go", "cmd/rbflow/main.go"}, nil,
			[]string{"./cmd/rbflow", "./engine", "./engine/store"}},
		{"go test file selects its package", []string{"engine/store/sqlite_test.go"}, nil, []string{"./engine/store"}},
		{"root package", []string{"main.go"}, nil, []string{"."}},
		{"testdata selects its package", []string{"engine/testdata/golden/a.txt", "engine/store/testdata/x.go"}, nil,
			[]string{"./engine", "./engine/store"}},
		{"go.mod selects the module", []string{"go.mod", "go.sum"}, nil, []string{"./..."}},
		{"vendor is not a package", []string{"vendor/x/y.go", ".github/tools/a.go"}, nil, nil},
		{"no tests for docs", []string{"README.md", "docs/guide.md", ""}, nil, nil},
		{"deduplicated and sorted", []string{"engine/b.go", "engine/a.go", "./engine/a.go", "backend/app/models.py", "backend/tests/unit/models_test.py"}, nil,
			[]string{"./engine", "backend/tests/unit/models_test.py"}},
		{"custom rule, whole-path match", []string{"backend/app/services/user.py", "xbackend/app/y.py"},
			[]Rule{{Match: `backend/app/(.*)\.py`, Tests: []string{"backend/tests/unit/$1_test.py"}}},
			[]string{"backend/tests/unit/services/user_test.py"}},
		{"custom rule, ${n} and $$", []string{"tools/gen/main.go"},
			[]Rule{{Match: `(tools)/.*`, Tests: []string{"./${1}/...", "price$$1"}}},
			[]string{"./tools/..."}},
		{"all matching rules apply", []string{"engine/run.go"},
			[]Rule{{Match: `engine/.*`, Tests: []string{"./engine"}}, {Match: `.*\.go`, Tests: []string{"./cmd/rbflow"}}},
			[]string{"./cmd/rbflow", "./engine"}},
	}
	for _, tt := range tests {
		got, err := Select(tt.changed, tt.rules, inRepo)
		if err != nil {
			t.Errorf("%s: Select(%q) error: %v", tt.name, tt.changed, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Select(%q) = %q, want %q", tt.name, tt.changed, got, tt.want)
		}
	}
}

func TestSelectNilExists(t *testing.T) {
	got, err := Select([]string{"backend/app/x.py"}, []Rule{{Match: `backend/app/(.*)\.py`, Tests: []string{"backend/tests/unit/$1_test.py"}}}, nil)
	if want := []string{"backend/tests/unit/x_test.py"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Select(nil exists) = %q, %v, want %q", got, err, want)
	}
}

func TestSelectRuleErrors(t *testing.T) {
	tests := []struct {
		rules []Rule
		want  string
	}{
		{[]Rule{{Match: `ok/(.*)`, Tests: []string{"$1"}}, {Match: `backend/(.*\.py`, Tests: []string{"x"}}},
			"test selection rule 2 (match \"backend/(.*\\\\.py\"): invalid regular expression: error parsing regexp: missing closing )"},
		{[]Rule{{Match: `a/(.*)`, Tests: []string{"t/$2"}}}, "test selection rule 1 (match \"a/(.*)\"): test \"t/$2\": $2 but the match has only 1 groups"},
		{[]Rule{{Match: `a/(.*)`, Tests: []string{"t/${1"}}}, "unclosed ${"},
		{[]Rule{{Match: `a/(.*)`, Tests: []string{"t/$x"}}}, "$ must be followed by a group number"},
		{[]Rule{{Match: `a/(.*)`, Tests: []string{"t/$"}}}, "lone $"},
		{[]Rule{{Match: `a/(.*)`, Tests: []string{"${one}"}}}, "${one} is not a group number"},
		{[]Rule{{Match: `a/(.*)`}}, "test selection rule 1 (match \"a/(.*)\"): no tests to map to"},
	}
	for _, tt := range tests {
		_, err := Select([]string{"a/b"}, tt.rules, inRepo)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Select(rules %+v) error = %v, want %q", tt.rules, err, tt.want)
		}
		if verr := ValidateRules(tt.rules); verr == nil || verr.Error() != err.Error() {
			t.Errorf("ValidateRules(%+v) = %v, want the same error as Select: %v", tt.rules, verr, err)
		}
	}
	if err := ValidateRules(DefaultRules()); err != nil {
		t.Errorf("ValidateRules(DefaultRules()) = %v", err)
	}
}

func TestGroup(t *testing.T) {
	py, goPkgs, other := Group([]string{"./engine", "backend/tests/unit/x_test.py", ".", "tests/test_a.py::test_b", "./...", "spec/a_spec.rb", "./tools/..."})
	if want := []string{"backend/tests/unit/x_test.py", "tests/test_a.py::test_b"}; !reflect.DeepEqual(py, want) {
		t.Errorf("Group python = %q, want %q", py, want)
	}
	if want := []string{"./engine", ".", "./...", "./tools/..."}; !reflect.DeepEqual(goPkgs, want) {
		t.Errorf("Group go = %q, want %q", goPkgs, want)
	}
	if want := []string{"spec/a_spec.rb"}; !reflect.DeepEqual(other, want) {
		t.Errorf("Group other = %q, want %q", other, want)
	}
}

// TestSelectExistsIn selects in a real work tree.
func TestSelectExistsIn(t *testing.T) {
	root := t.TempDir()
	testkit.WriteFiles(t, root, map[string]string{
		"go.mod":                       "module example.com/m\n",
		"main.go":                      "package main\n",
		"engine/run.go":                "package engine\n",
		"engine/store/store.go":        "package store\n",
		"docs/notes.md":                "notes\n",
		"backend/app/services/user.py": "",
		"backend/tests/unit/services/user_test.py": "",
	})
	exists := ExistsIn(root)
	for p, want := range map[string]bool{
		".":              true,
		"./engine":       true,
		"./engine/store": true,
		"./docs":         false, // a directory without Go files is no package
		"./...":          true,
		"./docs/...":     true,
		"./missing/...":  false,
		"./main.go/...":  false,
		"main.go":        true,
		"backend/tests/unit/services/user_test.py": true,
		"backend/tests/unit/services/none_test.py": false,
		"../outside":        false,
		"/etc/passwd":       false,
		"engine/../../x.go": false,
	} {
		if got := exists(p); got != want {
			t.Errorf("ExistsIn(root)(%q) = %v, want %v", p, got, want)
		}
	}
	got, err := Select([]string{"engine/run.go", "docs/notes.md", "backend/app/services/user.py", "docs/tool.go"}, nil, exists)
	if want := []string{"./engine", "backend/tests/unit/services/user_test.py"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Select(..., ExistsIn(root)) = %q, %v, want %q", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(root, "docs", "tool.go")); !os.IsNotExist(err) {
		t.Fatalf("docs/tool.go should not exist: %v", err)
	}
}
