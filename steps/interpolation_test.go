package steps

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The constructs issue 11 measured, in which the hand-written scanner lost
// its place and a param value ran as a command, written into every field a
// shell runs: run:, test:, wait: command, a service's command, stop
// command and readiness command. @V@ is the hostile param.
var measuredConstructs = []string{
	"read -r a <<<\"x\"; echo @V@ \"@V@\" >> out.txt",
	"x=$(( 1 << 4 )); echo @V@ \"@V@\" >> out.txt",
	"echo \"`echo @V@`\" `echo \"@V@\"` >> out.txt",
	"echo $'a @V@ b' >> out.txt",
	"echo $'it\\'s' '@V@' @V@ >> out.txt",
	"echo \"$(case x in x) echo @V@;; esac)\" >> out.txt",
}

// hostileParam holds, for each construct, a value that ran a command there
// with the scanner of commit f583e0c.
const hostileParam = `x'"; touch pwned1; $(touch pwned2) ` + "`; touch pwned3; `" + ` a[$(touch pwned4)] ) ; touch pwned5 ; ( \'; touch pwned6 # EOF`

func TestMeasuredInjectionsInert(t *testing.T) {
	h := newHarness(t)
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nname: p\nparams:\n  v: {type: string, default: %q}\nsteps:\n", hostileParam)
	// Each field writes to its own file, so that a lost line names the
	// field and the construct.
	fields := []string{"run", "test", "wait", "service", "ready", "stop"}
	fieldStep := map[string]string{"run": "run", "test": "test", "wait": "wait", "service": "svc", "ready": "svc", "stop": "stop"}
	for i, c := range measuredConstructs {
		c = strings.ReplaceAll(c, "@V@", "${{ params.v }}")
		in := func(field string) string {
			return strings.ReplaceAll(c, "out.txt", fmt.Sprintf("out-%s%d.txt", field, i))
		}
		fmt.Fprintf(&b, "  - id: run%d\n    run: %q\n", i, in("run"))
		fmt.Fprintf(&b, "  - id: test%d\n    test: %q\n    with: {format: exit-code}\n", i, in("test"))
		fmt.Fprintf(&b, "  - id: wait%d\n    wait: command\n    with: {command: %q, timeout: 5s, interval: 50ms}\n", i, in("wait"))
		// Ready once the service has written its line, so that the stop
		// step cannot end it before.
		fmt.Fprintf(&b, "  - id: svc%d\n    service: start\n    with: {name: s%d, command: %q, grace: 1s, ready: {command: %q, timeout: 5s, interval: 50ms}}\n",
			i, i, fmt.Sprintf("%s; touch up%d; sleep 60", in("service"), i), fmt.Sprintf("test -e up%d && { %s; }", i, in("ready")))
		fmt.Fprintf(&b, "  - id: stop%d\n    service: stop\n    with: {name: s%d, stop: %q, grace: 1s}\n", i, i, in("stop"))
	}
	_, recs, err := h.run("p", b.String())
	mustSucceed(t, recs, err)
	if matches, _ := filepath.Glob(filepath.Join(h.repo, "pwned*")); len(matches) > 0 {
		t.Fatalf("a param value ran as shell code: %v", matches)
	}
	for i := range measuredConstructs {
		for _, field := range fields {
			name := fmt.Sprintf("out-%s%d.txt", field, i)
			out, err := os.ReadFile(filepath.Join(h.repo, name))
			if err != nil {
				t.Errorf("construct %d in %s: %v; logs:\n%s", i, field, err, h.logsOf(fieldStep[field], i))
				continue
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], hostileParam) {
				t.Errorf("construct %d in %s wrote %q, want one line holding the value as it was given", i, field, out)
			}
		}
	}
}

// A value that is not an integer where bash evaluates arithmetic fails
// the step before its script starts, naming the value; so does a NUL,
// which no environment variable can carry (a param with one is refused
// when it is given; a step's output may still hold one).
func TestShellValueRefusedAtRun(t *testing.T) {
	h := newHarness(t)
	_, recs, err := h.run("p", `version: 1
name: p
params:
  v: {type: string, default: "a[$(touch pwned)]"}
steps:
  - id: mk
    run: printf 'v=a\0b\n' >> "$RBFLOW_OUTPUT"
  - id: arith
    run: echo $(( ${{ params.v }} + 1 ))
    continue_on_error: true
  - id: test_arith
    test: "[[ '${{ params.v }}' -eq 1 ]]"
    with: {format: exit-code}
    continue_on_error: true
  - id: nul
    run: echo ${{ steps.mk.outputs.v }}
    continue_on_error: true
`)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"arith":      "${{ params.v }}: the shell evaluates this value as arithmetic, so it must be an integer",
		"test_arith": "${{ params.v }}: the shell evaluates this value as arithmetic",
		"nul":        "${{ steps.mk.outputs.v }}: the value holds a NUL byte",
	} {
		if r := recs[id]; r == nil || r.Outcome != "failed" || !strings.Contains(r.Error, want) {
			t.Errorf("step %s = %+v, want it failed with %q", id, r, want)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(h.repo, "pwned*")); len(matches) > 0 {
		t.Fatalf("a param value ran as shell code: %v", matches)
	}
}

// logsOf returns the logs of step ID+i and of service s+i, for a failure
// message.
func (h *harness) logsOf(id string, i int) string {
	var b strings.Builder
	for _, pattern := range []string{fmt.Sprintf("%s%d*.log", id, i), fmt.Sprintf("service-s%d.log", i)} {
		matches, _ := filepath.Glob(filepath.Join(h.state, "runs", "*", pattern))
		for _, m := range matches {
			data, _ := os.ReadFile(m)
			fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(m), data)
		}
	}
	return b.String()
}
