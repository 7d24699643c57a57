package testresult

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

var (
	tapPlanRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^1\.\.(\d+)\s*(?:#\s*(.*))?$`) })
	tapTestRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*(.*)$`) })
)

// ParseTAP parses the Test Anything Protocol, versions 12 and 13: a plan
// 1..N at the start or the end, "ok" and "not ok" lines, "# SKIP" and
// "# TODO" directives, YAML diagnostic blocks (their message and file keys
// fill the Failure), and "Bail out!".
//
// SKIP counts as skipped. TODO tests are expected to fail: "not ok # TODO"
// counts as skipped and "ok # TODO" as passed, as pytest counts xfail and
// xpass. Indented lines (subtests, diagnostics) and unknown lines are
// ignored, as the protocol says. "Bail out!" ends the run: the tests so far
// count, and the bail out is one error.
//
// A missing plan, a plan that does not match the number of test lines, a
// test number out of sequence, an unclosed YAML block and an incomplete
// last line (no newline) are errors: the output was cut or is not TAP,
// and the counts cannot be trusted.
func ParseTAP(r io.Reader) (Result, error) {
	lines, complete, err := readLines(r)
	if err != nil {
		return Result{}, &ParseError{Format: FormatTAP, Msg: err.Error()}
	}
	fail := func(line int, kind error, format string, args ...any) (Result, error) {
		return Result{}, &ParseError{Format: FormatTAP, Line: line, Msg: fmt.Sprintf(format, args...), Err: kind}
	}
	var (
		res       Result
		tests     int
		plan      = -1
		planLine  int
		planFirst bool // the plan came before any test
		last      = -1 // index in res.Failures of the failure a YAML block describes
		yamlStart int  // line of an open YAML block, 0 when none
		yaml      []string
	)
	for i, line := range lines {
		n := i + 1
		if yamlStart > 0 {
			if strings.TrimSpace(line) == "..." {
				if last >= 0 {
					applyYAML(&res.Failures[last], yaml)
				}
				yamlStart, yaml = 0, nil
			} else {
				yaml = append(yaml, line)
			}
			continue
		}
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			// A YAML block belongs to the test line just before it.
			if strings.TrimSpace(line) == "---" && i > 0 && tapTestRE().MatchString(lines[i-1]) {
				yamlStart = n
			}
			continue
		}
		if reason, ok := strings.CutPrefix(line, "Bail out!"); ok {
			res.Errors++
			msg := strings.TrimSpace(reason)
			if msg == "" {
				msg = "the test run bailed out"
			}
			res.Failures = append(res.Failures, Failure{Name: "Bail out!", Message: msg})
			return res.finish(FormatTAP), nil
		}
		if m := tapPlanRE().FindStringSubmatch(line); m != nil {
			if plan >= 0 {
				return fail(n, nil, "second plan %q (the first is on line %d)", line, planLine)
			}
			p, err := strconv.Atoi(m[1])
			if err != nil {
				return fail(n, nil, "plan %q: %v", line, err)
			}
			plan, planLine, planFirst = p, n, tests == 0
			continue
		}
		m := tapTestRE().FindStringSubmatch(line)
		if m == nil {
			continue // TAP version, comments, anything else
		}
		if plan >= 0 && !planFirst {
			return fail(n, nil, "test line after the closing plan on line %d", planLine)
		}
		tests++
		if m[2] != "" {
			if num, err := strconv.Atoi(m[2]); err != nil || num != tests {
				return fail(n, nil, "test number %s out of sequence (want %d)", m[2], tests)
			}
		}
		desc, directive := tapDirective(m[3])
		desc = strings.TrimSpace(strings.TrimPrefix(desc, "-"))
		kind, _, _ := strings.Cut(strings.ToUpper(directive), " ")
		ok := m[1] == "ok"
		last = -1
		switch {
		case strings.HasPrefix(kind, "SKIP"):
			res.Skipped++
		case strings.HasPrefix(kind, "TODO"):
			if ok {
				res.Passed++
			} else {
				res.Skipped++
			}
		case ok:
			res.Passed++
		default:
			res.Failed++
			name := desc
			if name == "" {
				name = "test " + strconv.Itoa(tests)
			}
			res.Failures = append(res.Failures, Failure{Name: name})
			last = len(res.Failures) - 1
		}
	}
	if yamlStart > 0 {
		return fail(yamlStart, ErrTruncated, "YAML block is never closed with \"...\"; the output looks truncated")
	}
	if len(lines) > 0 && !complete {
		return fail(len(lines), ErrTruncated, "the last line has no newline; the output looks truncated")
	}
	if plan < 0 {
		if tests == 0 {
			return fail(0, ErrNoResults, "no TAP plan (1..N) or test lines found")
		}
		return fail(0, ErrTruncated, "%d test lines but no plan (1..N); the output looks truncated", tests)
	}
	if plan != tests {
		return fail(planLine, ErrTruncated, "plan 1..%d but %d test lines; the output looks truncated", plan, tests)
	}
	return res.finish(FormatTAP), nil
}

// tapDirective splits a test line's description from its "# directive";
// a "\#" in the description is a literal hash.
func tapDirective(s string) (desc, directive string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '#' {
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		}
	}
	return strings.TrimSpace(s), ""
}

// applyYAML fills a failure from the message and file keys of a TAP 13
// diagnostic block; it reads the few YAML forms TAP producers write
// (plain, quoted and block scalars), not YAML in general.
func applyYAML(f *Failure, lines []string) {
	base := -1
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			base = len(l) - len(strings.TrimLeft(l, " \t"))
			break
		}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		indent := len(l) - len(strings.TrimLeft(l, " \t"))
		key, val, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch {
		case key == "message" && indent == base && f.Message == "":
			if strings.HasPrefix(val, "|") || strings.HasPrefix(val, ">") {
				var block []string
				for i+1 < len(lines) {
					next := lines[i+1]
					if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " \t")) <= indent {
						break
					}
					block = append(block, next)
					i++
				}
				f.Message = message(block)
			} else {
				f.Message = yamlScalar(val)
			}
		case key == "file" && f.File == "":
			f.File = yamlScalar(val)
		}
	}
}

func yamlScalar(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}
