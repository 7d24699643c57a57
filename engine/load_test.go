package engine_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/steps"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/invalid")

// registry returns the registry cmd/rbflow uses.
func registry() *engine.Registry {
	r := engine.NewRegistry()
	steps.Register(r)
	return r
}

// load is what `rbflow validate` does: decode, then compile.
// load is what rbflow validate does: decode and compile, every error of
// both stages together.
func load(file string, text []byte) (*engine.Plan, error) {
	return engine.Load(file, text, registry())
}

// generated are hostile inputs too big to keep in the repository. Each has a
// golden file testdata/invalid/NAME.golden like the .yaml cases.
var generated = map[string]func() []byte{
	// A 1 MB run: script with an unknown key next to it: the error must not
	// echo a megabyte back.
	"huge_scalar": func() []byte {
		return []byte("version: 1\nname: huge\nsteps:\n  - id: a\n    run: echo " + strings.Repeat("x", 1<<20) + "\n    retyr: 3\n")
	},
	// A 1 MB key, written as an explicit key (? k) because YAML limits
	// implicit ones to 1024 characters: the message and the snippet must
	// stay short.
	"huge_key": func() []byte {
		return []byte("version: 1\nname: huge\nsteps:\n  - id: a\n    run: echo\n    ? " + strings.Repeat("k", 1<<20) + "\n    : 1\n")
	},
	// The same key, implicit: YAML refuses it.
	"huge_implicit_key": func() []byte {
		return []byte("version: 1\nname: huge\nsteps:\n  - id: a\n    run: echo\n    " + strings.Repeat("k", 1<<20) + ": 1\n")
	},
	"huge_file": func() []byte {
		return []byte("version: 1\nname: huge\n# " + strings.Repeat("x", spec.MaxFileSize) + "\nsteps: []\n")
	},
	// A syntax error at the end of a file just under the size up to which
	// syntax errors are located by bisection (the slowest case of it), and
	// of one over it, where the YAML library's line is all there is.
	"syntax_error_120k": func() []byte { return badIndentAtEnd(120 << 10) },
	"syntax_error_200k": func() []byte { return badIndentAtEnd(200 << 10) },
	// 100,000 nested flow lists.
	"deep_nesting_100k": func() []byte {
		return []byte("version: 1\nname: deep\nsteps: " + strings.Repeat("[", 100_000) + "\n")
	},
	// 50,000 lines of nested block maps.
	"deep_block_nesting": func() []byte {
		var b strings.Builder
		b.WriteString("version: 1\nname: deep\nsteps:\n  - id: a\n    run: echo\n    with:\n")
		for i := range 2000 {
			b.WriteString(strings.Repeat(" ", 6+i) + "k:\n")
		}
		return []byte(b.String())
	},
}

func badIndentAtEnd(size int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nname: big\nsteps:\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "  - id: s%d\n    run: echo %d\n", i, i)
	}
	b.WriteString("   - id: last\n    run: echo last\n")
	return []byte(b.String())
}

func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 45 {
		t.Fatalf("testdata/invalid holds %d cases, want at least 45", len(files))
	}
	type tcase struct {
		name string
		text func() ([]byte, error)
	}
	var cases []tcase
	for _, f := range files {
		cases = append(cases, tcase{strings.TrimSuffix(filepath.Base(f), ".yaml"), func() ([]byte, error) { return os.ReadFile(f) }})
	}
	for name, gen := range generated {
		cases = append(cases, tcase{name, func() ([]byte, error) { return gen(), nil }})
	}
	start := time.Now()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, err := tc.text()
			if err != nil {
				t.Fatal(err)
			}
			file := tc.name + ".yaml"
			begin := time.Now()
			plan, err := load(file, text)
			// A hang or a blow-up is the failure this catches, not speed
			// (BenchmarkLoadCompile10k measures that): the bound is far
			// above any normal load, even on a busy CI machine, and ten
			// times that under the race detector, which slows the loader
			// down several times.
			bound := 30 * time.Second
			if testkit.Race {
				bound *= 10
			}
			if d := time.Since(begin); d > bound {
				t.Errorf("load(%s) took %v: hostile input must not make the loader hang", file, d)
			}
			if err == nil {
				t.Fatalf("load(%s) = plan %q, want an error", file, plan.Name())
			}
			var list spec.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("load(%s) error is %T, want spec.ErrorList: %v", file, err, err)
			}
			for i, e := range list {
				if e.File != file {
					t.Errorf("load(%s): error names file %q: %v", file, e.File, e)
				}
				if i > 0 && (e.Pos.Line < list[i-1].Pos.Line || e.Pos.Line == list[i-1].Pos.Line && e.Pos.Col < list[i-1].Pos.Col) {
					t.Errorf("load(%s): error %d at %d:%d comes after one at %d:%d: want file order", file, i, e.Pos.Line, e.Pos.Col, list[i-1].Pos.Line, list[i-1].Pos.Col)
				}
			}
			got := err.Error() + "\n"
			if len(got) > 16<<10 {
				t.Errorf("load(%s): error text is %d bytes; errors must stay readable", file, len(got))
			}
			golden := filepath.Join("testdata", "invalid", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./engine -run TestInvalidGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("load(%s) error mismatch\n--- got\n%s--- want\n%s", file, got, want)
			}
		})
	}
	t.Logf("%d malformed procedures in %v", len(cases), time.Since(start))
}

// TestGoldenFilesHaveCases catches a golden file left behind by a renamed case.
func TestGoldenFilesHaveCases(t *testing.T) {
	goldens, _ := filepath.Glob("testdata/invalid/*.golden")
	for _, g := range goldens {
		name := strings.TrimSuffix(filepath.Base(g), ".golden")
		if _, ok := generated[name]; ok {
			continue
		}
		if _, err := os.Stat(strings.TrimSuffix(g, ".golden") + ".yaml"); err != nil {
			t.Errorf("%s has no case: %v", g, err)
		}
	}
}
