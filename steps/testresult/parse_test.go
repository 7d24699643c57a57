package testresult

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// counts is the part of a Result that must never be wrong.
type counts struct{ Passed, Failed, Skipped, Errors, Total int }

func countsOf(r Result) counts {
	return counts{r.Passed, r.Failed, r.Skipped, r.Errors, r.Total}
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func failureNames(r Result) []string {
	var names []string
	for _, f := range r.Failures {
		names = append(names, f.Name)
	}
	return names
}

// samples are the checked-in outputs; the pytest ones are real pytest
// 7.2 output, go-test.json is real go test -json output.
var samples = []struct {
	file, format string
	want         counts
	duration     time.Duration
	failures     []Failure // checked by Name, File and a Message substring
}{
	{"go-test.json", FormatGoJSON, counts{3, 5, 1, 2, 11}, 0, []Failure{
		{Name: "example.com/gj/bad", File: "bad/bad.go", Message: "cannot use \"s\""},
		{Name: "example.com/gj/ok.TestFail", File: "ok_test.go", Message: "want 1, got 2"},
		{Name: "example.com/gj/ok.TestParent/b", File: "ok_test.go", Message: "sub broke"},
		{Name: "example.com/gj/ok.TestParent", Message: "subtest failed: TestParent/b"},
		{Name: "example.com/gj/pan.TestPanic/inner"},
		{Name: "example.com/gj/pan.TestPanic", Message: "panic: kaboom"},
		{Name: "example.com/gj/tm", Message: "setup failed"},
	}},
	{"pytest-junit.xml", FormatJUnit, counts{2, 2, 2, 1, 7}, 35 * time.Millisecond, []Failure{
		{Name: "tests.test_sample.test_fail", File: "tests/test_sample.py", Message: "AssertionError: one is not two"},
		{Name: "tests.test_sample.test_error", File: "tests/test_sample.py", Message: "RuntimeError: fixture boom"},
		{Name: "tests.test_sample.TestGroup.test_method_fails", File: "tests/test_sample.py", Message: "ValueError: bad value"},
	}},
	{"junit-nested.xml", FormatJUnit, counts{4, 1, 1, 1, 7}, 4500 * time.Millisecond, []Failure{
		{Name: "api.HealthTest.test_degraded", File: "tests/api/health_test.py", Message: "expected 200, got 503"},
		{Name: "db.Migrations.test_seed", Message: "could not open seed.sql\nand more"},
	}},
	{"junit-single.xml", FormatJUnit, counts{1, 1, 1, 0, 3}, 10 * time.Millisecond, []Failure{
		{Name: "example.com/gj/ok.TestFail", Message: "Failed"},
	}},
	{"pytest-terminal.txt", FormatPytest, counts{2, 2, 2, 1, 7}, 30 * time.Millisecond, []Failure{
		{Name: "tests/test_sample.py::test_fail", File: "tests/test_sample.py", Message: "AssertionError: one is not two"},
		{Name: "tests/test_sample.py::TestGroup::test_method_fails", File: "tests/test_sample.py", Message: "ValueError: bad v"},
		{Name: "tests/test_sample.py::test_error", File: "tests/test_sample.py", Message: "RuntimeError: fixture boom"},
	}},
	{"pytest-quiet.txt", FormatPytest, counts{2, 2, 2, 1, 7}, 20 * time.Millisecond, []Failure{
		{Name: "tests/test_sample.py::test_fail"},
		{Name: "tests/test_sample.py::TestGroup::test_method_fails"},
		{Name: "tests/test_sample.py::test_error"},
	}},
	{"pytest-color.txt", FormatPytest, counts{2, 2, 2, 1, 7}, 50 * time.Millisecond, []Failure{
		{Name: "tests/test_sample.py::test_error", Message: "RuntimeError: fixture boom"},
		{Name: "tests/test_sample.py::test_fail"},
		{Name: "tests/test_sample.py::TestGroup::test_method_fails", Message: "ValueError: bad value"},
	}},
	{"tap13.tap", FormatTAP, counts{3, 2, 2, 0, 7}, 0, []Failure{
		{Name: "api returns 200 on /health", File: "checks/health.t", Message: "expected 200, got 503"},
		{Name: "worker queue drains", Message: "queue still has 12 jobs\nafter 30s"},
	}},
	{"tap12.tap", FormatTAP, counts{2, 1, 1, 0, 4}, 0, []Failure{
		{Name: "run smoke tests"},
	}},
	{"tap-bailout.tap", FormatTAP, counts{1, 1, 0, 1, 3}, 0, []Failure{
		{Name: "migrate"},
		{Name: "Bail out!", Message: "database unreachable"},
	}},
}

func TestParseSamples(t *testing.T) {
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			got, err := Parse(s.format, bytes.NewReader(readSample(t, s.file)))
			if err != nil {
				t.Fatalf("Parse(%s, %s) error: %v", s.format, s.file, err)
			}
			if countsOf(got) != s.want {
				t.Errorf("Parse(%s, %s) = %+v, want %+v", s.format, s.file, countsOf(got), s.want)
			}
			if got.Format != s.format {
				t.Errorf("Parse(%s, %s).Format = %q, want %q", s.format, s.file, got.Format, s.format)
			}
			if s.duration != 0 && got.Duration != s.duration {
				t.Errorf("Parse(%s, %s).Duration = %v, want %v", s.format, s.file, got.Duration, s.duration)
			}
			if len(got.Failures) != len(s.failures) {
				t.Fatalf("Parse(%s, %s).Failures = %q, want %d: %+v", s.format, s.file, failureNames(got), len(s.failures), s.failures)
			}
			for i, want := range s.failures {
				f := got.Failures[i]
				if f.Name != want.Name || (want.File != "" && f.File != want.File) || !strings.Contains(f.Message, want.Message) {
					t.Errorf("Parse(%s, %s).Failures[%d] = %+v, want %+v", s.format, s.file, i, f, want)
				}
			}
		})
	}
}

