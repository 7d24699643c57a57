package testresult

import (
	"bytes"
	"encoding/json"
	"path"
	"sort"
)

// Tally counts the tests of a go test -json stream as its lines arrive:
// a running count for a live view. It counts as ParseGoJSON does: every
// test and subtest, tests still running when their package ends as
// failed, and a package that fails without a failing test as one failure
// (ParseGoJSON's error). ParseGoJSON, which reads the whole output, gives
// the step's result.
type Tally struct {
	Passed, Failed, Skipped int
	// Failures names what failed, in order: "pkg.TestName" with the last
	// element of the package path, or the package alone.
	Failures []string

	pkgs map[string]*tallyPackage
}

type tallyPackage struct {
	running map[string]bool
	failed  int
}

// GoJSONLine counts one line of go test -json output and reports whether
// the counts changed. Lines that are not events (stderr mixed in, a line
// cut short) change nothing.
func (t *Tally) GoJSONLine(line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	var ev goEvent
	if json.Unmarshal(line, &ev) != nil || ev.Package == "" {
		return false // build events have no package; the package's end tells
	}
	if t.pkgs == nil {
		t.pkgs = map[string]*tallyPackage{}
	}
	p := t.pkgs[ev.Package]
	if p == nil {
		p = &tallyPackage{running: map[string]bool{}}
		t.pkgs[ev.Package] = p
	}
	if ev.Test != "" {
		switch ev.Action {
		case "run":
			p.running[ev.Test] = true
			return false
		case "pass":
			t.Passed++
		case "skip":
			t.Skipped++
		case "fail":
			t.fail(p, ev.Package, ev.Test)
		default:
			return false
		}
		delete(p.running, ev.Test)
		return true
	}
	if ev.Action != "pass" && ev.Action != "fail" && ev.Action != "skip" {
		return false
	}
	changed := len(p.running) > 0
	names := make([]string, 0, len(p.running))
	for name := range p.running {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if ev.Action == "pass" && bytes.ContainsRune([]byte(name), '/') {
			t.Passed++ // test2json lost a passing subtest's end (see endPackage)
			continue
		}
		t.fail(p, ev.Package, name)
	}
	if ev.Action == "fail" && p.failed == 0 {
		name := path.Base(ev.Package)
		if ev.FailedBuild != "" {
			name += " (build failed)"
		}
		t.Failed++
		t.Failures = append(t.Failures, name)
		changed = true
	}
	delete(t.pkgs, ev.Package) // run again (-count), it starts afresh
	return changed
}

func (t *Tally) fail(p *tallyPackage, pkg, test string) {
	t.Failed++
	p.failed++
	t.Failures = append(t.Failures, path.Base(pkg)+"."+test)
}
