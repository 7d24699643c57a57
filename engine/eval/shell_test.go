package eval

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileValues try to break out of every shell context.
var hostileValues = []string{
	"plain", "two words", "", "$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '",
	`"; touch CANARY; "`, "a\nEOF\ntouch CANARY", `\`, `\\$(touch CANARY)`, "$HOME", "!x", "line1\nline2",
	"ünïcödé", "'", `"`, `' "`, "$((1+1))", "${PATH}", "-n", "*", "~", "a\\\nb", "\t", ") ; touch CANARY ; (",
}

// shellContextScripts are scripts with one interpolation in the contexts
// the old scanner knew; each prints the value and then "end".
var shellContextScripts = map[string]string{
	"bare":               "printf '%s|' ${{ params.v }}\necho end",
	"double":             "printf '%s|' \"${{ params.v }}\"\necho end",
	"double with text":   "printf '%s|' \"<${{ params.v }}>\"\necho end",
	"single":             "printf '%s|' '${{ params.v }}'\necho end",
	"heredoc":            "cat <<EOF\n${{ params.v }}\nEOF\necho end",
	"heredoc strip tabs": "cat <<-EOF\n\t${{ params.v }}\n\tEOF\necho end",
	"comment":            "true # ${{ params.v }}\necho end",
	"substitution":       "printf '%s|' \"$(printf '%s' ${{ params.v }})\"\necho end",
	"after heredoc":      "cat <<EOF\nx\nEOF\nprintf '%s|' \"${{ params.v }}\"\necho end",
}

// want is what each script should print for a value.
func want(ctx, v string) string {
	switch ctx {
	case "bare", "double", "single":
		return v + "|end\n"
	case "after heredoc":
		return "x\n" + v + "|end\n"
	case "double with text":
		return "<" + v + ">|end\n"
	case "heredoc", "heredoc strip tabs":
		// The value is expanded after the document is read: a line EOF in
		// it does not end the document, and <<- strips no tab from it.
		return v + "\nend\n"
	case "comment":
		return "end\n"
	case "substitution":
		return strings.TrimRight(v, "\n") + "|end\n"
	}
	return ""
}

// runScript runs a rendered script as a run: step does (bash without
// profiles, -eo pipefail, from a file) in dir, with the script's variables
// and extra in a small environment.
func runScript(t testing.TB, shell, dir string, s Script, extra ...string) ([]byte, error) {
	t.Helper()
	file := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(file, []byte(s.Text), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(file)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := []string{"--noprofile", "--norc", "-eo", "pipefail", file}
	if shell == "sh" {
		args = []string{"-e", file}
	}
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent-home", "LC_ALL=C.UTF-8"}, extra...), s.Env()...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

// caseResult is what running one case in bash gave.
type caseResult struct {
	out    []byte
	status int
	canary bool
}

// batch runs rendered scripts in one bash process each after the other,
// each in a subshell of its own whose environment gets the script's
// variables (read from a file, never from script text), sourcing the
// script's file with -eo pipefail as run: steps do. A fork per case rather
// than an exec keeps thousands of cases fast on a small machine.
type batch struct {
	dir   string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	count int
}

const batchLoop = `
while IFS= read -r -d '' __rbf_file; do
  mapfile -d '' -t __rbf_kv <"$__rbf_file.env"
  (
    for (( __rbf_i = 0; __rbf_i < ${#__rbf_kv[@]}; __rbf_i += 2 )); do
      printf -v "${__rbf_kv[__rbf_i]}" '%s' "${__rbf_kv[__rbf_i+1]}"
      export "${__rbf_kv[__rbf_i]}"
    done
    unset __rbf_kv __rbf_i
    set -eo pipefail
    . "$__rbf_file"
  ) >"$__rbf_file.out" 2>&1 </dev/null
  __rbf_status=$?
  __rbf_canary=0
  if [ -e CANARY ]; then __rbf_canary=1; rm -f CANARY; fi
  printf '%s %s\0' "$__rbf_status" "$__rbf_canary"
done
`

func newBatch(t testing.TB, dir string) *batch {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-c", batchLoop)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent-home", "LC_ALL=C.UTF-8"}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &batch{dir: dir, cmd: cmd, in: in, out: bufio.NewReader(out)}
}

// runner runs one script with extra variables (NAME=value) and returns
// what it printed, its exit status and whether the canary appeared.
type runner interface {
	run(s Script, extra ...string) (caseResult, error)
}

// execRunner runs each script as its own process of shell (sh has no
// read -d ” for a batch loop).
type execRunner struct {
	t     testing.TB
	shell string
	dir   string
}

func (r execRunner) run(s Script, extra ...string) (caseResult, error) {
	out, err := runScript(r.t, r.shell, r.dir, s, extra...)
	res := caseResult{out: out}
	if ee, ok := err.(*exec.ExitError); ok {
		res.status, err = ee.ExitCode(), nil
	}
	if _, serr := os.Stat(filepath.Join(r.dir, "CANARY")); serr == nil {
		res.canary = true
		os.Remove(filepath.Join(r.dir, "CANARY"))
	}
	return res, err
}

func (b *batch) run(s Script, extra ...string) (caseResult, error) {
	b.count++
	file := filepath.Join(b.dir, fmt.Sprintf("case%d.sh", b.count))
	if err := os.WriteFile(file, []byte(s.Text), 0o600); err != nil {
		return caseResult{}, err
	}
	defer os.Remove(file)
	defer os.Remove(file + ".out")
	defer os.Remove(file + ".env")
	// The variables go through a file: bash reads a pipe a byte at a time.
	var w bytes.Buffer
	for _, kv := range append(append([]string{}, extra...), s.Env()...) {
		k, v, _ := strings.Cut(kv, "=")
		w.WriteString(k + "\x00" + v + "\x00")
	}
	if err := os.WriteFile(file+".env", w.Bytes(), 0o600); err != nil {
		return caseResult{}, err
	}
	if _, err := io.WriteString(b.in, file+"\x00"); err != nil {
		return caseResult{}, err
	}
	line, err := b.out.ReadString(0)
	if err != nil {
		return caseResult{}, fmt.Errorf("batch shell: %w", err)
	}
	var r caseResult
	var canary int
	if _, err := fmt.Sscanf(strings.TrimSuffix(line, "\x00"), "%d %d", &r.status, &canary); err != nil {
		return caseResult{}, fmt.Errorf("batch shell said %q", line)
	}
	r.canary = canary == 1
	r.out, err = os.ReadFile(file + ".out")
	return r, err
}

func (b *batch) close() {
	b.in.Close()
	_ = b.cmd.Wait()
}

// TestShellInterpolationIsInert runs every hostile value in every context
// through bash: the script prints the value exactly and runs nothing.
func TestShellInterpolationIsInert(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}}})
	b := newBatch(t, t.TempDir())
	defer b.close()
	for name, src := range shellContextScripts {
		tpl, err := c.ShellTemplate(src, Bash)
		if err != nil {
			t.Fatalf("ShellTemplate(%q): %v", src, err)
		}
		for _, v := range hostileValues {
			d := &Data{Params: map[string]any{"v": v}}
			script, err := tpl.Shell(c.Env(d))
			if err != nil {
				t.Errorf("%s: Shell(%q): %v", name, v, err)
				continue
			}
			if strings.Contains(v, "CANARY") && strings.Contains(script.Text, v) {
				t.Errorf("%s: value %q is in the script's text:\n%s", name, v, script.Text)
			}
			r, err := b.run(script)
			if err != nil {
				t.Fatal(err)
			}
			if r.canary {
				t.Fatalf("%s: value %q ran a command; script:\n%s", name, v, script)
			}
			if r.status != 0 {
				t.Errorf("%s: value %q: bash failed: %d\nscript:\n%s\noutput:\n%s", name, v, r.status, script, r.out)
				continue
			}
			if w := want(name, v); string(r.out) != w {
				t.Errorf("%s: value %q printed %q, want %q\nscript:\n%s", name, v, r.out, w, script)
			}
		}
	}
}

func TestShellListsAreWords(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "l", Type: "list"}}})
	tpl, err := c.ShellTemplate("printf '<%s>' ${{ params.l }}; printf '[%s]' \"${{ params.l }}\"", Bash)
	if err != nil {
		t.Fatal(err)
	}
	script, err := tpl.Shell(c.Env(&Data{Params: map[string]any{"l": []string{"a b", "$(id)", "c"}}}))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runScript(t, "bash", t.TempDir(), script)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "<a b><$(id)><c>[a b $(id) c]"; got != want {
		t.Errorf("lists: %q, want %q (script %s)", got, want, script)
	}
}

// measuredCases are the seven constructs issue 11 measured: in each, the
// hand-written scanner lost its place, and the value given here ran as a
// command (checked against the scanner of commit f583e0c).
var measuredCases = []struct {
	name, script, value, want string
	refused                   bool // the value is refused before the script starts
}{
	{name: "after a here-string", script: "read -r a <<<\"x\"\necho ${{ params.v }} \"${{ params.v }}\"",
		value: "$(touch CANARY)", want: "$(touch CANARY) $(touch CANARY)\n"},
	{name: "after an arithmetic shift", script: "x=$(( 1 << 4 ))\necho ${{ params.v }} \"${{ params.v }}\"",
		value: "; touch CANARY", want: "; touch CANARY ; touch CANARY\n"},
	{name: "inside backticks", script: "echo `echo ${{ params.v }}` \"`echo \"${{ params.v }}\"`\"",
		value: "`; touch CANARY; `", want: "`; touch CANARY; ` `; touch CANARY; `\n"},
	{name: "inside $'...'", script: "echo $'a\\tb ${{ params.v }}'",
		value: "\\'; touch CANARY #", want: "a\tb \\'; touch CANARY #\n"},
	{name: "after $'it\\'s'", script: "echo $'it\\'s'\necho ${{ params.v }} '${{ params.v }}'",
		value: "$(touch CANARY)", want: "it's\n$(touch CANARY) $(touch CANARY)\n"},
	{name: "case inside \"$(...)\"", script: "echo \"$(case x in x) echo ${{ params.v }};; esac)\"",
		value: "; touch CANARY", want: "; touch CANARY\n"},
	{name: "[[ -eq ]]", script: "[[ ${{ params.v }} -eq 1 ]] || echo no", value: "a[$(touch CANARY)]", refused: true},
	{name: "[[ -eq ]] single-quoted", script: "[[ '${{ params.v }}' -eq 1 ]] || echo no", value: "a[$(touch CANARY)]", refused: true},
	{name: "$(( + ))", script: "echo $(( ${{ params.v }} + 1 ))", value: "a[$(touch CANARY)]", refused: true},
	{name: "$(( + )) double-quoted", script: "echo \"$(( \"${{ params.v }}\" + 1 ))\"", value: "a[$(touch CANARY)]", refused: true},
	{name: "$(( + )) with an integer", script: "echo $(( ${{ params.v }} + 1 ))\n[[ '${{ params.v }}' -eq 41 ]] && echo decimal", value: "041", want: "42\ndecimal\n"},
}

// TestShellMeasuredCases runs the measured cases as run: steps run
// scripts (bash -eo pipefail FILE) with the values in the environment.
func TestShellMeasuredCases(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}}})
	dir := t.TempDir()
	for _, tt := range measuredCases {
		tpl, err := c.ShellTemplate(tt.script, Bash)
		if err != nil {
			t.Errorf("%s: ShellTemplate(%q): %v", tt.name, tt.script, err)
			continue
		}
		s, err := tpl.Shell(c.Env(&Data{Params: map[string]any{"v": tt.value}}))
		if tt.refused {
			if err == nil || !strings.Contains(err.Error(), "${{ params.v }}") || !strings.Contains(err.Error(), "integer") {
				t.Errorf("%s: Shell = %v, want the value refused, naming ${{ params.v }}, as not an integer", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Shell: %v", tt.name, err)
			continue
		}
		out, err := runScript(t, "bash", dir, s)
		if _, serr := os.Stat(filepath.Join(dir, "CANARY")); serr == nil {
			t.Fatalf("%s: the value ran a command; script:\n%s", tt.name, s)
		}
		if err != nil || string(out) != tt.want {
			t.Errorf("%s: printed %q (%v), want %q; script:\n%s", tt.name, out, err, tt.want, s)
		}
	}
}

func TestShellTemplateErrors(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}, {Name: "n", Type: "int"}, {Name: "l", Type: "list"},
		{Name: "b", Type: "bool"}, {Name: "cmd", Type: "command"}}})
	tests := []struct {
		src, msg string
		offset   int
		dialect  Dialect
	}{
		{src: "echo 'open ${{ params.v }}", msg: "bash cannot parse this script: reached EOF without closing quote", offset: 5},
		{src: "if true; then\necho ${{ params.v }}\n", msg: "bash cannot parse this script: `if` statement must end with `fi`", offset: 0},
		{src: "echo ${{ params.v }} )", msg: "bash cannot parse this script", offset: 21},
		{src: "eval ${{ params.v }}", msg: "eval runs ${{ params.v }} as code: only a param declared type: command", offset: 5},
		{src: "eval \"x=${{ params.v }}\"", msg: "eval runs ${{ params.v }} as code", offset: 8},
		{src: "builtin eval ${{ params.v }}", msg: "eval runs", offset: 13},
		{src: "bash -c ${{ params.v }}", msg: "bash -c runs ${{ params.v }} as code", offset: 8},
		{src: "sudo -u x sh -ec 'echo ${{ params.v }}'", msg: "sh -c runs", offset: 23},
		{src: "docker exec box /bin/bash -o pipefail -c \"${{ params.v }}\"", msg: "bash -c runs", offset: 42},
		{src: "source ${{ params.v }}", msg: "source runs", offset: 7},
		{src: ". ./${{ params.v }}.sh", msg: ". runs", offset: 4},
		{src: "trap ${{ params.v }} EXIT", msg: "trap runs", offset: 5},
		{src: "echo ${{ params.v }} | bash", msg: "| bash runs", offset: 5},
		{src: "bash <<<${{ params.v }}", msg: "| bash runs", offset: 8},
		{src: "sh <<EOF\n${{ params.v }}\nEOF\n", msg: "| sh runs", offset: 9},
		{src: "eval ${{ params.cmd + \"x\" }}", msg: "eval runs", offset: 5},
		{src: "cat <<'EOF'\n${{ params.v }}\nEOF\n", msg: "here-document whose delimiter is quoted", offset: 12},
		{src: "cat <<E${{ params.v }}\nx\nEOF\n", msg: "bash cannot parse this script: expansions not allowed in heredoc words", offset: 7},
		{src: "echo \\${{ params.v }}", msg: "follows a backslash or a $", offset: 6},
		{src: "echo $${{ params.v }}", msg: "follows a backslash or a $", offset: 6},
		{src: "echo $'\\${{ params.v }}'", msg: "follows a backslash inside $'...'", offset: 8},
		{src: "echo $(( ${{ params.l }} ))", msg: "${{ params.l }} is a list, and bash reads an integer (arithmetic) here", offset: 9},
		{src: "[[ ${{ params.b }} -lt 2 ]]", msg: "is true or false", offset: 3},
		{src: "unset ${{ params.n }}", msg: "is a number, and bash reads a variable name here", offset: 6},
		{src: "echo _rbflow_ph ${{ params.v }}", msg: "reserved", offset: 5},
		{src: "a=( ${{ params.v }} )", msg: "sh cannot parse this script: arrays are not POSIX sh", offset: 2, dialect: POSIX},
	}
	for _, tt := range tests {
		_, err := c.ShellTemplate(tt.src, tt.dialect)
		e, ok := err.(*Error)
		if !ok || !strings.Contains(e.Msg, tt.msg) || e.Offset != tt.offset {
			t.Errorf("ShellTemplate(%q) = %v (offset %d), want %q at %d", tt.src, err, offsetOf(e), tt.msg, tt.offset)
		}
	}
	for _, ok := range []string{
		"eval ${{ params.cmd }}", "eval \"${{ params.cmd }} && ${{ params.cmd }}\"", "bash -c ${{ params.cmd }}",
		"bash -c 'printf %s \"$1\"' _ ${{ params.v }}", "bash script.sh ${{ params.v }}", "echo ${{ params.v }} | grep sh",
		"cat <<EOF\n${{ params.v }}\nEOF\n", "echo $(( ${{ params.n }} + 1 ))", "unset ${{ params.l }}", "trap 'echo x' ${{ params.v }}",
		"# ${{ params.v }}\necho", "read -r -p ${{ params.v }} x",
	} {
		if _, err := c.ShellTemplate(ok, Bash); err != nil {
			t.Errorf("ShellTemplate(%q): %v", ok, err)
		}
	}
}

