package main

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps"
)

// TestSchemaMatchesLoader: the JSON Schema names exactly the keys the
// loader accepts, so editors and rbflow validate agree.
func TestSchemaMatchesLoader(t *testing.T) {
	var out strings.Builder
	if code := Main([]string{"schema"}, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("schema: exit %d: %s", code, out.String())
	}
	var s struct {
		Properties map[string]struct {
			AdditionalProperties struct {
				Properties map[string]any `json:"properties"`
			} `json:"additionalProperties"`
		} `json:"properties"`
		Defs struct {
			Step struct {
				Properties map[string]any `json:"properties"`
			} `json:"step"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	keys := func(m map[string]any) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return k
	}
	sorted := func(l ...[]string) []string { out := slices.Concat(l...); sort.Strings(out); return out }
	reg := engine.NewRegistry()
	steps.Register(reg)
	var top []string
	for n := range s.Properties {
		top = append(top, n)
	}
	sort.Strings(top)
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"top-level keys", top, sorted(spec.TopKeys())},
		{"step keys", keys(s.Defs.Step.Properties), sorted(spec.StepFields(), reg.Keys())},
		{"param keys", keys(s.Properties["params"].AdditionalProperties.Properties), sorted(spec.ParamKeys())},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("schema %s = %v, loader accepts %v", c.what, c.got, c.want)
		}
	}
}