// TestParseCut cuts every sample at every byte offset: each cut must
// either fail or count exactly what the whole file counts. The one
// exception is go test -json cut right after a package's end, which is a
// complete stream of fewer packages; those cuts may only count less.
func TestParseCut(t *testing.T) {
	for _, s := range samples {
		t.Run(s.file, func(t *testing.T) {
			t.Parallel()
			data := readSample(t, s.file)
			full, err := Parse(s.format, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			boundaries := map[int]bool{}
			if s.format == FormatGoJSON {
				boundaries = goPackageEnds(data)
			}
			var errs, same, shorter, cuts int
			for n := 0; n < len(data); n++ {
				if !cutHere(data, n) {
					continue
				}
				cuts++
				got, err := Parse(s.format, bytes.NewReader(data[:n]))
				switch {
				case err != nil:
					var pe *ParseError
					if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "parse "+s.format+": ") {
						t.Fatalf("Parse(%s, %s[:%d]) error %q (%T), want a *ParseError", s.format, s.file, n, err, err)
					}
					errs++
				case countsOf(got) == countsOf(full):
					same++
				case boundaries[n] && lessOrEqual(countsOf(got), countsOf(full)):
					shorter++
				default:
					t.Fatalf("Parse(%s, %s[:%d]) = %+v, want an error or %+v\ncut before: %q",
						s.format, s.file, n, countsOf(got), countsOf(full), tail(data[:n]))
				}
			}
			if errs == 0 {
				t.Errorf("Parse(%s, %s) cut %d ways never failed", s.format, s.file, len(data))
			}
			t.Logf("%s: %d cuts: %d errors, %d same counts, %d shorter complete streams", s.file, cuts, errs, same, shorter)
		})
	}
}

// cutHere says whether to cut data at n: everywhere in a small file; in
// a large one (go-test.json, where each cut reparses the whole prefix) near
// every line end, where a cut can look complete, and at every 5th byte.
func cutHere(data []byte, n int) bool {
	if len(data) < 4000 || n%5 == 0 {
		return true
	}
	for i := max(0, n-2); i < min(len(data), n+2); i++ {
		if data[i] == '\n' {
			return true
		}
	}
	return false
}

