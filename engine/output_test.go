package engine

import (
	"bufio"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStepLogMasksAcrossBoundaries (issue 13): however the output is cut
// into writes, and however long its lines, no secret reaches the log file,
// the tail or the observer, and everything else arrives byte for byte.
func TestStepLogMasksAcrossBoundaries(t *testing.T) {
	t.Parallel()
	secrets := []string{"hunter2-SECRET", "tok_" + strings.Repeat("x", 40)}
	mask := newMask(secrets)
	rnd := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		// Lines of every length, short to several times maxLine, with
		// secrets anywhere, also at the cut of a long line.
		var want strings.Builder
		var text strings.Builder
		for i := 0; i < 1+rnd.Intn(20); i++ {
			n := rnd.Intn(3 * maxLine)
			if rnd.Intn(3) == 0 {
				n = maxLine - rnd.Intn(len(secrets[1])+2)
			}
			line := strings.Repeat("a", n)
			at := rnd.Intn(len(line) + 1)
			s := secrets[rnd.Intn(len(secrets))]
			text.WriteString(line[:at] + s + line[at:] + "\n")
			want.WriteString(line[:at] + "***" + line[at:] + "\n")
		}
		dir := t.TempDir()
		f, err := os.Create(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		l := &stepLog{file: f, w: bufio.NewWriterSize(f, 64<<10), mask: mask, onLine: func(s string) { seen = append(seen, s) }}
		b := []byte(text.String())
		for len(b) > 0 { // writes of random sizes, as a pipe delivers them
			k := 1 + rnd.Intn(min(len(b), 9000))
			l.Write(b[:k])
			b = b[k:]
		}
		l.Close()
		got, _ := os.ReadFile(filepath.Join(dir, "log"))
		for _, s := range secrets {
			if strings.Contains(string(got), s) || strings.Contains(l.Tail(), s) || strings.Contains(strings.Join(seen, ""), s) {
				t.Fatalf("round %d: a secret reached the log, the tail or the observer", round)
			}
		}
		if string(got) != want.String() {
			t.Fatalf("round %d: the log differs from the output, masked", round)
		}
		// The observer gets lines, a long one in pieces.
		if strings.Join(seen, "") != strings.ReplaceAll(want.String(), "\n", "") {
			t.Fatalf("round %d: the observer got other lines", round)
		}
	}
}
