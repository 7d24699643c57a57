package steps

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestDirectExecLikeBash (issue 13): a step that is one simple command of
// literal words runs without bash and gives what bash gives: output,
// environment (PWD, SHLVL and _ included), folder and exit status; a
// command that is not found still gets bash's message and 127.
func TestDirectExecLikeBash(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, map[string]string{"sub/x.txt": "x\n"})
	script := filepath.Join(t.TempDir(), "status.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"args: $*\"; echo to-stderr >&2; exit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Each pair: the direct form, and the same command that only bash can
	// run (a no-op : appended).
	pairs := [][2]string{
		{"/usr/bin/env", "/usr/bin/env; :"},
		{"env", "env; :"},
		{"pwd -P", "pwd -P; :"}, // pwd is a builtin: both run in bash
		{"/bin/ls -a", "/bin/ls -a; :"},
		{script + " 'a b' \"c\"", script + " 'a b' \"c\"; exit $?"},
		{"no-such-command-rbflow x", "no-such-command-rbflow x; :"},
	}
	var b strings.Builder
	b.WriteString("version: 1\nname: p\nsteps:\n")
	for i, p := range pairs {
		for j, cmd := range p {
			b.WriteString("  - id: s" + string(rune('a'+i)) + string(rune('0'+j)) + "\n    dir: sub\n    continue_on_error: true\n    run: " + quoteYAML(cmd) + "\n")
		}
	}
	f := runProcedure(t, repo, b.String(), runOpts{})
	for i := range pairs {
		id := "s" + string(rune('a'+i))
		direct, viaBash := f.step(t, id+"0"), f.step(t, id+"1")
		if direct.ExitCode != viaBash.ExitCode {
			t.Errorf("%q: exit %d directly, %d in bash", pairs[i][0], direct.ExitCode, viaBash.ExitCode)
		}
		dl, bl := normalized(f.log(t, id+"0")), normalized(f.log(t, id+"1"))
		if dl != bl {
			t.Errorf("%q: output differs\n--- direct\n%s\n--- bash\n%s", pairs[i][0], dl, bl)
		}
	}
	if code := f.step(t, "sf0").ExitCode; code != 127 {
		t.Errorf("a missing command: exit %d, want 127", code)
	}
}

// normalized sorts env-like output (its order is not bash's promise) and
// drops what names the step.
func normalized(log string) string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		// The step's own id and attempt line differ between the two.
		if strings.HasPrefix(l, "RBFLOW_STEP=") || strings.HasPrefix(l, "RBFLOW_OUTPUT=") || strings.HasPrefix(l, "::rbflow::") {
			continue
		}
		lines = append(lines, scriptFile.ReplaceAllString(l, "STEP: line"))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// scriptFile is the step bash names in its messages ($0).
var scriptFile = regexp.MustCompile(`^s[a-z][01]: line`)

func quoteYAML(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