// goPackageEnds returns the offsets just after a package's end event.
func goPackageEnds(data []byte) map[int]bool {
	ends := map[int]bool{}
	off := 0
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		off += len(line)
		if bytes.Contains(line, []byte(`"Package"`)) && !bytes.Contains(line, []byte(`"Test"`)) &&
			(bytes.Contains(line, []byte(`"Action":"pass"`)) || bytes.Contains(line, []byte(`"Action":"fail"`)) ||
				bytes.Contains(line, []byte(`"Action":"skip"`))) {
			ends[off] = true
			ends[off-1] = true // the event line is complete JSON without its newline too
		}
	}
	return ends
}

func lessOrEqual(a, b counts) bool {
	return a.Passed <= b.Passed && a.Failed <= b.Failed && a.Skipped <= b.Skipped && a.Errors <= b.Errors && a.Total < b.Total
}

func tail(b []byte) string {
	if len(b) > 60 {
		b = b[len(b)-60:]
	}
	return string(b)
}

func TestParsePytestSummaries(t *testing.T) {
	for i, line := range strings.Split(strings.TrimSpace(string(readSample(t, "pytest-summaries.txt"))), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		input, wantText, _ := strings.Cut(line, "|")
		f := strings.Fields(wantText)
		var n [4]int
		for j := range n {
			n[j], _ = strconv.Atoi(f[j])
		}
		secs, _ := strconv.ParseFloat(f[4], 64)
		want := counts{n[0], n[1], n[2], n[3], n[0] + n[1] + n[2] + n[3]}
		got, err := ParsePytest(strings.NewReader("collected 3 items\n\n" + input + "\n"))
		if err != nil {
			t.Errorf("line %d: ParsePytest(%q) error: %v", i+1, input, err)
			continue
		}
		if countsOf(got) != want {
			t.Errorf("line %d: ParsePytest(%q) = %+v, want %+v", i+1, input, countsOf(got), want)
		}
		if d := time.Duration(secs * float64(time.Second)); got.Duration != d {
			t.Errorf("line %d: ParsePytest(%q).Duration = %v, want %v", i+1, input, got.Duration, d)
		}
	}
}

