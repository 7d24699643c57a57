package engine_test

import (
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// probeKind is a fake kind whose value names an action: `probe: ping`.
type probeKind struct{ compiled *[]string }

func (probeKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: "what to probe",
		Actions: []engine.ActionSig{
			{Name: "ping", With: []engine.Field{
				{Name: "host", Type: engine.String, Required: true, Description: "the host to ping"},
				{Name: "count", Type: engine.Int},
			}},
			{Name: "wait", With: []engine.Field{{Name: "until", Type: engine.Duration}}},
		},
		With: []engine.Field{{Name: "quiet", Type: engine.Bool}},
	}
}

func (k probeKind) Compile(c *engine.KindContext) engine.Action {
	*k.compiled = append(*k.compiled, c.Step.ID+":"+c.Action())
	if n, ok := c.With().Literal("count"); ok && n != 2 {
		c.Errorf(c.With().Pos("count"), "count %v", n)
	}
	return fakeAction{}
}

// noteKind is a fake kind of free text and no with: arguments.
type noteKind struct{}

func (noteKind) Signature() engine.Signature                 { return engine.Signature{Arg: "a note"} }
func (noteKind) Compile(c *engine.KindContext) engine.Action { return fakeAction{} }

// TestSignatureChecks: a step is checked against its kind's signature
// before the kind compiles it: the action it names, and its with:
// arguments for that action.
func TestSignatureChecks(t *testing.T) {
	var compiled []string
	reg := engine.NewRegistry()
	reg.Register("probe", probeKind{&compiled})
	reg.Register("note", noteKind{})
	tests := []struct {
		step     string
		want     string // one of the errors, "" for none
		compiled string // the kind's Compile saw the step, and this action
	}{
		{"probe: ping\n    with: {host: h, count: 2, quiet: true}", "", "s:ping"},
		{"probe: pnig", `p.yaml:5:12: step "s": unknown probe action "pnig" (did you mean "ping"?); use one of ping, wait`, ""},
		{`probe: " "`, `p.yaml:5:5: step "s": probe needs one of ping, wait`, ""},
		{"probe: ping", `p.yaml:5:5: step "s": probe: ping needs with.host (the host to ping)`, "s:ping"},
		{"probe: ping\n    with: {count: 1}", `p.yaml:6:11: step "s": probe: ping needs with.host (the host to ping)`, "s:ping"},
		{"probe: wait\n    with: {host: h, until: 5s}", `p.yaml:6:12: step "s": with.host is for probe: ping, not wait`, "s:wait"},
		{"probe: ping\n    with: {hots: h}", `p.yaml:6:12: step "s": unknown argument "hots" for probe: ping (did you mean "host"?); it takes quiet, host, count`, "s:ping"},
		{"probe: ping\n    with: {host: h, count: two}", `p.yaml:6:28: step "s": with.count: want an integer, got "two"`, "s:ping"},
		{"probe: ping\n    with: {host: h, count: 3}", `p.yaml:6:28: step "s": count 3`, "s:ping"},
		{"note: hi\n    with: {x: 1}", `p.yaml:6:12: step "s": unknown argument "x": note steps take no with: arguments`, ""},
	}
	for _, tt := range tests {
		compiled = nil
		text := "version: 1\nname: p\nsteps:\n  - id: s\n    " + tt.step + "\n"
		_, err := engine.Load("p.yaml", []byte(text), reg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Load(%q) = %v, want a plan", tt.step, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want+"\n")):
			t.Errorf("Load(%q) = %v, want an error %q", tt.step, err, tt.want)
		}
		if strings.Join(compiled, ",") != tt.compiled {
			t.Errorf("Load(%q): Compile saw %v, want %q", tt.step, compiled, tt.compiled)
		}
	}
	if got, want := strings.Join(reg.Keys(), ","), "probe,note"; got != want {
		t.Errorf("Keys() = %s, want %s (the order of registration)", got, want)
	}
}

// badKind declares a signature that contradicts itself.
type badKind struct{ sig engine.Signature }

func (k badKind) Signature() engine.Signature               { return k.sig }
func (badKind) Compile(c *engine.KindContext) engine.Action { return fakeAction{} }

// TestRegisterBadSignature: a signature that contradicts itself is a
// programming error, found when the kind is registered.
func TestRegisterBadSignature(t *testing.T) {
	str := engine.Field{Name: "x", Type: engine.String}
	for name, sig := range map[string]engine.Signature{
		"a field twice":              {With: []engine.Field{str, str}},
		"a field of kind and action": {With: []engine.Field{str}, Actions: []engine.ActionSig{{Name: "a", With: []engine.Field{str}}}},
		"an enum on a bool":          {With: []engine.Field{{Name: "b", Type: engine.Bool, Enum: []string{"true"}}}},
		"an action twice":            {Actions: []engine.ActionSig{{Name: "a"}, {Name: "a"}}},
		"a field without a name":     {With: []engine.Field{{Type: engine.Int}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", name)
				}
			}()
			engine.NewRegistry().Register("bad", badKind{sig})
		}()
	}
}