// Script.String, which a service's record keeps and restart runs without
// the environment, runs as Text does with its variables; Display masks
// each value before quoting it; Record writes a secret as a reference.
func TestScriptStringRunsAsText(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}, {Name: "l", Type: "list"}}})
	tpl, err := c.ShellTemplate("printf '<%s>' ${{ params.l }} \"${{ params.v }}\" '${{ params.v }}' $'\\t${{ params.v }}'\ncat <<EOF\n${{ params.v }}\nEOF", Bash)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range []string{"$(touch CANARY)", "it's \"x\" `touch CANARY`", "", "a\nb", strings.Repeat("'", 70<<10)} {
		s, err := tpl.Shell(c.Env(&Data{Params: map[string]any{"v": v, "l": []string{v, "-n", "x y"}}}))
		if err != nil {
			t.Fatal(err)
		}
		withEnv, err1 := runScript(t, "bash", dir, s)
		standalone, err2 := runScript(t, "bash", dir, Script{Text: s.String()})
		if _, serr := os.Stat(filepath.Join(dir, "CANARY")); serr == nil {
			t.Fatalf("value %q ran a command", clip(v))
		}
		if err1 != nil || err2 != nil || string(withEnv) != string(standalone) {
			t.Errorf("value %q: Text with Vars printed %q (%v), String printed %q (%v)", clip(v), clip(string(withEnv)), err1, clip(string(standalone)), err2)
		}
		secret := "it's \"x\""
		shown := s.Display(func(x string) string { return strings.ReplaceAll(x, secret, "***") })
		if strings.Contains(v, secret) && (strings.Contains(shown, "it'\\''s") || !strings.Contains(shown, "***")) {
			t.Errorf("Display did not mask %q:\n%s", secret, shown)
		}
		// A record refers to the secret by a variable and runs as Text does
		// once the variable carries it.
		rec := s.Record(func(x string) []Piece {
			var out []Piece
			for i, part := range strings.Split(x, secret) {
				if i > 0 {
					out = append(out, Piece{Ref: "SECRET_REF"})
				}
				out = append(out, Piece{Text: part})
			}
			return out
		})
		recorded, err3 := runScript(t, "bash", dir, Script{Text: rec, Vars: []Var{{Name: "SECRET_REF", Value: secret}}})
		if strings.Contains(rec, secret) || err3 != nil || string(recorded) != string(withEnv) {
			t.Errorf("value %q: Record printed %q (%v), want %q without the secret in:\n%s", clip(v), clip(string(recorded)), err3, clip(string(withEnv)), clip(rec))
		}
	}
}