// TestParseErrors checks that broken output is an error that says where
// and what, and never a count.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		format, input string
		want          string // error text
		kind          error
	}{
		{FormatJUnit, "", "parse junit: line 1: no XML element found", ErrNoResults},
		{FormatJUnit, "<testsuite>\n<testcase name=\"a\"/>\n<testcase name=\"b\">\n<failure>", "parse junit: line 4: unexpected EOF", ErrTruncated},
		{FormatJUnit, "<html><body/></html>", "parse junit: line 1: root element is <html>", ErrNoResults},
		{FormatJUnit, "<testsuite></testsuite><testsuite></testsuite>", "second root element <testsuite>", nil},
		{FormatJUnit, "<testsuite>\n<testcase></testsuite>", "parse junit: line 2: element <testcase> closed by </testsuite>", nil},
		{FormatJUnit, `<testsuite tests="2" failures="3"></testsuite>`, "tests=2 but failures+errors+skipped=3", nil},
		{FormatJUnit, `<testsuite tests="x"></testsuite>`, `<testsuite tests="x"> is not a count`, nil},
		{FormatGoJSON, "", "parse go-json: no test2json events found", ErrNoResults},
		{FormatGoJSON, "ok  \texample.com/m\t0.1s\n", "no test2json events found", ErrNoResults},
		{FormatGoJSON, `{"Action":"start","Package":"p"}` + "\n" + `{"Action":"run","Package":"p","Test":"TestA"}` + "\n",
			"parse go-json: package p started but never ended", ErrTruncated},
		{FormatGoJSON, `{"Action":"start","Package":"p"}` + "\n" + `{"Action":"pass","Package":"p","Te`,
			"parse go-json: line 2: the last event is cut off", ErrTruncated},
		{FormatGoJSON, `{"Action":"start","Package":"p"}` + "\n" + `{"Action":` + "\n" + `{"Action":"pass","Package":"p"}` + "\n",
			"parse go-json: line 2: invalid test2json event", nil},
		{FormatGoJSON, `{"ImportPath":"p [p.test]","Action":"build-output","Output":"# p\n"}` + "\n",
			"parse go-json: line 1: the output ends with build events", ErrTruncated},
		{FormatTAP, "", "parse tap: no TAP plan (1..N) or test lines found", ErrNoResults},
		{FormatTAP, "1..3\nok 1\nok 2\n", "parse tap: line 1: plan 1..3 but 2 test lines", ErrTruncated},
		{FormatTAP, "ok 1\nok 2\n", "parse tap: 2 test lines but no plan", ErrTruncated},
		{FormatTAP, "1..2\nok 1\nok 2", "parse tap: line 3: the last line has no newline", ErrTruncated},
		{FormatTAP, "1..2\nok 1\nnot ok 2\n  ---\n  message: x\n", "parse tap: line 4: YAML block is never closed", ErrTruncated},
		{FormatTAP, "1..2\nok 1\nok 3\n", "parse tap: line 3: test number 3 out of sequence (want 2)", nil},
		{FormatTAP, "ok 1\n1..1\nok 2\n", "parse tap: line 3: test line after the closing plan on line 2", nil},
		{FormatTAP, "1..1\nok 1\n1..1\n", "parse tap: line 3: second plan", nil},
		{FormatPytest, "", "parse pytest: no pytest summary line", ErrNoResults},
		{FormatPytest, "collected 3 items\n\ntests/test_a.py ..F", "no pytest summary line", ErrNoResults},
		{FormatPytest, "=== 2 passed, 1 frobbed in 0.1s ===\n", "parse pytest: line 1: unknown count \"1 frobbed\"", nil},
		{FormatPytest, "=== 2 passed in 0.1s\n", "no pytest summary line", ErrNoResults},
		{FormatPytest, "=== 99999999999999999999 passed in 0.1s ===\n", "count \"99999999999999999999 passed\" is out of range", nil},
		{"xml", "", `parse "xml": unknown test result format`, nil},
		{FormatAuto, "", "parse auto: pick the format with Detect", nil},
		{FormatExitCode, "", "use FromExitCode", nil},
	}
	for _, tt := range tests {
		got, err := Parse(tt.format, strings.NewReader(tt.input))
		if err == nil {
			t.Errorf("Parse(%s, %q) = %+v, want error %q", tt.format, tt.input, countsOf(got), tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s, %q) error = %q, want it to contain %q", tt.format, tt.input, err, tt.want)
		}
		if tt.kind != nil && !errors.Is(err, tt.kind) {
			t.Errorf("Parse(%s, %q) error = %q, want errors.Is %v", tt.format, tt.input, err, tt.kind)
		}
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		format, input string
		want          counts
	}{
		{FormatJUnit, `<testsuites/>`, counts{}},
		{FormatJUnit, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<testsuite><testcase name=\"caf\xe9\"/></testsuite>\n", counts{1, 0, 0, 0, 1}},
		{FormatJUnit, `<testsuites><testsuite name="s" tests="5" failures="1" errors="1" skipped="2"/></testsuites>`, counts{1, 1, 2, 1, 5}},
		{FormatJUnit, `<testsuite><testcase name="a"><failure/><error/></testcase><testcase name="b"><error/><skipped/></testcase></testsuite>`, counts{0, 1, 0, 1, 2}},
		{FormatTAP, "1..0 # SKIP no tests on this platform\n", counts{}},
		{FormatTAP, "TAP version 13\nok - a\nnot ok - b # todo later\nok c # Skipped: slow\nok 4 \\# not a directive\n1..4\n", counts{2, 0, 2, 0, 4}},
		{FormatTAP, "1..2\nok 1\n    # Subtest: inner\n    not ok 1 - inner fails\n    1..1\nok 2 - outer passes\n", counts{2, 0, 0, 0, 2}},
		{FormatGoJSON, `{"Action":"start","Package":"p"}` + "\n" + `{"Action":"skip","Package":"p"}` + "\n", counts{}},
		{FormatGoJSON, "# p\np.go:1:1: expected 'package'\n" +
			`{"Action":"start","Package":"p"}` + "\n" +
			`{"Action":"output","Package":"p","Output":"FAIL\tp [setup failed]\n"}` + "\n" +
			`{"Action":"fail","Package":"p","FailedBuild":"p"}` + "\n", counts{0, 0, 0, 1, 1}},
		// A test left running when its package fails (a timeout) failed.
		{FormatGoJSON, `{"Action":"run","Package":"p","Test":"TestSlow"}` + "\n" +
			`{"Action":"output","Package":"p","Output":"panic: test timed out after 1s\n"}` + "\n" +
			`{"Action":"fail","Package":"p","Elapsed":1}` + "\n", counts{0, 1, 0, 0, 1}},
		// -count=2 runs the same test twice.
		{FormatGoJSON, `{"Action":"run","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"pass","Package":"p","Test":"TestA"}` + "\n" +
			`{"Action":"run","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"fail","Package":"p","Test":"TestA"}` + "\n" +
			`{"Action":"fail","Package":"p"}` + "\n", counts{1, 1, 0, 0, 2}},
		// Output after a test's end is not a new test; output with no run
		// event before it is one (test2json lost the event).
		{FormatGoJSON, `{"Action":"run","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"pass","Package":"p","Test":"TestA"}` + "\n" +
			`{"Action":"output","Package":"p","Test":"TestA","Output":"late\n"}` + "\n" +
			`{"Action":"output","Package":"p","Test":"TestB","Output":"--- PASS: TestB\n"}` + "\n" +
			`{"Action":"pass","Package":"p","Test":"TestB"}` + "\n" +
			`{"Action":"pass","Package":"p"}` + "\n", counts{2, 0, 0, 0, 2}},
		{FormatPytest, "=== 3 passed in 0.1s ===\nmore output after pytest\n", counts{3, 0, 0, 0, 3}},
		// Two sessions in one output: the last summary counts.
		{FormatPytest, "=== 1 failed in 0.1s ===\nFAILED a.py::x\n=== 2 passed in 0.1s ===\n", counts{2, 0, 0, 0, 2}},
		{FormatPytest, "!!!!!!!!! KeyboardInterrupt !!!!!!!!!\n=== 2 passed in 0.1s ===\n", counts{2, 0, 0, 1, 3}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.format, strings.NewReader(tt.input))
		if err != nil {
			t.Errorf("Parse(%s, %q) error: %v", tt.format, tt.input, err)
			continue
		}
		if countsOf(got) != tt.want {
			t.Errorf("Parse(%s, %q) = %+v, want %+v", tt.format, tt.input, countsOf(got), tt.want)
		}
	}
}

