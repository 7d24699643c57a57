package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

// bigProcedure writes a procedure of n steps: run steps interpolating params,
// needs on earlier steps (every fourth step), conditions on earlier steps'
// outputs (every third), per-step env, and a few retry and timeout fields.
func bigProcedure(n int) []byte {
	var b strings.Builder
	b.WriteString(`version: 1
name: big
params:
  baseline: {type: string, default: main}
  sprint:   {type: int, default: 3}
  files:    {type: list, default: [a.py, b.py]}
  dry:      {type: bool, default: false}
env:
  CI: "1"
  REF: ${{ params.baseline }}
steps:
`)
	for i := range n {
		fmt.Fprintf(&b, "  - id: s%d\n", i)
		switch {
		case i > 10 && i%4 == 0:
			fmt.Fprintf(&b, "    needs: [s%d, s%d]\n", i-1, i-7)
		case i%17 == 0:
			b.WriteString("    needs: []\n")
		}
		if i > 0 && i%3 == 0 {
			fmt.Fprintf(&b, "    if: steps.s%d.outputs.count > %d && !params.dry\n", i-1, i%10)
		}
		fmt.Fprintf(&b, "    run: echo ${{ params.baseline }} step %d ${{ params.files }} > out%d.txt\n", i, i)
		if i%2 == 0 {
			fmt.Fprintf(&b, "    env:\n      STEP: \"%d\"\n      SPRINT: sprint-${{ params.sprint }}\n", i)
		}
		if i%10 == 0 {
			b.WriteString("    timeout: 5m\n    retry: {attempts: 3, delay: 1s}\n")
		}
	}
	return []byte(b.String())
}

func BenchmarkLoadCompile10k(b *testing.B) {
	text := bigProcedure(10_000)
	reg := registry()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := spec.Load("big.yaml", text, reg.Keys())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := engine.Compile(p, reg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBigProcedureLoads keeps the benchmark's input valid, so that the
// benchmark measures a successful load.
func TestBigProcedureLoads(t *testing.T) {
	p, err := load("big.yaml", bigProcedure(300))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Main) != 300 {
		t.Fatalf("big procedure has %d steps, want 300", len(p.Main))
	}
	wantNeeds(t, p, "s12", "s11", "s5")
	wantNeeds(t, p, "s17")
	wantNeeds(t, p, "s18", "s17")
}