// TestShellGitHubFiles: a script that writes to GitHub Actions' files, as
// the parser finds it (a redirection or tee, the bare variable), is a load
// error that says what rbflow reads instead; a mention anywhere else is not.
func TestShellGitHubFiles(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}}})
	tests := []struct {
		src, msg string
		offset   int
		dialect  Dialect
	}{
		{src: `echo "n=3" >> $GITHUB_OUTPUT`, msg: `$GITHUB_OUTPUT is GitHub Actions' file: rbflow reads a step's outputs from $RBFLOW_OUTPUT (did you mean "$RBFLOW_OUTPUT"?)`, offset: 14},
		{src: `echo "n=3" >> "$GITHUB_OUTPUT"`, msg: "$GITHUB_OUTPUT is GitHub Actions' file", offset: 15},
		{src: `echo "n=3" >"${GITHUB_OUTPUT}"`, msg: "$GITHUB_OUTPUT is GitHub Actions' file", offset: 13},
		{src: "set -e\nif true; then\n  { echo a=1; echo b=2; } >> $GITHUB_OUTPUT\nfi", msg: "$GITHUB_OUTPUT", offset: 50},
		{src: `echo "n=${{ params.v }}" >> $GITHUB_OUTPUT`, msg: "$GITHUB_OUTPUT", offset: 28},
		{src: `echo "n=1" | tee -a "$GITHUB_OUTPUT"`, msg: "$GITHUB_OUTPUT", offset: 21},
		{src: `echo "X=1" >> $GITHUB_ENV`, msg: `$GITHUB_ENV is GitHub Actions' file: rbflow has none for later steps' environment; write KEY=value to "$RBFLOW_OUTPUT"`, offset: 14},
		{src: `echo "X=1" &>> "$GITHUB_ENV"`, msg: "$GITHUB_ENV", offset: 16},
		{src: `echo "n=1" >> $GITHUB_OUTPUT`, msg: "$GITHUB_OUTPUT", offset: 14, dialect: POSIX},
	}
	for _, tt := range tests {
		_, err := c.ShellTemplate(tt.src, tt.dialect)
		e, ok := err.(*Error)
		if !ok || !strings.Contains(e.Msg, tt.msg) || e.Offset != tt.offset {
			t.Errorf("ShellTemplate(%q) = %v (offset %d), want %q at %d", tt.src, err, offsetOf(e), tt.msg, tt.offset)
		}
	}
	for _, ok := range []string{
		`echo "n=3" >> "$RBFLOW_OUTPUT"`,
		`echo "see $GITHUB_OUTPUT" >> "$RBFLOW_OUTPUT"`,
		`# echo n=3 >> $GITHUB_OUTPUT`,
		`echo 'n=3 >> $GITHUB_OUTPUT'`,
		"cat <<EOF\necho n=3 >> $GITHUB_OUTPUT\nEOF",
		`cat "$GITHUB_OUTPUT"`,
		`echo n=3 >> "${GITHUB_OUTPUT:?}"`,
		`echo n=3 >> "$GITHUB_OUTPUT.bak"`,
		`echo n=${{ params.v }} >> "${GITHUB_OUTPUT:?}"`,
	} {
		if _, err := c.ShellTemplate(ok, Bash); err != nil {
			t.Errorf("ShellTemplate(%q): %v", ok, err)
		}
	}
}
