package eval

import (
	"reflect"
	"testing"
)

// TestArgv: only one simple command of literal words is run without the
// shell; anything the shell would change or interpret keeps the shell.
func TestArgv(t *testing.T) {
	direct := map[string][]string{
		"/usr/bin/true":                   {"/usr/bin/true"},
		"go test ./...":                   {"go", "test", "./..."},
		"  npm   run build  \n":           {"npm", "run", "build"},
		`python3 -m pytest 'a b' "c d"`:   {"python3", "-m", "pytest", "a b", "c d"},
		"make -j4 all # build everything": {"make", "-j4", "all"},
		"ls a'b'\"c\"":                    {"ls", "abc"},
		"# comment\nuname -a\n":           {"uname", "-a"},
	}
	for text, want := range direct {
		got, ok := Argv(text, Bash)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Argv(%q) = %q, %v; want %q", text, got, ok, want)
		}
	}
	for _, text := range []string{
		"echo hi", "true", "cd /tmp", "exit 3", "test -f x", "[ -f x ]", "printf x", "eval ls",
		"ls $HOME", "ls ${X}", `ls "$X"`, "ls $(pwd)", "ls `pwd`", "echo $((1+2))", "ls *.go", "ls a?",
		"ls [ab]", "ls {a,b}", "ls ~", "ls ~/x", `ls a\ b`, `ls "a\"b"`, "ls $'a\\nb'", `ls $"a"`,
		"ls > out", "ls 2>&1", "ls < in", "ls | wc", "ls && ls", "ls; ls", "ls &", "! ls", "X=1 ls",
		"X=1", "(ls)", "{ ls; }", "if true; then ls; fi", "f() { ls; }", "time ls", "ls\nls", "",
		"ls <(pwd)", "coproc ls",
	} {
		if got, ok := Argv(text, Bash); ok {
			t.Errorf("Argv(%q) = %q, want the shell", text, got)
		}
	}
}

// TestStepRefs: the engine builds for a step only the states its
// expressions name; any other use of steps gets them all.
func TestStepRefs(t *testing.T) {
	c := NewCompiler(Decl{Steps: []string{"a", "b", "c"}})
	for src, want := range map[string]StepRefs{
		`steps.a.outputs.x == "1" && steps.b.status == "succeeded"`: {IDs: map[string]bool{"a": true, "b": true}},
		`steps["c"].exit_code == 0`:                                 {IDs: map[string]bool{"c": true}},
		`len(steps) > 2`:                                            {All: true},
		`steps[env.X].status == "ok"`:                               {All: true},
		`success() && 1 == 1`:                                       {},
		`run.elapsed > 1`:                                           {},
	} {
		var got StepRefs
		c.Collect(&got)
		if _, err := c.Condition(src); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		c.Collect(nil)
		if got.All != want.All || len(got.IDs) != len(want.IDs) {
			t.Errorf("%s: refs %+v, want %+v", src, got, want)
		}
		for id := range want.IDs {
			if !got.IDs[id] {
				t.Errorf("%s: refs %+v lack %s", src, got, id)
			}
		}
	}
}
