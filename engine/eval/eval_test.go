package eval

import (
	"strings"
	"testing"
)

func testCompiler() *Compiler {
	return NewCompiler(Decl{
		Params: []Param{{Name: "baseline", Type: "string"}, {Name: "sprint", Type: "int"}, {Name: "files", Type: "list"}, {Name: "dry", Type: "bool"}},
		Steps:  []string{"save_state", "reset"},
	})
}

func testData() *Data {
	return &Data{
		Params: map[string]any{"baseline": "main", "sprint": 3, "files": []string{"a.py", "b c.py", "$(id)"}, "dry": false},
		Env:    map[string]string{"CI": "1"},
		Steps: map[string]StepState{
			"save_state": {Status: "succeeded", Conclusion: "succeeded", Outcome: "succeeded", Outputs: map[string]any{"n": 3}},
			"reset":      {Status: "failed", Conclusion: "failed", Outcome: "failed", ExitCode: 2},
		},
		Run:    RunState{ID: "r1", Procedure: "p"},
		Status: Status{Success: true},
		Funcs:  Funcs{FileExists: func(p string) bool { return p == "yes" }},
	}
}

func TestConditionEval(t *testing.T) {
	c := testCompiler()
	tests := []struct {
		src  string
		data func(*Data)
		want bool
	}{
		{src: `params.sprint > 2`, want: true},
		{src: `params.baseline == "main" && !params.dry`, want: true},
		{src: `steps.reset.status == "failed"`, want: true},
		{src: `steps.reset.exit_code == 2`, want: true},
		{src: `steps.save_state.outputs.n == 3`, want: true},
		{src: `file_exists("yes")`, want: true},
		{src: `file_exists("no")`, want: false},
		{src: `"a.py" in params.files`, want: true},
		{src: `env.CI == "1"`, want: true},
		{src: `true`, data: func(d *Data) { d.Status.Success = false }, want: false},
		{src: `always()`, data: func(d *Data) { d.Status.Success = false }, want: true},
		{src: `failure()`, data: func(d *Data) { d.Status = Status{Failure: true} }, want: true},
		{src: `failure() && steps.reset.status == "failed"`, data: func(d *Data) { d.Status = Status{Failure: true} }, want: true},
	}
	for _, tt := range tests {
		cond, err := c.Condition(tt.src)
		if err != nil {
			t.Fatalf("Condition(%q) error: %v", tt.src, err)
		}
		d := testData()
		if tt.data != nil {
			tt.data(d)
		}
		got, err := cond.Eval(c.Env(d))
		if err != nil || got != tt.want {
			t.Errorf("Eval(%q) = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	c := testCompiler()
	tests := []struct {
		src    string
		msg    string
		offset int
	}{
		{src: `steps.rest.status == "failed"`, msg: `unknown step "rest"`, offset: 6},
		{src: `params.sprnt > 2`, msg: `unknown param "sprnt" in params.sprnt (did you mean "sprint"?)`, offset: 7},
		{src: `params.sprint + 1`, msg: "expected bool", offset: 0},
		{src: `params.baseline > 2`, msg: "invalid operation", offset: 16},
		{src: `${{ true }}`, msg: "does not belong in if", offset: 0},
		{src: `nosuch(1)`, msg: "unknown function nosuch", offset: 0},
		{src: `sucess()`, msg: `unknown function sucess (did you mean "success"?)`, offset: 0},
		{src: `always() && falure()`, msg: `unknown function falure (did you mean "failure"?)`, offset: 12},
		{src: `file_exist("go.mod")`, msg: `unknown function file_exist (did you mean "file_exists"?)`, offset: 0},
		{src: `lenn(params.files) > 0`, msg: `unknown function lenn (did you mean "len"?)`, offset: 0},
		{src: `contains(params.files, "a.py")`, msg: "contains is not a function: here it is an operator: a contains b (text), b in a (a list)", offset: 0},
		{src: `params.dry || startsWith (params.baseline, "m")`, msg: "startsWith is not a function: here it is an operator: a startsWith b", offset: 14},
		{src: `format("{0}", params.baseline) == "x"`, msg: `unknown function format: join the text with + ("v" + params.x)`, offset: 0},
		{src: `file_exists(1)`, msg: "cannot use int", offset: 12},
		{src: `(`, msg: "unexpected", offset: 0},
	}
	for _, tt := range tests {
		_, err := c.Condition(tt.src)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("Condition(%q) = %v, want *Error containing %q", tt.src, err, tt.msg)
			continue
		}
		if !strings.Contains(e.Msg, tt.msg) || e.Offset != tt.offset {
			t.Errorf("Condition(%q) = %q at %d, want %q at %d", tt.src, e.Msg, e.Offset, tt.msg, tt.offset)
		}
	}
}

func TestTemplate(t *testing.T) {
	c := testCompiler()
	env := c.Env(testData())
	tests := []struct {
		src, text string
	}{
		{src: "plain text", text: "plain text"},
		{src: "git diff ${{ params.baseline }}", text: "git diff main"},
		{src: "rm ${{ params.files }}", text: "rm a.py b c.py $(id)"},
		{src: `echo ${{ "it's" }}`, text: "echo it's"},
		{src: `x${{ params.sprint }}y${{ "}}" }}`, text: "x3y}}"},
	}
	for _, tt := range tests {
		tpl, err := c.Template(tt.src)
		if err != nil {
			t.Fatalf("Template(%q): %v", tt.src, err)
		}
		if got, err := tpl.Render(env); err != nil || got != tt.text {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.src, got, err, tt.text)
		}
		if _, err := tpl.Shell(env); err == nil {
			t.Errorf("Shell(%q) of a template not compiled by ShellTemplate succeeded", tt.src)
		}
	}
	tpl, _ := c.Template("${{ params.files }}")
	v, _ := tpl.Value(env)
	if l, ok := v.([]string); !ok || len(l) != 3 {
		t.Errorf("Value(${{ params.files }}) = %#v, want the list", v)
	}
}

func TestTemplateErrors(t *testing.T) {
	c := testCompiler()
	tests := []struct {
		src    string
		msg    string
		offset int
	}{
		{src: "a ${{ params.nope }}", msg: `unknown param "nope"`, offset: 13},
		{src: "a ${{ params.x", msg: "unterminated", offset: 2},
		{src: "${{ steps.zz.outputs.x }}", msg: `unknown step "zz"`, offset: 10},
		{src: "${{ }}", msg: "empty", offset: 0},
	}
	for _, tt := range tests {
		_, err := c.Template(tt.src)
		e, ok := err.(*Error)
		if !ok || !strings.Contains(e.Msg, tt.msg) || e.Offset != tt.offset {
			t.Errorf("Template(%q) = %v (offset %v), want %q at %d", tt.src, err, offsetOf(e), tt.msg, tt.offset)
		}
	}
}

func offsetOf(e *Error) int {
	if e == nil {
		return -1
	}
	return e.Offset
}

func TestConditionLocalsAndBuiltins(t *testing.T) {
	c := testCompiler()
	for _, src := range []string{
		`let n = params.sprint; n > 2`,
		`len(params.files) == 3 && all(params.files, # != "")`,
		`any(params.files, hasSuffix(#, ".py"))`,
	} {
		cond, err := c.Condition(src)
		if err != nil {
			t.Fatalf("Condition(%q): %v", src, err)
		}
		if got, err := cond.Eval(c.Env(testData())); err != nil || !got {
			t.Errorf("Eval(%q) = %v, %v; want true", src, got, err)
		}
	}
}

// TestCompareOutputs: an output compared with a number compares
// numerically (SPEC §2.3), whether the output is text (a shell step's) or
// typed (other kinds'); a string that is not a number is NaN, equal to
// nothing and neither less nor greater; string comparisons stay text.
func TestCompareOutputs(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "n", Type: "int"}, {Name: "s", Type: "string"}}, Steps: []string{"a", "t"}})
	data := func() *Data {
		return &Data{
			Params: map[string]any{"n": 2, "s": "3"},
			Steps: map[string]StepState{
				"a": {Outputs: map[string]any{
					"n": "3", "z": "0", "neg": "-2", "f": "2.5", "sp": " 7\n", "big": "9007199254740993",
					"word": "abc", "empty": "", "s": "abc", "ten": "10", "list": []any{"1", "5"},
				}},
				"t": {Outputs: map[string]any{"failed": 0, "ratio": 0.5, "ok": true}},
			},
			Status: Status{Success: true},
		}
	}
	tests := []struct {
		src  string
		want bool
	}{
		{`steps.a.outputs.n == 1`, false},
		{`steps.a.outputs.n == 3`, true},
		{`3 == steps.a.outputs.n`, true},
		{`steps.a.outputs.n != 3`, false},
		{`steps.a.outputs.n > 0`, true},
		{`steps.a.outputs.n >= 3`, true},
		{`steps.a.outputs.n < 3`, false},
		{`steps.a.outputs.n <= 2`, false},
		{`0 < steps.a.outputs.n`, true},
		{`steps.a.outputs.n > params.n`, true},
		{`steps.a.outputs.n == 3.0`, true},
		{`steps.a.outputs.z == 0`, true},
		{`steps.a.outputs.neg < 0`, true},
		{`steps.a.outputs.f > 2`, true},
		{`steps.a.outputs.f == 2.5`, true},
		{`steps.a.outputs.sp == 7`, true},                  // spaces and a newline around it
		{`steps.a.outputs.big == 9007199254740993`, true},  // exact past 2^53
		{`steps.a.outputs.big == 9007199254740992`, false}, // not rounded to a float
		{`steps.a.outputs.ten > 9`, true},                  // as a number, not as text
		{`let x = steps.a.outputs.n; x > 2`, true},
		{`any(steps.a.outputs.list, # > 4)`, true},
		// Not a number: NaN, equal to nothing, neither less nor greater.
		{`steps.a.outputs.word == 0`, false},
		{`steps.a.outputs.word != 0`, true},
		{`steps.a.outputs.word > 0`, false},
		{`steps.a.outputs.word <= 0`, false},
		{`steps.a.outputs.empty == 0`, false},
		{`steps.a.outputs.empty < 1`, false},
		{`steps.a.outputs.missing == 0`, false}, // never written: not 0
		{`steps.a.outputs.missing > 0`, false},
		{`steps.a.outputs.missing != 0`, true},
		{`steps.a.outputs.missing == nil`, true},
		{`steps.t.outputs.ok == 1`, false},
		// Typed outputs keep working, also against text.
		{`steps.t.outputs.failed == 0`, true},
		{`steps.t.outputs.failed > 0`, false},
		{`steps.t.outputs.ratio < 1`, true},
		{`steps.t.outputs.ok`, true},
		{`steps.t.outputs.ok == true`, true},
		{`steps.t.outputs.failed == "0"`, true},
		{`steps.a.outputs.n > steps.t.outputs.failed`, true},
		// Text stays text.
		{`steps.a.outputs.s == "abc"`, true},
		{`steps.a.outputs.s != "abc"`, false},
		{`steps.a.outputs.n == "3"`, true},
		{`steps.a.outputs.n == params.s`, true},
		{`steps.a.outputs.ten < "9"`, true}, // two strings compare as text, as in GitHub Actions
		{`steps.a.outputs.s in ["abc", "d"]`, true},
	}
	for _, tt := range tests {
		cond, err := c.Condition(tt.src)
		if err != nil {
			t.Errorf("Condition(%q) = %v, want it compiled", tt.src, err)
			continue
		}
		got, err := cond.Eval(c.Env(data()))
		if err != nil || got != tt.want {
			t.Errorf("Eval(%q) = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
	// Interpolation gives the output as it was written.
	tpl, err := c.Template("n=${{ steps.a.outputs.n }} f=${{ steps.t.outputs.failed }}")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tpl.Render(c.Env(data())); err != nil || got != "n=3 f=0" {
		t.Errorf("Render = %q, %v; want %q", got, err, "n=3 f=0")
	}
	v, err := (func() (any, error) {
		tpl, err := c.Template("${{ steps.a.outputs.n == 3 }}")
		if err != nil {
			return nil, err
		}
		return tpl.Value(c.Env(data()))
	})()
	if err != nil || v != true {
		t.Errorf("Value(${{ steps.a.outputs.n == 3 }}) = %v, %v; want true", v, err)
	}
	// Types known at load are still checked at load.
	for _, src := range []string{`params.s > 2`, `params.n == "x"`} {
		if _, err := c.Condition(src); err == nil || !strings.Contains(err.Error(), "mismatched types") && !strings.Contains(err.Error(), "invalid operation") {
			t.Errorf("Condition(%q) = %v, want a type error", src, err)
		}
	}
	// The function comparisons compile to cannot be written.
	if _, err := c.Condition(`$compare("==", 1, 1)`); err == nil {
		t.Errorf("Condition($compare(...)) compiled, want an error")
	}
}

// TestConditionReads: a condition that reads the machine or the clock says
// which call does, so that a Temporal workflow never evaluates it itself.
func TestConditionReads(t *testing.T) {
	c := testCompiler()
	for _, tc := range []struct{ src, want string }{
		{`params.dry`, ""},
		{`steps.save_state.outputs.n > 1 && env.CI == "1"`, ""},
		{`file_exists("x") && params.dry`, "file_exists()"},
		{`params.dry || is_dirty()`, "is_dirty()"},
		{`now().Year() > 2000`, "now()"},
		{`len(keys(steps.save_state.outputs)) > 0`, "keys()"},
		{`env_or("X", "y") == "y"`, "env_or()"},
	} {
		cond, err := c.Condition(tc.src)
		if err != nil {
			t.Fatalf("Condition(%q): %v", tc.src, err)
		}
		if got := cond.Reads(); got != tc.want {
			t.Errorf("Condition(%q).Reads() = %q, want %q", tc.src, got, tc.want)
		}
	}
}
