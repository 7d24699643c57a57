package testresult

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseJUnit parses JUnit XML: a <testsuites> root or a single
// <testsuite>, suites nested at any depth, each <testcase> counted once:
// failed if it has a <failure>, else an error if it has an <error>, else
// skipped if it has a <skipped>, else passed. pytest's --junitxml marks
// xfail as skipped, so it counts as skipped here and in ParsePytest.
// A suite with no <testcase> at all counts from its tests, failures,
// errors and skipped attributes.
//
// Failure names are classname.name; File is the testcase's file attribute
// (pytest with junit_family=xunit1, gotestsum, many others). Duration is
// the root's time attribute, else the sum of its suites' or cases' times.
//
// The document must be complete: an element left open is an ErrTruncated
// error naming the line, e.g. "parse junit: line 12: unexpected EOF".
func ParseJUnit(r io.Reader) (Result, error) {
	p := &junitParser{d: xml.NewDecoder(r)}
	p.d.Strict = true
	p.d.CharsetReader = charsetReader
	res, err := p.parse()
	if err != nil {
		return Result{}, err
	}
	return res.finish(FormatJUnit), nil
}

type junitParser struct {
	d   *xml.Decoder
	res Result
}

func (p *junitParser) parse() (*Result, error) {
	var root *xml.StartElement
	for root == nil {
		tok, err := p.d.Token()
		if err == io.EOF {
			return nil, p.fail("no XML element found; is this a JUnit XML file?", ErrNoResults)
		}
		if err != nil {
			return nil, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			root = &t
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, p.fail("text before the root element; is this a JUnit XML file?", ErrNoResults)
			}
		}
	}
	var err error
	switch root.Name.Local {
	case "testsuites", "testsuite":
		_, p.res.Duration, err = p.suite(*root)
	default:
		return nil, p.fail(fmt.Sprintf("root element is <%s>, want <testsuites> or <testsuite>", root.Name.Local), ErrNoResults)
	}
	if err != nil {
		return nil, err
	}
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			return &p.res, nil
		}
		if err != nil {
			return nil, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return nil, p.fail(fmt.Sprintf("second root element <%s> after </%s>", t.Name.Local, root.Name.Local), nil)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return nil, p.fail("text after the root element", nil)
			}
		}
	}
}

// suite reads a <testsuite> or <testsuites> up to its end and returns how
// many tests it counted and how long it took.
func (p *junitParser) suite(start xml.StartElement) (counted int, dur time.Duration, err error) {
	var childDur time.Duration
	for {
		tok, err := p.d.Token()
		if err != nil {
			return 0, 0, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "testsuite", "testsuites":
				n, d, err := p.suite(t)
				if err != nil {
					return 0, 0, err
				}
				counted += n
				childDur += d
			case "testcase":
				d, err := p.testcase(t)
				if err != nil {
					return 0, 0, err
				}
				counted++
				childDur += d
			default:
				if err := p.d.Skip(); err != nil {
					return 0, 0, p.wrap(err)
				}
			}
		case xml.EndElement:
			if counted == 0 {
				n, err := p.suiteTotals(start)
				if err != nil {
					return 0, 0, err
				}
				counted = n
			}
			if d, ok := timeAttr(start); ok {
				return counted, d, nil
			}
			return counted, childDur, nil
		}
	}
}

// suiteTotals counts a suite that lists no testcases from its attributes.
func (p *junitParser) suiteTotals(start xml.StartElement) (int, error) {
	var tests, failures, errs, skipped int
	for _, a := range start.Attr {
		var dst *int
		switch a.Name.Local {
		case "tests":
			dst = &tests
		case "failures":
			dst = &failures
		case "errors":
			dst = &errs
		case "skipped", "skips", "disabled":
			dst = &skipped
		default:
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(a.Value))
		if err != nil || n < 0 {
			return 0, p.fail(fmt.Sprintf("<%s %s=%q> is not a count", start.Name.Local, a.Name.Local, a.Value), nil)
		}
		*dst += n
	}
	if tests == 0 {
		return 0, nil
	}
	passed := tests - failures - errs - skipped
	if passed < 0 {
		return 0, p.fail(fmt.Sprintf("<%s> without testcases says tests=%d but failures+errors+skipped=%d",
			start.Name.Local, tests, failures+errs+skipped), nil)
	}
	p.res.Passed += passed
	p.res.Failed += failures
	p.res.Errors += errs
	p.res.Skipped += skipped
	name := attr(start, "name")
	for range failures {
		p.res.Failures = append(p.res.Failures, Failure{Name: name, Message: "failed (the suite lists no testcases)"})
	}
	for range errs {
		p.res.Failures = append(p.res.Failures, Failure{Name: name, Message: "error (the suite lists no testcases)"})
	}
	return tests, nil
}

