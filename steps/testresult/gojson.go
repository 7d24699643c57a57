package testresult

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// goEvent is one line of test2json output. ImportPath and FailedBuild
// come with build events (Go 1.24 and later).
type goEvent struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

type goTest struct {
	name      string
	output    []string
	subFailed []string // names of failed direct subtests
}

type goPackage struct {
	name    string
	ended   bool
	action  string // pass, fail or skip once ended
	elapsed float64
	build   string // FailedBuild of the end event
	output  []string
	running map[string]*goTest
	done    map[string]bool // tests that ended and have not run again
	failed  int             // tests counted as failed
}

// ParseGoJSON parses the output of go test -json.
//
// Every test counts, subtests and their parents alike, as gotestsum
// counts them: a parent whose subtest failed is itself a failed test, so a
// failing TestA/b makes two failures (TestA/b and TestA). A package that
// fails without a failing test (a build error, a TestMain or init that
// exits non-zero) is one error whose message is its build or package
// output. Tests still running when their package ends failed (a panic or a
// timeout killed them). Duration is the sum of the packages' elapsed times.
//
// A package whose events start but never end, and an event line that is
// not complete JSON, make an ErrTruncated error. The stream has no end
// marker of its own, so a cut exactly between two packages cannot be seen;
// Result.WithExitCode covers that case. Lines that are not JSON (stderr
// mixed into stdout) are kept as build output for packages that failed to
// build.
func ParseGoJSON(r io.Reader) (Result, error) {
	lines, complete, err := readLines(r)
	if err != nil {
		return Result{}, &ParseError{Format: FormatGoJSON, Msg: err.Error()}
	}
	var (
		res      Result
		pkgs     = map[string]*goPackage{}
		buildOut = map[string][]string{} // by ImportPath of build-output events
		stray    []string                // non-JSON lines
		events   int
		// A failed build is reported by the packages it fails; one that no
		// package reports, or build events with nothing after them, mean
		// the stream was cut.
		failedBuilds   = map[string]int{} // ImportPath of build-fail events -> line
		lastBuildEvent int
		lastPkgEvent   int
	)
	pkg := func(name string) *goPackage {
		p := pkgs[name]
		if p == nil {
			p = &goPackage{name: name, running: map[string]*goTest{}, done: map[string]bool{}}
			pkgs[name] = p
		}
		return p
	}
	for i, line := range lines {
		text := strings.TrimSpace(line)
		if text == "" {
			continue
		}
		if text[0] != '{' {
			stray = append(stray, line)
			continue
		}
		var ev goEvent
		if err := json.Unmarshal([]byte(text), &ev); err != nil {
			pe := &ParseError{Format: FormatGoJSON, Line: i + 1, Msg: "invalid test2json event: " + err.Error()}
			if i == len(lines)-1 && !complete {
				pe.Msg = "the last event is cut off (" + err.Error() + "); the output looks truncated"
				pe.Err = ErrTruncated
			}
			return Result{}, pe
		}
		events++
		if ev.ImportPath != "" && ev.Package == "" {
			switch ev.Action {
			case "build-output":
				buildOut[ev.ImportPath] = append(buildOut[ev.ImportPath], ev.Output)
			case "build-fail":
				failedBuilds[ev.ImportPath] = i + 1
			}
			lastBuildEvent = i + 1
			continue
		}
		lastPkgEvent = i + 1
		p := pkg(ev.Package)
		if p.ended && ev.Action != "output" {
			// go test -count=N or a concatenated stream runs a package
			// again; start a fresh record of it.
			p.ended = false
		}
		if ev.Test == "" {
			switch ev.Action {
			case "output":
				p.output = append(p.output, ev.Output)
			case "pass", "fail", "skip":
				p.ended, p.action, p.build = true, ev.Action, ev.FailedBuild
				delete(failedBuilds, ev.FailedBuild)
				p.elapsed += ev.Elapsed
				endPackage(&res, p, buildOut, stray)
			}
			continue
		}
		t := p.running[ev.Test]
		switch ev.Action {
		case "run":
			p.running[ev.Test] = &goTest{name: ev.Test}
		case "output", "bench":
			if t == nil {
				if p.done[ev.Test] {
					// Late output of a test that ended is not a new test.
					p.output = append(p.output, ev.Output)
					continue
				}
				// test2json lost the run event; the test still counts.
				t = &goTest{name: ev.Test}
				p.running[ev.Test] = t
			}
			t.output = append(t.output, ev.Output)
		case "pass", "skip":
			delete(p.running, ev.Test)
			p.done[ev.Test] = true
			if ev.Action == "pass" {
				res.Passed++
			} else {
				res.Skipped++
			}
		case "fail":
			if t == nil {
				t = &goTest{name: ev.Test}
			}
			delete(p.running, ev.Test)
			p.done[ev.Test] = true
			failTest(&res, p, t, "")
		}
	}
	if events == 0 {
		return Result{}, &ParseError{Format: FormatGoJSON, Msg: "no test2json events found; was go test run with -json?", Err: ErrNoResults}
	}
	var open []string
	for name, p := range pkgs {
		if !p.ended {
			open = append(open, name)
		}
	}
	if len(open) > 0 {
		sort.Strings(open)
		return Result{}, &ParseError{
			Format: FormatGoJSON,
			Msg:    fmt.Sprintf("package %s started but never ended; the output looks truncated", strings.Join(open, ", ")),
			Err:    ErrTruncated,
		}
	}
	if lastBuildEvent > lastPkgEvent {
		return Result{}, &ParseError{Format: FormatGoJSON, Line: lastBuildEvent,
			Msg: "the output ends with build events and no package result after them; the output looks truncated", Err: ErrTruncated}
	}
	if len(failedBuilds) > 0 {
		first, line := "", 0
		for path, l := range failedBuilds {
			if line == 0 || l < line {
				first, line = path, l
			}
		}
		return Result{}, &ParseError{Format: FormatGoJSON, Line: line,
			Msg: fmt.Sprintf("build of %s failed but no package reports it; the output looks truncated", first), Err: ErrTruncated}
	}
	res.Duration = time.Duration(sumElapsed(pkgs) * float64(time.Second))
	return res.finish(FormatGoJSON), nil
}

