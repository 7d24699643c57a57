package testresult

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Formats understood by Parse and returned by Detect.
const (
	FormatGoJSON   = "go-json"   // go test -json (test2json events)
	FormatJUnit    = "junit"     // JUnit XML, e.g. pytest --junitxml
	FormatTAP      = "tap"       // Test Anything Protocol 12/13
	FormatPytest   = "pytest"    // pytest's terminal summary line
	FormatExitCode = "exit-code" // no output to parse: see FromExitCode
	FormatAuto     = "auto"      // resolved by Detect before parsing
)

// Sentinel errors wrapped by *ParseError, for errors.Is.
var (
	// ErrTruncated means the output ends before the results are complete:
	// an XML element left open, a test that never finished, a TAP plan
	// with more tests than were reported, an incomplete last line.
	ErrTruncated = errors.New("testresult: output ends early")
	// ErrNoResults means the output holds nothing of the format at all:
	// no summary line, no events, no root element.
	ErrNoResults = errors.New("testresult: no results in output")
)

// Result is what one run of a test command reported.
//
// Total is always Passed+Failed+Skipped+Errors. Errors counts problems
// that are not one failing test: a Go package that did not build or whose
// TestMain failed, a JUnit <error>, a pytest error (fixture or collection),
// a TAP "Bail out!".
type Result struct {
	Passed, Failed, Skipped, Errors, Total int
	Duration                               time.Duration
	Failures                               []Failure // failed tests and errors, in the order reported
	Format                                 string    // the format it was parsed from
}

// Failure is one failed test or error.
type Failure struct {
	Name    string // test name or id, e.g. "tests/test_x.py::test_y" or "example.com/m/pkg.TestY"
	File    string // source file when the format says it, without a line number
	Message string // the first lines of the failure output
}

// OK reports whether nothing failed and nothing errored. A Result with no
// tests at all is OK.
func (r Result) OK() bool { return r.Failed == 0 && r.Errors == 0 }

// Outputs returns the step outputs of a test step (SPEC §6): passed,
// failed, skipped, errors, total, duration (seconds, float64), failures
// (a list of maps with name, file and message) and ok.
func (r Result) Outputs() map[string]any {
	failures := make([]any, 0, len(r.Failures))
	for _, f := range r.Failures {
		failures = append(failures, map[string]any{
			"name":    f.Name,
			"file":    f.File,
			"message": f.Message,
		})
	}
	return map[string]any{
		"passed":   r.Passed,
		"failed":   r.Failed,
		"skipped":  r.Skipped,
		"errors":   r.Errors,
		"total":    r.Total,
		"duration": r.Duration.Seconds(),
		"failures": failures,
		"ok":       r.OK(),
	}
}

// FromExitCode returns the Result of a command judged by its exit code
// alone: the command counts as one test that passed on 0 and failed
// otherwise.
func FromExitCode(code int) Result {
	if code == 0 {
		return Result{Passed: 1, Total: 1, Format: FormatExitCode}
	}
	return Result{
		Failed:   1,
		Total:    1,
		Failures: []Failure{{Name: "command", Message: "exit status " + strconv.Itoa(code)}},
		Format:   FormatExitCode,
	}
}

// WithExitCode reconciles a parsed Result with the command's exit code.
// When the command failed but its output reported nothing failing, the
// output cannot be the whole story (a go test -json stream cut between two
// packages, a runner killed after its last report), so one error is added.
// pytest's exit code 5 ("no tests were collected") with no tests is left
// as it is.
func (r Result) WithExitCode(code int) Result {
	if code == 0 || !r.OK() {
		return r
	}
	if code == 5 && r.Total == 0 && (r.Format == FormatPytest || r.Format == FormatJUnit) {
		return r
	}
	r.Errors++
	r.Total++
	r.Failures = append(r.Failures, Failure{
		Name:    "command",
		Message: fmt.Sprintf("exit status %d, but the %s output reports no failing test", code, r.Format),
	})
	return r
}

// Parse parses test output in the given format. Format "auto" must be
// resolved with Detect first, and "exit-code" has no output to parse: use
// FromExitCode.
func Parse(format string, r io.Reader) (Result, error) {
	switch format {
	case FormatGoJSON:
		return ParseGoJSON(r)
	case FormatJUnit:
		return ParseJUnit(r)
	case FormatTAP:
		return ParseTAP(r)
	case FormatPytest:
		return ParsePytest(r)
	case FormatExitCode:
		return Result{}, fmt.Errorf("parse %s: the result comes from the exit code alone; use FromExitCode", format)
	case FormatAuto:
		return Result{}, fmt.Errorf("parse auto: pick the format with Detect(command, files) first")
	}
	return Result{}, fmt.Errorf("parse %q: unknown test result format (want %s, %s, %s, %s, %s or %s)",
		format, FormatGoJSON, FormatJUnit, FormatTAP, FormatPytest, FormatExitCode, FormatAuto)
}

// ParseError is a failure to read test output: the format, the line
// where it went wrong (0 when not known) and what was wrong. Err, when not
// nil, is ErrTruncated or ErrNoResults.
type ParseError struct {
	Format string
	Line   int
	Msg    string
	Err    error
}

// Error returns e.g. "parse junit: line 12: unexpected EOF".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("parse ")
	b.WriteString(e.Format)
	b.WriteString(": ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// finish sets Total and Format; every parser ends with it so that the
// invariant Total == Passed+Failed+Skipped+Errors holds by construction.
func (r *Result) finish(format string) Result {
	r.Total = r.Passed + r.Failed + r.Skipped + r.Errors
	r.Format = format
	return *r
}

// maxMessage caps a failure message; a panic trace or a long diff is
// cut, the report only needs the start.
const maxMessage = 4000

// message joins output lines into a failure message: blank lines at
// either end dropped, the common indentation removed, capped at maxMessage.
func message(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		if len(l) >= indent && indent > 0 {
			l = l[indent:]
		}
		b.WriteString(strings.TrimRight(l, " \t\r"))
		if b.Len() > maxMessage {
			break
		}
	}
	s := b.String()
	if len(s) > maxMessage {
		s = cutUTF8(s, maxMessage) + "\n... (cut)"
	}
	return s
}

// cutUTF8 shortens s to at most n bytes without splitting a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// readLines reads all of r as lines without their line ends. complete
// reports whether the input was empty or ended with a newline.
func readLines(r io.Reader) (lines []string, complete bool, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, false, err
	}
	if len(data) == 0 {
		return nil, true, nil
	}
	s := string(data)
	complete = strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	lines = strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines, complete, nil
}
