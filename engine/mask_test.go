package engine_test

import (
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// A stored run's secret params are masked from the text it ran; when that
// text cannot be read, every param is taken for a secret rather than shown.
func TestRunMask(t *testing.T) {
	params := map[string]any{"token": "hunter2", "who": "ann", "hosts": []any{"db1", "db2"}}
	run := &engine.Run{ID: "r", SourcePath: "p.yaml", Params: params, Source: `version: 1
name: p
params:
  token: {type: string, secret: true}
  who: {type: string}
  hosts: {type: list, secret: true}
steps:
  - {id: a, run: echo}
`}
	shown, m := engine.RunMask(run)
	if shown["token"] != "***" || shown["hosts"] != "***" || shown["who"] != "ann" {
		t.Errorf("RunMask params = %v, want token and hosts masked, who shown", shown)
	}
	if got := m.String("token hunter2 on db2 for ann"); got != "token *** on *** for ann" {
		t.Errorf("mask = %q", got)
	}
	if params["token"] != "hunter2" {
		t.Errorf("RunMask changed the run's params: %v", params)
	}

	run.Source = "version: 1\nname: p\nparams: [broken\n"
	shown, m = engine.RunMask(run)
	for k, v := range shown {
		if v != "***" {
			t.Errorf("unreadable source: param %s shown as %v, want ***", k, v)
		}
	}
	if got := m.String("ann hunter2 db1"); got != "*** *** ***" {
		t.Errorf("unreadable source: mask = %q, want every param value masked", got)
	}
}