// testcase reads one <testcase> and counts it.
func (p *junitParser) testcase(start xml.StartElement) (time.Duration, error) {
	var failure, errored, skipped bool
	var failMsg, errMsg string
	for {
		tok, err := p.d.Token()
		if err != nil {
			return 0, p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "failure", "error":
				text, err := p.text()
				if err != nil {
					return 0, err
				}
				msg := attr(t, "message")
				if msg == "" {
					msg = text
				}
				if msg == "" {
					msg = attr(t, "type")
				}
				if t.Name.Local == "failure" && !failure {
					failure, failMsg = true, msg
				} else if t.Name.Local == "error" && !errored {
					errored, errMsg = true, msg
				}
			case "skipped":
				skipped = true
				if err := p.d.Skip(); err != nil {
					return 0, p.wrap(err)
				}
			default: // system-out, properties, surefire's flakyFailure and rerunFailure, ...
				if err := p.d.Skip(); err != nil {
					return 0, p.wrap(err)
				}
			}
		case xml.EndElement:
			f := Failure{Name: attr(start, "name"), File: attr(start, "file")}
			if c := attr(start, "classname"); c != "" {
				f.Name = c + "." + f.Name
			}
			switch {
			case failure:
				p.res.Failed++
				f.Message = message(strings.Split(failMsg, "\n"))
				p.res.Failures = append(p.res.Failures, f)
			case errored:
				p.res.Errors++
				f.Message = message(strings.Split(errMsg, "\n"))
				p.res.Failures = append(p.res.Failures, f)
			case skipped:
				p.res.Skipped++
			default:
				p.res.Passed++
			}
			d, _ := timeAttr(start)
			return d, nil
		}
	}
}

// text reads the character data of the current element up to its end.
func (p *junitParser) text() (string, error) {
	var b strings.Builder
	depth := 1
	for depth > 0 {
		tok, err := p.d.Token()
		if err != nil {
			return "", p.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if b.Len() < 4*maxMessage {
				b.Write(t)
			}
		}
	}
	return strings.TrimSpace(b.String()), nil
}

func (p *junitParser) line() int {
	line, _ := p.d.InputPos()
	return line
}

func (p *junitParser) fail(msg string, kind error) error {
	return &ParseError{Format: FormatJUnit, Line: p.line(), Msg: msg, Err: kind}
}

// wrap turns a decoder error into a *ParseError with its line.
func (p *junitParser) wrap(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		pe := &ParseError{Format: FormatJUnit, Line: se.Line, Msg: se.Msg}
		if strings.Contains(se.Msg, "unexpected EOF") {
			pe.Msg += "; the XML ends early (truncated?)"
			pe.Err = ErrTruncated
		}
		return pe
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return p.fail("unexpected EOF; the XML ends early (truncated?)", ErrTruncated)
	}
	return p.fail(err.Error(), nil)
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// timeAttr reads a time attribute in seconds; some writers use a
// thousands separator ("1,234.5").
func timeAttr(e xml.StartElement) (time.Duration, bool) {
	s := strings.ReplaceAll(strings.TrimSpace(attr(e, "time")), ",", "")
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// charsetReader accepts the single-byte encodings JUnit writers declare
// besides UTF-8.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
		data, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(data))
		for _, c := range data {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q (want UTF-8 or ISO-8859-1)", label)
}