func TestPytestFailureIDs(t *testing.T) {
	in := "FAILED tests/test_p.py::test_x[a - b] - assert 1 - 2 == 0\nERROR tests/test_bad.py - ImportError: no module\n=== 1 failed, 1 error in 0.2s ===\n"
	got, err := ParsePytest(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Failure{
		{Name: "tests/test_p.py::test_x[a - b]", File: "tests/test_p.py", Message: "assert 1 - 2 == 0"},
		{Name: "tests/test_bad.py", File: "tests/test_bad.py", Message: "ImportError: no module"},
	}
	if len(got.Failures) != len(want) || got.Failures[0] != want[0] || got.Failures[1] != want[1] {
		t.Errorf("ParsePytest(%q).Failures = %+v, want %+v", in, got.Failures, want)
	}
}

func TestOutputs(t *testing.T) {
	r := Result{Passed: 2, Failed: 1, Total: 3, Duration: 1500 * time.Millisecond,
		Failures: []Failure{{Name: "t", File: "f.py", Message: "m"}}, Format: FormatPytest}
	got := r.Outputs()
	want := map[string]any{"passed": 2, "failed": 1, "skipped": 0, "errors": 0, "total": 3, "duration": 1.5, "ok": false}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Outputs()[%q] = %v, want %v", k, got[k], v)
		}
	}
	fs, _ := got["failures"].([]any)
	if len(fs) != 1 {
		t.Fatalf("Outputs()[failures] = %v, want one", got["failures"])
	}
	if f := fs[0].(map[string]any); f["name"] != "t" || f["file"] != "f.py" || f["message"] != "m" {
		t.Errorf("Outputs()[failures][0] = %v, want name t, file f.py, message m", f)
	}
	if len(got) != 8 {
		t.Errorf("Outputs() has %d keys, want 8: %v", len(got), got)
	}
	if empty := (Result{}).Outputs(); empty["ok"] != true || empty["failures"] == nil {
		t.Errorf("Result{}.Outputs() = %v, want ok and an empty failures list", empty)
	}
}

