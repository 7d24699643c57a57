package engine

import (
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/spec"
)

// The params a store keeps hold no secret, and resolving them again takes
// each secret from its source, from --set, or says how to give it.
func TestKeptParamsComeBack(t *testing.T) {
	p := &spec.Procedure{Name: "p", Params: []*spec.Param{
		{Name: "token", Type: spec.TypeString, Secret: true},
		{Name: "envtok", Type: spec.TypeString, Secret: true, FromEnv: "RBFLOW_TEST_KEPT"},
		{Name: "was", Type: spec.TypeString}, // secret when the run started; a reloaded text says otherwise
		{Name: "plain", Type: spec.TypeString},
	}}
	t.Setenv("RBFLOW_TEST_KEPT", "e2")
	params := map[string]any{"token": "t1", "envtok": "e1", "was": "w1", "plain": "has t1 in it"}
	kept := keptParams(p, params, newMask([]string{"t1", "e1", "w1"}))
	kept["was"] = notKept()
	for k, v := range kept {
		if s, ok := v.(string); ok && (strings.Contains(s, "t1") || strings.Contains(s, "e1")) {
			t.Errorf("kept param %s = %q holds a secret", k, s)
		}
	}
	if kept["plain"] != "has *** in it" || !isNotKept(kept["token"]) || !isNotKept(kept["envtok"]) {
		t.Fatalf("kept = %v", kept)
	}

	_, err := ResolveParams(p, ParamInput{Given: kept})
	for _, want := range []string{"param token: secret, given when the run started", "--set token=VALUE", "param was: secret"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resolving without the secrets: %v; want %q", err, want)
		}
	}
	got, err := ResolveParams(p, ParamInput{Given: kept, Sets: []string{"token=t1", "was=w1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got["token"] != "t1" || got["envtok"] != "e2" || got["was"] != "w1" || got["plain"] != "has *** in it" {
		t.Errorf("resolved again: %v; want token from --set, envtok read again from the environment", got)
	}
}
