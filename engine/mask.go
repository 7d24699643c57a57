package engine

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/rbflow/rbflow/engine/secret"
	"github.com/rbflow/rbflow/engine/spec"
)

// Mask replaces the values of a run's secret params with ***.
type Mask struct {
	r       *strings.Replacer
	secrets []string
}

// NewMask returns the mask of a run of p: every value of its secret params.
func NewMask(p *spec.Procedure, params map[string]any) *Mask {
	var secrets []string
	for _, pm := range p.Params {
		if v, ok := params[pm.Name]; ok && pm.Secret {
			secrets = append(secrets, secretStrings(v)...)
		}
	}
	return newMask(secrets)
}

// RunMask returns the mask of a stored run and its params as a person may
// see them, secret ones as ***. Which params are secret is read from the
// procedure text the run executed; when that text cannot be read, every
// param is taken for a secret.
func RunMask(run *Run) (map[string]any, *Mask) {
	p, _ := spec.Decode(run.SourcePath, []byte(run.Source), nil) // only the params are read
	if p == nil {
		var all []string
		shown := map[string]any{}
		for k, v := range run.Params {
			all = append(all, secretStrings(v)...)
			shown[k] = secret.Masked
		}
		return shown, newMask(all)
	}
	return maskParams(p, run.Params)
}

// maskParams returns params with the secret ones as *** and the mask of
// their values.
func maskParams(p *spec.Procedure, params map[string]any) (map[string]any, *Mask) {
	m := NewMask(p, params)
	shown, _ := m.Any(params).(map[string]any)
	if shown == nil {
		shown = map[string]any{}
	}
	for _, pm := range p.Params {
		if _, ok := params[pm.Name]; ok && pm.Secret {
			shown[pm.Name] = secret.Masked
		}
	}
	return shown, m
}

func secretStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// newMask masks the secrets in the order secret.NewSet gives them (longer
// ones first, so that one secret containing another is masked whole), with
// a strings.Replacer: the step log's hot path.
func newMask(secrets []string) *Mask {
	set := secret.NewSet(secrets)
	if set.Empty() {
		return &Mask{}
	}
	var pairs []string
	for _, s := range set.Values() {
		pairs = append(pairs, s, secret.Masked)
	}
	return &Mask{r: strings.NewReplacer(pairs...), secrets: set.Values()}
}

// With returns a mask of the secrets of both m and o (a child run masks
// its parent's secrets too).
func (m *Mask) With(o *Mask) *Mask {
	if o == nil || len(o.secrets) == 0 {
		return m
	}
	if m == nil || len(m.secrets) == 0 {
		return o
	}
	return newMask(append(slices.Clone(m.secrets), o.secrets...))
}

// String masks s.
func (m *Mask) String(s string) string {
	if m == nil || m.r == nil {
		return s
	}
	return m.r.Replace(s)
}

// Any masks every string inside plain data; it returns a copy when there is
// anything to mask.
func (m *Mask) Any(v any) any {
	if m == nil || m.r == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return m.String(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = m.String(s)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.Any(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = m.Any(e)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(x))
		for i, e := range x {
			out[i], _ = m.Any(e).(map[string]any)
		}
		return out
	}
	return v
}

// safeCut returns a position at or before at where b can be cut so that no
// secret occurrence spans the cut: masking the two parts apart then masks
// as the whole would.
func (m *Mask) safeCut(b []byte, at int) int {
	if m == nil || m.r == nil {
		return at
	}
	longest := 0
	for _, s := range m.secrets {
		longest = max(longest, len(s))
	}
	for moved := true; moved && at > 0; {
		moved = false
		lo := max(0, at-longest+1)
		hi := min(len(b), at+longest-1)
		for _, s := range m.secrets {
			// An occurrence starting in [lo, at) and ending after at spans it.
			win := b[lo:hi]
			for off := 0; ; {
				i := bytes.Index(win[off:], []byte(s))
				if i < 0 {
					break
				}
				start := lo + off + i
				if start < at && start+len(s) > at {
					at = start
					moved = true
				}
				off += i + 1
			}
		}
	}
	return at
}

// empty reports whether there is nothing to mask.
func (m *Mask) empty() bool { return m == nil || m.r == nil }
