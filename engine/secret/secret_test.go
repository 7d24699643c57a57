package secret_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/secret"
	"github.com/rbflow/rbflow/engine/spec"
)

// engineMask is the mask the engine builds for a run whose secret params
// hold values.
func engineMask(values []string) *engine.Mask {
	p := &spec.Procedure{}
	params := map[string]any{}
	for i, v := range values {
		name := fmt.Sprintf("s%d", i)
		p.Params = append(p.Params, &spec.Param{Name: name, Type: "string", Secret: true})
		params[name] = v
	}
	return engine.NewMask(p, params)
}

// randText is text over a small alphabet, so that secrets overlap, nest
// and straddle the places where a stream is cut.
func randText(r *rand.Rand, n int) string {
	const alphabet = "ab\nc"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// Split and a Writer fed the text in random pieces, with pauses (Flush)
// between them, give exactly what engine.Mask gives for the whole text.
func TestSameAsEngineMask(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 3000 {
		var values []string
		for range 1 + r.IntN(3) {
			values = append(values, randText(r, 1+r.IntN(4)))
		}
		text := randText(r, r.IntN(40))
		want := engineMask(values).String(text)
		set := secret.NewSet(values)
		if got := set.String(text); got != want {
			t.Fatalf("case %d: Set(%q).String(%q) = %q, want %q", n, values, text, got, want)
		}
		var out bytes.Buffer
		w := set.NewWriter(&out)
		for rest := text; rest != ""; {
			k := min(len(rest), 1+r.IntN(5))
			if _, err := w.Write([]byte(rest[:k])); err != nil {
				t.Fatal(err)
			}
			rest = rest[k:]
			if r.IntN(3) == 0 {
				_ = w.Flush()
			}
		}
		_ = w.Close()
		if out.String() != want {
			t.Fatalf("case %d: Writer with secrets %q over %q wrote %q, want %q", n, values, text, out.String(), want)
		}
	}
}

// A Writer writes complete lines as they come and keeps a partial line
// until a pause (Flush) or the end (Close); what may begin a secret waits
// for the bytes that tell.
func TestWriterLines(t *testing.T) {
	var out bytes.Buffer
	w := secret.NewSet([]string{"hunter2"}).NewWriter(&out)
	step := func(what string, f func(), want string) {
		t.Helper()
		f()
		if out.String() != want {
			t.Fatalf("after %s: wrote %q, want %q", what, out.String(), want)
		}
	}
	write := func(s string) func() { return func() { _, _ = w.Write([]byte(s)) } }
	step("a line", write("token=hunter2\n"), "token=***\n")
	step("a partial line", write("split=hun"), "token=***\n")
	step("a pause", func() { _ = w.Flush() }, "token=***\nsplit=")
	step("the rest", write("ter2 ok\npartial hunter2"), "token=***\nsplit=*** ok\n")
	step("the end", func() { _ = w.Close() }, "token=***\nsplit=*** ok\npartial ***")
}

// Split gives the secrets and the text between them.
func TestSplit(t *testing.T) {
	got := secret.NewSet([]string{"ab", "abc", ""}).Split("xabcab-ab")
	want := []secret.Piece{{Text: "x"}, {Text: "abc", Secret: true}, {Text: "ab", Secret: true}, {Text: "-"}, {Text: "ab", Secret: true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Split = %v, want %v", got, want)
	}
	if got := secret.NewSet(nil).Split("plain"); len(got) != 1 || got[0].Text != "plain" || strings.Contains(fmt.Sprint(got), "true") {
		t.Errorf("Split with no secrets = %v", got)
	}
}
