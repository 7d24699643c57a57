package testresult

import (
	"bytes"
	"slices"
	"testing"
)

// TestTallyAgreesWithParse feeds real go test -json output to a Tally
// line by line: at the end its counts are ParseGoJSON's (failures and
// errors together), and it counted as the lines came.
func TestTallyAgreesWithParse(t *testing.T) {
	data := readSample(t, "go-test.json")
	res, err := ParseGoJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var tally Tally
	changes := 0
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if tally.GoJSONLine(line) {
			changes++
		}
	}
	got := [3]int{tally.Passed, tally.Failed, tally.Skipped}
	want := [3]int{res.Passed, res.Failed + res.Errors, res.Skipped}
	if got != want {
		t.Errorf("Tally passed, failed, skipped = %v, want %v (ParseGoJSON)", got, want)
	}
	if changes < 3 {
		t.Errorf("Tally changed %d times over the stream, want one change per settled test", changes)
	}
	for _, name := range []string{"ok.TestFail", "ok.TestParent/b", "pan.TestPanic", "bad (build failed)", "tm"} {
		if !slices.Contains(tally.Failures, name) {
			t.Errorf("Tally.Failures = %q, lacks %q", tally.Failures, name)
		}
	}
}

// TestTallyIgnoresWhatIsNotAnEvent: stray text, a cut line and output
// events change no count.
func TestTallyIgnoresWhatIsNotAnEvent(t *testing.T) {
	var tally Tally
	for _, line := range []string{
		"# example.com/x\n",
		`{"Action":"pass","Package":"example.com/x","Te`,
		`{"Action":"output","Package":"example.com/x","Test":"TestA","Output":"--- PASS\n"}`,
		`{"Action":"run","Package":"example.com/x","Test":"TestA"}`,
	} {
		if tally.GoJSONLine([]byte(line)) {
			t.Errorf("GoJSONLine(%q) = true, want false", line)
		}
	}
	if !tally.GoJSONLine([]byte(`{"Action":"pass","Package":"example.com/x","Test":"TestA"}`)) || tally.Passed != 1 {
		t.Errorf("a passing test: Passed = %d, want 1", tally.Passed)
	}
}
