package testresult

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	// The counts, " in ", the time in seconds (pytest 6+: "0.12s" with an
	// optional " (0:01:05)"; older: "0.12 seconds"), and the rule of "="
	// around it unless -q.
	pytestSummaryRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(=+ )?(no tests ran|\d+ [a-z-]+(?:, \d+ [a-z-]+)*) in (\d+(?:\.\d+)?)(?:s(?: \(\d+:\d\d:\d\d\))?| seconds)( =+)?$`)
	})
	pytestItemRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+) ([a-z-]+)$`) })
	pytestResultRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(FAILED|ERROR) (\S.*)$`) })
	pytestStopRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^!+ (KeyboardInterrupt|.*[Ii]nterrupted.*) !+$`) })
)

// ParsePytest parses pytest's terminal output: the last summary line
// ("=== 3 failed, 10 passed, 2 skipped, 1 error in 0.12s ===", the -q form
// without the rules, "no tests ran") gives the counts, and the
// "FAILED id - message" and "ERROR id - message" lines of the short test
// summary above it fill Failures.
//
// xfailed counts as skipped and xpassed as passed, as pytest's JUnit XML
// has them; warnings, deselected and reruns are not tests. A test that
// fails and also errors in teardown is one failed and one error here, as
// pytest counts it, but one failed testcase in its JUnit XML. A run
// stopped by KeyboardInterrupt with nothing failed gets one error.
//
// Output without a summary line (pytest killed, output cut) is an error,
// as is a count word pytest does not write.
func ParsePytest(r io.Reader) (Result, error) {
	lines, _, err := readLines(r)
	if err != nil {
		return Result{}, &ParseError{Format: FormatPytest, Msg: err.Error()}
	}
	summary := -1
	var m []string
	for i := len(lines) - 1; i >= 0; i-- {
		lines[i] = strings.TrimSpace(stripANSI(lines[i]))
		if summary < 0 && strings.Contains(lines[i], " in ") {
			if m = pytestSummaryRE().FindStringSubmatch(lines[i]); m != nil && (m[1] == "") == (m[4] == "") {
				summary = i
			}
		}
	}
	if summary < 0 {
		return Result{}, &ParseError{
			Format: FormatPytest,
			Msg:    "no pytest summary line (like \"=== 2 passed in 0.12s ===\"); pytest did not finish, or its output was cut",
			Err:    ErrNoResults,
		}
	}
	var res Result
	if m[2] != "no tests ran" {
		for _, item := range strings.Split(m[2], ", ") {
			im := pytestItemRE().FindStringSubmatch(item)
			n, err := strconv.Atoi(im[1])
			if err != nil || n > 1e9 {
				return Result{}, &ParseError{Format: FormatPytest, Line: summary + 1, Msg: fmt.Sprintf("count %q is out of range", item)}
			}
			switch im[2] {
			case "passed", "xpassed":
				res.Passed += n
			case "failed":
				res.Failed += n
			case "skipped", "xfailed":
				res.Skipped += n
			case "error", "errors":
				res.Errors += n
			case "warning", "warnings", "pytest-warnings", "deselected", "rerun", "reruns":
			default:
				return Result{}, &ParseError{Format: FormatPytest, Line: summary + 1,
					Msg: fmt.Sprintf("unknown count %q in the summary line %q", item, lines[summary])}
			}
		}
	}
	secs, _ := strconv.ParseFloat(m[3], 64)
	res.Duration = time.Duration(secs * float64(time.Second))

	// The short test summary of this session: from the summary line back
	// to the previous summary line, if several pytest runs are in the output.
	var stopped string
	from := 0
	for i := summary - 1; i >= 0; i-- {
		if strings.Contains(lines[i], " in ") && pytestSummaryRE().MatchString(lines[i]) {
			from = i + 1
			break
		}
	}
	for _, l := range lines[from:summary] {
		if sm := pytestStopRE().FindStringSubmatch(l); sm != nil {
			stopped = sm[1]
			continue
		}
		rm := pytestResultRE().FindStringSubmatch(l)
		if rm == nil {
			continue
		}
		id, msg := splitNodeID(rm[2])
		file, _, _ := strings.Cut(id, "::")
		res.Failures = append(res.Failures, Failure{Name: id, File: file, Message: msg})
	}
	if n := res.Failed + res.Errors; len(res.Failures) > n {
		// More FAILED/ERROR lines than the summary counts: they are not
		// all this session's; keep the last ones, nearest the summary.
		res.Failures = res.Failures[len(res.Failures)-n:]
	}
	if stopped != "" && res.OK() {
		res.Errors++
		res.Failures = append(res.Failures, Failure{Name: "pytest", Message: "the run was stopped: " + stopped})
	}
	return res.finish(FormatPytest), nil
}

// splitNodeID splits "path::test[param - x] - message" at the first " - "
// outside the brackets of a parametrized id.
func splitNodeID(s string) (id, msg string) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case ' ':
			if depth == 0 && strings.HasPrefix(s[i:], " - ") {
				return s[:i], strings.TrimSpace(s[i+3:])
			}
		}
	}
	return strings.TrimSpace(s), ""
}

// stripANSI removes the color escapes (ESC [ digits ; letter) that
// pytest --color=yes writes.
func stripANSI(s string) string {
	i := strings.IndexByte(s, '\x1b')
	if i < 0 {
		return s
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		j := i + 1
		if j < len(s) && s[j] == '[' {
			j++
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
				j++
			}
			if j < len(s) && (s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z') {
				j++
			} else {
				j = i + 1 // not a complete escape: drop only the ESC
			}
		}
		s = s[j:]
		i = strings.IndexByte(s, '\x1b')
	}
	b.WriteString(s)
	return b.String()
}
