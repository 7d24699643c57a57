package main

import (
	"encoding/json"
	"io"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps"
)

// schemaApp is the app `rbflow validate` and `rbflow schema` run with.
func schemaApp() *app {
	reg := engine.NewRegistry()
	steps.Register(reg)
	return &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, registry: reg}
}

// TestSchemaMatchesLoader: the schema names exactly the keys the loader
// accepts, and the registry's action keys.
func TestSchemaMatchesLoader(t *testing.T) {
	var out strings.Builder
	if code := Main([]string{"schema"}, strings.NewReader(""), &out, &out); code != 0 {
		t.Fatalf("schema: exit %d: %s", code, out.String())
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	get := func(path ...any) map[string]any {
		var v any = s
		for _, p := range path {
			switch p := p.(type) {
			case string:
				v = v.(map[string]any)[p]
			case int:
				v = v.([]any)[p]
			}
		}
		m, _ := v.(map[string]any)
		return m
	}
	keys := func(m map[string]any) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return k
	}
	sorted := func(l ...[]string) []string {
		out := slices.Concat(l...)
		sort.Strings(out)
		return out
	}
	step := []any{"$defs", "step", "properties"}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"top-level keys", keys(get("properties")), sorted(spec.TopKeys())},
		{"step keys", keys(get(step...)), sorted(spec.StepFields(), schemaApp().registry.Keys())},
		{"param keys", keys(get("properties", "params", "patternProperties", spec.IDPattern, "properties")), sorted(spec.ParamKeys())},
		{"retry keys", keys(get(append(step, "retry", "anyOf", 1, "properties")...)), sorted(spec.RetryKeys())},
		{"contact keys", keys(get("properties", "contacts", "items", "properties")), sorted(spec.ContactKeys())},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("schema %s = %v, loader accepts %v", c.what, c.got, c.want)
		}
	}
}
