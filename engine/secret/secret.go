// Package secret finds secret values in text, the way engine.Mask hides
// them (each as ***): in one string cut into pieces, for records that must
// refer to a secret rather than hold it, and in a stream, for output that
// arrives in pieces (a service's log, written by a relay that outlives
// rbflow). It imports nothing of rbflow, so that engine/proc can use it.
package secret

import (
	"bytes"
	"io"
	"slices"
	"sort"
	"strings"
)

// Masked is what stands for a secret in text.
const Masked = "***"

// Set is a set of secret values.
type Set struct {
	values []string // longest first, none empty
}

// NewSet returns the set of values (empty ones are dropped). As with
// engine.Mask, a secret that contains another is found whole.
func NewSet(values []string) *Set {
	var vs []string
	seen := map[string]bool{}
	for _, v := range values {
		if v != "" && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	return &Set{values: vs}
}

// Values returns the secrets, longest first.
func (s *Set) Values() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.values)
}

// Empty reports whether the set holds no secret.
func (s *Set) Empty() bool { return s == nil || len(s.values) == 0 }

// Piece is a part of a text: a secret, or plain text.
type Piece struct {
	Text   string
	Secret bool
}

// Split cuts text into plain pieces and the secrets it holds, found as
// engine.Mask finds them: from the left, the longest secret at each place.
// Joining the pieces with each secret written as Masked gives what
// engine.Mask gives.
func (s *Set) Split(text string) []Piece {
	spans, _ := s.scan([]byte(text), true)
	out := make([]Piece, len(spans))
	for i, sp := range spans {
		out[i] = Piece{Text: text[sp.start:sp.end], Secret: sp.secret}
	}
	return out
}

// String returns text with every secret written as Masked.
func (s *Set) String(text string) string {
	var b strings.Builder
	for _, p := range s.Split(text) {
		if p.Secret {
			b.WriteString(Masked)
		} else {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

type span struct {
	start, end int
	secret     bool
}

// scan cuts text from its start into plain and secret spans. Unless final,
// it stops where the rest of text could be the beginning of a secret (or
// of a longer one than it holds) that more text would complete; n is how
// much of text the spans cover.
func (s *Set) scan(text []byte, final bool) (spans []span, n int) {
	if s.Empty() {
		if len(text) == 0 {
			return nil, 0
		}
		return []span{{0, len(text), false}}, len(text)
	}
	plain, i := 0, 0
	for i < len(text) {
		if !final && s.unfinished(text[i:]) {
			break
		}
		if l := s.at(text[i:]); l > 0 {
			if plain < i {
				spans = append(spans, span{plain, i, false})
			}
			spans = append(spans, span{i, i + l, true})
			i += l
			plain = i
			continue
		}
		i++
	}
	if plain < i {
		spans = append(spans, span{plain, i, false})
	}
	return spans, i
}

// at returns the length of the longest secret rest begins with, 0 if none.
func (s *Set) at(rest []byte) int {
	for _, v := range s.values {
		if len(rest) >= len(v) && string(rest[:len(v)]) == v {
			return len(v)
		}
	}
	return 0
}

// unfinished reports whether rest is shorter than some secret and begins it.
func (s *Set) unfinished(rest []byte) bool {
	for _, v := range s.values {
		if len(rest) < len(v) && strings.HasPrefix(v, string(rest)) {
			return true
		}
	}
	return false
}

// maxPending bounds the part of a line a Writer keeps before it writes
// what it can of it.
const maxPending = 64 << 10

// Writer masks a stream line by line: each complete line is written with
// its secrets as Masked; a partial line waits for its end, for Flush (a
// pause in the output) or for Close. Whatever could be the beginning of a
// secret that the next bytes complete waits until they come, so a secret
// written in several pieces is masked whole.
type Writer struct {
	set *Set
	w   io.Writer
	buf []byte // what came in and is not written yet
	out bytes.Buffer
}

// NewWriter returns a Writer that writes to w.
func (s *Set) NewWriter(w io.Writer) *Writer { return &Writer{set: s, w: w} }

// Write takes p; it writes the complete lines it can.
func (w *Writer) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	var err error
	if bytes.IndexByte(p, '\n') >= 0 {
		err = w.emit(false, true)
	}
	if err == nil && len(w.buf) > maxPending {
		err = w.emit(false, false)
	}
	return len(p), err
}

// Flush writes the partial line it holds, but for what could be the
// beginning of a secret.
func (w *Writer) Flush() error { return w.emit(false, false) }

// Close writes everything it holds.
func (w *Writer) Close() error { return w.emit(true, false) }

// emit writes the masked text of buf as far as it can: all of it when
// final, else up to what could begin a secret and, with lines, only up to
// the end of the last complete line.
func (w *Writer) emit(final, lines bool) error {
	spans, n := w.set.scan(w.buf, final)
	if lines {
		// Cut after the last newline the spans cover: inside a plain span,
		// or at the end of a secret that ends with one.
		cut := 0
		for _, sp := range spans {
			if sp.secret {
				if w.buf[sp.end-1] == '\n' {
					cut = sp.end
				}
			} else if k := bytes.LastIndexByte(w.buf[sp.start:sp.end], '\n'); k >= 0 {
				cut = sp.start + k + 1
			}
		}
		n = cut
	}
	if n == 0 {
		return nil
	}
	w.out.Reset()
	for _, sp := range spans {
		if sp.start >= n {
			break
		}
		if sp.secret {
			w.out.WriteString(Masked)
		} else {
			w.out.Write(w.buf[sp.start:min(sp.end, n)])
		}
	}
	w.buf = append(w.buf[:0], w.buf[n:]...)
	_, err := w.w.Write(w.out.Bytes())
	return err
}
