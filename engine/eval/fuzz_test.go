package eval

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCompile compiles arbitrary text as an if: condition, a retry.if
// condition and a ${{ }} template against a fixed procedure. Nothing may
// panic; an error's offset must be inside the source; whatever compiles is
// evaluated against sample data, which must not panic either.
func FuzzCompile(f *testing.F) {
	for _, s := range seedExpressions(f) {
		f.Add(s)
	}
	c := testCompiler()
	f.Fuzz(func(t *testing.T, src string) {
		env := c.Env(testData())
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("%s(%q) error is %T, want *Error: %v", what, src, err, err)
			}
			if e.Offset < 0 || e.Offset > len(src) {
				t.Fatalf("%s(%q) error offset %d is outside the source (%d bytes): %s", what, src, e.Offset, len(src), e.Msg)
			}
		}
		cond, err := c.Condition(src)
		check("Condition", err)
		if err == nil {
			_, _ = cond.Eval(env)
			_ = cond.Runtime()
		}
		retry, err := c.RetryCondition(src)
		check("RetryCondition", err)
		if err == nil {
			_, _ = retry.Eval(env)
		}
		sh, err := c.ShellTemplate(src, Bash)
		check("ShellTemplate", err)
		if err == nil {
			_, _ = sh.Shell(env)
		}
		tpl, err := c.Template(src)
		check("Template", err)
		if err == nil {
			_, _ = tpl.Render(env)
			_, _ = tpl.Value(env)
			if _, err := tpl.Shell(env); err == nil {
				t.Fatalf("Template(%q).Shell succeeded: only ShellTemplate compiles for a shell", src)
			}
			_ = tpl.Runtime()
			if tpl.IsLiteral() && utf8.ValidString(src) {
				if got, _ := tpl.Render(env); got != src {
					t.Fatalf("Template(%q) is literal but renders %q", src, got)
				}
			}
		}
	})
}

var (
	ifLine   = regexp.MustCompile(`(?m)^\s*-?\s*if:\s*(.+)$`)
	exprLine = regexp.MustCompile(`(?m)^[^#\n]*?:\s*(.*\$\{\{.*)$`)
)

// seedExpressions takes the conditions and templates written in the golden
// procedures, and a few of the shapes that matter most.
func seedExpressions(f *testing.F) []string {
	seeds := []string{
		`params.sprint > 2 && !params.dry`,
		`steps.reset.status == "failed" || failure()`,
		`always()`,
		`"a.py" in params.files`,
		`let n = params.sprint; n > 2`,
		`all(params.files, # != "")`,
		`result.exit_code == 75 && attempt < 4`,
		`steps.save_state.outputs.n == 3`,
		`file_exists("x") ? true : false`,
		`echo ${{ params.files }} ${{ "}}" }}`,
		`${{ params.baseline }}/${{ env.CI }}`,
		`a ${{ params.x`,
		`${{ }}`,
		`${{ steps.reset.outputs["k"] }}`,
	}
	files, err := filepath.Glob("../testdata/invalid/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range ifLine.FindAllStringSubmatch(string(b), -1) {
			seeds = append(seeds, strings.Trim(m[1], `"'`))
		}
		for _, m := range exprLine.FindAllStringSubmatch(string(b), -1) {
			seeds = append(seeds, strings.Trim(m[1], `"'`))
		}
	}
	return seeds
}