func sumElapsed(pkgs map[string]*goPackage) float64 {
	var s float64
	for _, p := range pkgs {
		s += p.elapsed
	}
	return s
}

// endPackage counts what a package's end event settles: tests that never
// finished, and a failure that no test explains.
func endPackage(res *Result, p *goPackage, buildOut map[string][]string, stray []string) {
	if len(p.running) > 0 {
		names := make([]string, 0, len(p.running))
		for name := range p.running {
			names = append(names, name)
		}
		// Subtests before their parents, so a parent learns of a failed subtest.
		sort.Slice(names, func(i, j int) bool {
			di, dj := strings.Count(names[i], "/"), strings.Count(names[j], "/")
			if di != dj {
				return di > dj
			}
			return names[i] < names[j]
		})
		for _, name := range names {
			t := p.running[name]
			delete(p.running, name)
			if p.action == "pass" && strings.Contains(name, "/") {
				// test2json lost the end event of a subtest of a passing
				// package (golang/go#40771); it passed.
				res.Passed++
				continue
			}
			failTest(res, p, t, "the test never finished (its package ended with "+p.action+")")
		}
	}
	if p.action != "fail" || p.failed > 0 {
		p.output, p.failed = nil, 0
		return
	}
	f := Failure{Name: p.name}
	var lines []string
	if p.build != "" {
		for _, l := range buildOut[p.build] {
			if !strings.HasPrefix(l, "# ") {
				lines = append(lines, strings.TrimRight(l, "\n"))
			}
		}
		if len(lines) == 0 {
			lines = strayFor(stray, p.name)
		}
	}
	if len(lines) == 0 {
		for _, l := range p.output {
			l = strings.TrimRight(l, "\n")
			if l == "FAIL" || strings.HasPrefix(l, "FAIL\t") {
				continue
			}
			lines = append(lines, l)
		}
	}
	f.Message = message(lines)
	if f.Message == "" {
		if p.build != "" {
			f.Message = "build failed"
		} else {
			f.Message = "package failed without a failing test"
		}
	}
	f.File = goFile(lines)
	res.Errors++
	res.Failures = append(res.Failures, f)
	p.output, p.failed = nil, 0
}

// strayFor returns the non-JSON lines under a "# importpath" header, the
// way go build prints errors on stderr before Go 1.24.
func strayFor(stray []string, pkg string) []string {
	var out []string
	in := false
	for _, l := range stray {
		if h, ok := strings.CutPrefix(l, "# "); ok {
			name, _, _ := strings.Cut(h, " ")
			in = name == pkg
			continue
		}
		if in {
			out = append(out, l)
		}
	}
	return out
}

// failTest counts a failed test and records its failure.
func failTest(res *Result, p *goPackage, t *goTest, why string) {
	res.Failed++
	p.failed++
	if parent, _, ok := cutLast(t.name, "/"); ok {
		if pt := p.running[parent]; pt != nil {
			pt.subFailed = append(pt.subFailed, t.name)
		}
	}
	var lines []string
	for _, l := range t.output {
		l = strings.TrimRight(l, "\n")
		s := strings.TrimSpace(l)
		if strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- FAIL:") ||
			strings.HasPrefix(s, "--- PASS:") || strings.HasPrefix(s, "--- SKIP:") {
			continue
		}
		lines = append(lines, l)
	}
	msg := message(lines)
	if msg == "" && len(t.subFailed) > 0 {
		msg = "subtest failed: " + strings.Join(t.subFailed, ", ")
	}
	if why != "" {
		msg = strings.TrimSpace(why + "\n" + msg)
	}
	name := t.name
	if p.name != "" {
		name = p.name + "." + t.name
	}
	res.Failures = append(res.Failures, Failure{Name: name, File: goFile(lines), Message: msg})
}

var goFileRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([\w./\\-]+\.go):\d+`) })

// goFile returns the first file.go named at the start of an output line.
func goFile(lines []string) string {
	for _, l := range lines {
		if m := goFileRE().FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