func TestExitCode(t *testing.T) {
	if got := FromExitCode(0); countsOf(got) != (counts{1, 0, 0, 0, 1}) || !got.OK() {
		t.Errorf("FromExitCode(0) = %+v, want one passed", got)
	}
	got := FromExitCode(2)
	if countsOf(got) != (counts{0, 1, 0, 0, 1}) || got.OK() || got.Failures[0].Message != "exit status 2" {
		t.Errorf("FromExitCode(2) = %+v, want one failed with exit status 2", got)
	}
	tests := []struct {
		r    Result
		code int
		want counts
	}{
		{Result{Passed: 3, Total: 3, Format: FormatGoJSON}, 0, counts{3, 0, 0, 0, 3}},
		{Result{Passed: 3, Total: 3, Format: FormatGoJSON}, 1, counts{3, 0, 0, 1, 4}},
		{Result{Passed: 2, Failed: 1, Total: 3, Format: FormatGoJSON}, 1, counts{2, 1, 0, 0, 3}},
		{Result{Format: FormatPytest}, 5, counts{}},
		{Result{Format: FormatPytest}, 2, counts{0, 0, 0, 1, 1}},
	}
	for _, tt := range tests {
		if got := tt.r.WithExitCode(tt.code); countsOf(got) != tt.want {
			t.Errorf("%+v.WithExitCode(%d) = %+v, want %+v", countsOf(tt.r), tt.code, countsOf(got), tt.want)
		}
	}
}

// fuzzFormats are the formats FuzzParse feeds; the fuzzer picks one by
// a byte so that no input is wasted on an unknown format.
var fuzzFormats = []string{FormatJUnit, FormatTAP, FormatGoJSON, FormatPytest}

func FuzzParse(f *testing.F) {
	index := func(format string) byte {
		for i, ff := range fuzzFormats {
			if ff == format {
				return byte(i)
			}
		}
		panic(format)
	}
	for _, s := range samples {
		f.Add(index(s.format), readSample(f, s.file))
	}
	f.Add(index(FormatTAP), []byte("1..2\nok 1\nnot ok 2 # TODO\n"))
	f.Add(index(FormatPytest), []byte("=== 1 failed, 2 passed in 0.1s ===\n"))
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		format := fuzzFormats[int(which)%len(fuzzFormats)]
		r, err := Parse(format, bytes.NewReader(data))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%s) error %q is %T, want *ParseError", format, err, err)
			}
			return
		}
		if r.Total != r.Passed+r.Failed+r.Skipped+r.Errors {
			t.Fatalf("Parse(%s) = %+v: Total is not the sum of the counts", format, countsOf(r))
		}
		if r.Passed < 0 || r.Failed < 0 || r.Skipped < 0 || r.Errors < 0 {
			t.Fatalf("Parse(%s) = %+v: negative count", format, countsOf(r))
		}
		if len(r.Failures) > r.Failed+r.Errors {
			t.Fatalf("Parse(%s) = %+v with %d failures listed", format, countsOf(r), len(r.Failures))
		}
		if r.Format != format {
			t.Fatalf("Parse(%s).Format = %q", format, r.Format)
		}
	})
}
