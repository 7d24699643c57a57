package steps

import (
	"github.com/rbflow/rbflow/engine/testkit"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A changed file whose name begins with '-' reaches the test runner as a
// path (./-x), never as an option.
func TestSelectedFilesAreNotOptions(t *testing.T) {
	repo := testkit.GitRepo(t, map[string]string{
		"run-tests.sh": "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGS_FILE\"\n",
		"-rf":          "old\n",
	})
	if err := os.Chmod(filepath.Join(repo, "run-tests.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.WriteFiles(t, repo, map[string]string{"-rf": "changed\n", "--help": "new\n"})
	argsFile := filepath.Join(t.TempDir(), "args")
	f := runProcedure(t, repo, `version: 1
name: p
params:
  args: {type: string}
env:
  ARGS_FILE: ${{ params.args }}
steps:
  - id: t
    test: ./run-tests.sh
    with:
      format: exit-code
      select: changed
      base: HEAD
      map: [{match: '(-.*)', tests: ['$1']}]
`, runOpts{sets: []string{"args=" + argsFile}})
	if f.err != nil {
		t.Fatalf("run: %v\n%s", f.err, f.log(t, "t"))
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(b)); strings.Join(got, " ") != "./--help ./-rf" {
		t.Errorf("the runner got %q, want ./--help ./-rf", got)
	}
}
