package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
)

// loopRun is a run of a procedure with the real step kinds, its records
// by id and the events it sent.
type loopRun struct {
	run    *engine.Run
	recs   map[string]*engine.StepRecord
	events []engine.Event
	err    error
}

// runLoop runs text with the real step kinds (bash run: steps), the
// params given and --parallel parallel, in a fresh state folder.
func runLoop(t *testing.T, text string, parallel int, params map[string]any) loopRun {
	t.Helper()
	plan, err := load("p.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	resolved, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Given: params})
	if err != nil {
		t.Fatalf("ResolveParams: %v", err)
	}
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	var events []engine.Event
	obs := observerFunc(func(e engine.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	r := &engine.Runner{Store: st, StateDir: dir, WorkDir: dir, Parallel: parallel, Grace: time.Second, Observer: obs}
	run, err := r.Start(context.Background(), plan, resolved, "p.yaml")
	list, lerr := st.Steps(context.Background(), run.ID)
	if lerr != nil {
		t.Fatal(lerr)
	}
	recs := map[string]*engine.StepRecord{}
	for _, s := range list {
		recs[s.StepID] = s
	}
	stored, _ := st.Run(context.Background(), run.ID)
	return loopRun{run: stored, recs: recs, events: events, err: err}
}

func (l loopRun) rec(t *testing.T, id string) *engine.StepRecord {
	t.Helper()
	r, ok := l.recs[id]
	if !ok {
		t.Fatalf("run %s has no record %s (it has %v)", l.run.ID, id, slices.Sorted(func(yield func(string) bool) {
			for k := range l.recs {
				if !yield(k) {
					return
				}
			}
		}))
	}
	return r
}

// items returns the outputs.items of a step with for_each.
func (l loopRun) items(t *testing.T, id string) []map[string]any {
	t.Helper()
	raw, _ := l.rec(t, id).Outputs["items"].([]any)
	out := make([]map[string]any, len(raw))
	for i, e := range raw {
		out[i], _ = e.(map[string]any)
	}
	return out
}

// num is a number from stored outputs (JSON: an int or a float64).
func num(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	case string: // written to $RBFLOW_OUTPUT
		f, err := strconv.ParseFloat(n, 64)
		if err == nil {
			return f
		}
	}
	return -1
}

// A for_each over a list written in the step runs the step once per item,
// each with its own record and log; the step's outputs hold each item's
// result; the next step reads them.
func TestForEachListLiteral(t *testing.T) {
	t.Parallel()
	mark := t.TempDir()
	res := runLoop(t, `version: 1
name: loop
params:
  mark: {type: string}
steps:
  - id: each
    for_each: [alpha, "beta gamma", 3]
    run: |
      printf '%s' ${{ item }} > ${{ params.mark }}/${{ index }}
      echo "upper=${{ upper(string(item)) }}" >> "$RBFLOW_OUTPUT"
      echo "step=$RBFLOW_STEP"
  - id: after
    run: echo '${{ steps.each.outputs.count }} ${{ steps.each.outputs.succeeded }} ${{ steps.each.outputs.items[1].outputs.upper }}' > ${{ params.mark }}/after
`, 4, map[string]any{"mark": mark})
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	for i, want := range []string{"alpha", "beta gamma", "3"} {
		if got := testkit.ReadFile(t, filepath.Join(mark, []string{"0", "1", "2"}[i])); got != want {
			t.Errorf("item %d wrote %q, want %q", i, got, want)
		}
		id := engine.ItemID("each", i)
		rec := res.rec(t, id)
		if rec.Status != engine.StepSucceeded || !strings.HasSuffix(rec.LogPath, id+".log") {
			t.Errorf("record %s: %s, log %s; want succeeded with its own log", id, rec.Status, rec.LogPath)
		}
		if log := testkit.ReadFile(t, rec.LogPath); !strings.Contains(log, "step="+id) {
			t.Errorf("log of %s does not hold its own output:\n%s", id, log)
		}
	}
	if got := testkit.ReadFile(t, filepath.Join(mark, "after")); got != "3 3 BETA GAMMA\n" {
		t.Errorf("the next step read %q from the loop's outputs, want count 3, succeeded 3 and item 1's output", got)
	}
	items := res.items(t, "each")
	if len(items) != 3 || num(items[2]["item"]) != 3 || num(items[2]["index"]) != 2 || items[2]["status"] != "succeeded" {
		t.Errorf("outputs.items = %v, want each item with its index, value and status", items)
	}
	if st := res.rec(t, "each"); st.Status != engine.StepSucceeded || num(st.Outputs["failed"]) != 0 {
		t.Errorf("each: %s, outputs %v", st.Status, st.Outputs)
	}
}

// for_each takes an expression over params and earlier steps' outputs;
// if: is evaluated for each item, with item and index.
func TestForEachExpressionAndIfPerItem(t *testing.T) {
	t.Parallel()
	mark := t.TempDir()
	res := runLoop(t, `version: 1
name: loop
params:
  mark: {type: string}
  files: {type: list}
  services:
    type: list
    items: {name: string, port: int}
steps:
  - id: names
    run: echo "list=x,y,z" >> "$RBFLOW_OUTPUT"
  - id: from_outputs
    for_each: split(steps.names.outputs.list, ",")
    if: item != "y"
    run: touch ${{ params.mark }}/out-${{ item }}
  - id: from_params
    for_each: params.files
    run: touch ${{ params.mark }}/file-${{ index }}-${{ item }}
  - id: records
    for_each: params.services
    if: item.port > 0
    run: touch ${{ params.mark }}/svc-${{ item.name }}-${{ item.port }}
`, 4, map[string]any{"mark": mark, "files": []string{"a.py", "b.py"},
		"services": []map[string]any{{"name": "api", "port": 8000}, {"name": "off"}}})
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	entries, _ := os.ReadDir(mark)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{"file-0-a.py", "file-1-b.py", "out-x", "out-z", "svc-api-8000"}
	if !slices.Equal(got, want) {
		t.Errorf("items ran: %v, want %v", got, want)
	}
	if items := res.items(t, "from_outputs"); items[1]["status"] != "skipped" {
		t.Errorf("item y: %v, want skipped by its if", items[1])
	}
	if _, ok := res.recs[engine.ItemID("from_outputs", 1)]; ok {
		t.Errorf("a skipped item has a record of its own")
	}
	if c := res.rec(t, "records").Outputs; num(c["succeeded"]) != 1 || num(c["skipped"]) != 1 {
		t.Errorf("records outputs %v: want one run, one skipped", c)
	}
}

// An empty list, or an if false for every item, skips the step; a list
// that is not one when the step runs fails it clearly.
func TestForEachEmptyAndNotAList(t *testing.T) {
	t.Parallel()
	res := runLoop(t, `version: 1
name: loop
params:
  files: {type: list}
steps:
  - id: none
    for_each: params.files
    run: exit 1
  - id: text
    run: echo "v=just text" >> "$RBFLOW_OUTPUT"
  - id: bad
    needs: [text]
    for_each: steps.text.outputs.v
    run: exit 0
`, 4, nil)
	if got := res.rec(t, "none"); got.Status != engine.StepSkipped || !strings.Contains(got.Error, "no items") {
		t.Errorf("for_each over an empty list: %s (%s), want skipped: no items", got.Status, got.Error)
	}
	if got := res.rec(t, "bad"); got.Status != engine.StepFailed || !strings.Contains(got.Error, `gave text just text, not a list`) {
		t.Errorf("for_each over text: %s %q, want a failure saying it is not a list", got.Status, got.Error)
	}
}

// max_parallel bounds how many items run at once, and so does the run's
// --parallel. Each item counts the items running when it starts (marker
// files); the first two wait for each other, so a bound of 2 is reached.
func TestForEachMaxParallel(t *testing.T) {
	t.Parallel()
	proc := func(maxParallel string) string {
		return `version: 1
name: loop
params:
  mark: {type: string}
  wait: {type: int, default: 2}
steps:
  - id: each
    for_each: [a, b, c, d, e]
    max_parallel: ` + maxParallel + `
    timeout: 30s
    run: |
      touch ${{ params.mark }}/run-${{ index }}
      n=$(ls ${{ params.mark }} | grep -c '^run-')
      echo "seen=$n" >> "$RBFLOW_OUTPUT"
      # The first ones wait until as many run as the bound allows
      # (a bounded poll: with --parallel 1 nobody comes).
      if [ ${{ index }} -lt ${{ params.wait }} ]; then
        for _ in $(seq 50); do
          [ "$(ls ${{ params.mark }} | grep -c '^run-')" -ge ${{ params.wait }} ] && break
          sleep 0.02
        done
      fi
      rm ${{ params.mark }}/run-${{ index }}
`
	}
	seen := func(res loopRun) []float64 {
		var out []float64
		for _, it := range res.items(t, "each") {
			o, _ := it["outputs"].(map[string]any)
			out = append(out, num(o["seen"]))
		}
		return out
	}
	mark := t.TempDir()
	res := runLoop(t, proc("2"), 8, map[string]any{"mark": mark})
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	s := seen(res)
	if slices.Max(s) != 2 || len(s) != 5 {
		t.Errorf("items saw %v running at their start: want at most 2, and 2 reached", s)
	}

	// --parallel 1 bounds max_parallel 3: the items run one by one.
	mark = t.TempDir()
	res = runLoop(t, proc("3"), 1, map[string]any{"mark": mark, "wait": 2})
	if res.err != nil {
		t.Fatalf("run with --parallel 1: %v", res.err)
	}
	if s := seen(res); slices.Max(s) != 1 {
		t.Errorf("with --parallel 1 items saw %v running at their start, want 1 each", s)
	}

	// Without max_parallel, one at a time.
	mark = t.TempDir()
	text := strings.Replace(proc("1"), "    max_parallel: 1\n", "", 1)
	res = runLoop(t, text, 8, map[string]any{"mark": mark, "wait": 1})
	if s := seen(res); res.err != nil || slices.Max(s) != 1 {
		t.Errorf("default max_parallel: items saw %v (err %v), want one at a time", s, res.err)
	}
}

// One item failing fails the step after every item ran; the failure names
// the item. With continue_on_error the run goes on and succeeds with a
// warning.
func TestForEachItemFailure(t *testing.T) {
	t.Parallel()
	proc := func(extra string) string {
		return `version: 1
name: loop
params:
  mark: {type: string}
steps:
  - id: each
    for_each: [ok1, bad, ok2]
` + extra + `    run: |
      touch ${{ params.mark }}/${{ item }}
      [ ${{ item }} != bad ] || { echo "no good" >&2; exit 3; }
  - id: after
    run: touch ${{ params.mark }}/after
`
	}
	mark := t.TempDir()
	res := runLoop(t, proc(""), 4, map[string]any{"mark": mark})
	var re *engine.RunError
	if !errors.As(res.err, &re) || re.Step != "each" {
		t.Fatalf("run: %v, want it failed at each", res.err)
	}
	for _, f := range []string{"ok1", "bad", "ok2"} {
		if _, err := os.Stat(filepath.Join(mark, f)); err != nil {
			t.Errorf("item %s did not run: every item runs, whatever another did", f)
		}
	}
	if _, err := os.Stat(filepath.Join(mark, "after")); err == nil {
		t.Errorf("the step after a failed loop ran")
	}
	each := res.rec(t, "each")
	if each.Status != engine.StepFailed || each.ExitCode != 3 || num(each.Outputs["failed"]) != 1 || num(each.Outputs["succeeded"]) != 2 ||
		!strings.Contains(each.Error, "1 of 3 items failed: item 1 (bad)") {
		t.Errorf("each: %s exit %d %v %q", each.Status, each.ExitCode, each.Outputs, each.Error)
	}
	if bad := res.rec(t, "each.1"); bad.Status != engine.StepFailed || bad.ExitCode != 3 {
		t.Errorf("item 1's record: %s exit %d", bad.Status, bad.ExitCode)
	}

	mark = t.TempDir()
	res = runLoop(t, proc("    continue_on_error: true\n"), 4, map[string]any{"mark": mark})
	if res.err != nil {
		t.Fatalf("run with continue_on_error: %v", res.err)
	}
	each = res.rec(t, "each")
	if each.Outcome != engine.StepFailed || each.Conclusion != engine.StepSucceeded {
		t.Errorf("each: outcome %s conclusion %s, want failed / succeeded", each.Outcome, each.Conclusion)
	}
	if _, err := os.Stat(filepath.Join(mark, "after")); err != nil {
		t.Errorf("the step after a loop with continue_on_error did not run")
	}
	var warned bool
	for _, e := range res.events {
		if e.Kind == "run_finished" && len(e.Warnings) == 1 && strings.Contains(e.Warnings[0], "item 1 (bad)") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("run_finished does not warn of the failed item")
	}
}

// step_started and step_finished carry the item's index; the step's own
// events carry none.
func TestForEachEvents(t *testing.T) {
	t.Parallel()
	res := runLoop(t, `version: 1
name: loop
steps:
  - id: each
    for_each: [a, b]
    run: echo ${{ item }}
`, 4, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	var got []string
	for _, e := range res.events {
		if e.Kind != "step_started" && e.Kind != "step_finished" {
			continue
		}
		s := e.Kind + " " + e.Step
		if e.Item != nil {
			s += " item " + string(rune('0'+*e.Item))
		}
		got = append(got, s)
	}
	want := []string{"step_started each", "step_started each item 0", "step_finished each item 0",
		"step_started each item 1", "step_finished each item 1", "step_finished each"}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Hostile items never become shell code: they reach bash as values, in
// plain words, quotes, here-documents and env values alike.
func TestForEachHostileItems(t *testing.T) {
	t.Parallel()
	mark := t.TempDir()
	hostile := []string{`$(touch pwned)`, "`touch pwned`", `"; touch pwned; "`, `'; touch pwned; '`, `$HOME *`, `-rf /`, "a\ntouch pwned"}
	res := runLoop(t, `version: 1
name: loop
params:
  mark: {type: string}
  items: {type: list}
steps:
  - id: gen
    run: printf 'nl<<EOF\na\ntouch pwned\nEOF\n' >> "$RBFLOW_OUTPUT"
  - id: each
    for_each: concat(params.items, [steps.gen.outputs.nl])
    dir: ${{ params.mark }}
    env:
      VALUE: "${{ item }}"
    run: |
      printf '%s' ${{ item }} > plain-${{ index }}
      printf '%s' "in quotes: ${{ item }}" > quoted-${{ index }}
      cat > heredoc-${{ index }} <<EOF
      ${{ item }}
      EOF
      printf '%s' "$VALUE" > env-${{ index }}
`, 4, map[string]any{"mark": mark, "items": hostile[:len(hostile)-1]})
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	if _, err := os.Stat(filepath.Join(mark, "pwned")); err == nil {
		t.Fatalf("an item ran as code")
	}
	for i, h := range hostile {
		for file, want := range map[string]string{"plain": h, "quoted": "in quotes: " + h, "heredoc": h + "\n", "env": h} {
			if got := testkit.ReadFile(t, filepath.Join(mark, file+"-"+string(rune('0'+i)))); got != want {
				t.Errorf("item %d (%q) %s: %q", i, h, file, got)
			}
		}
	}
}

// A procedure's for_each mistakes are load errors with their position;
// nothing runs.
func TestForEachLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, step string
		want       string
	}{
		{"not a list", "    for_each: 3\n    run: echo", `p.yaml:8:15: .*for_each must be a list, or an expression that gives one`},
		{"a bool param", "    for_each: params.flag\n    run: echo", `p.yaml:8:15: .*for_each must give a list, and params.flag gives true or false`},
		{"bad expression", "    for_each: params.nosuch\n    run: echo", `p.yaml:8:22: .*unknown param "nosuch"`},
		{"interpolation", "    for_each: \"${{ params.files }}\"\n    run: echo", `p.yaml:8:16: .*for_each takes a bare expression`},
		{"item outside a loop", "    run: echo ${{ item }}", `p.yaml:8:19: .*item exists only in a step with for_each`},
		{"index in if outside a loop", "    if: index > 0\n    run: echo", `p.yaml:8:9: .*index exists only in a step with for_each`},
		{"unknown field", "    for_each: params.services\n    run: echo ${{ item.nmae }}", `p.yaml:9:24: .*an item has no field "nmae" \(it has name, start\) \(did you mean "name"\?\)`},
		{"item field not code", "    for_each: params.services\n    run: eval ${{ item.name }}", `p.yaml:9:15: .*eval runs \$\{\{ item.name \}\} as code`},
		{"max_parallel alone", "    max_parallel: 2\n    run: echo", `p.yaml:8:5: .*max_parallel bounds how many items of a for_each run at once`},
		{"ready neither URL nor address", "    service: start\n    with: {name: w, command: sleep 9, ready: nonsense}", `p.yaml:9:46: .*with.ready "nonsense" is neither an http\(s\):// URL nor a HOST:PORT`},
		{"max_parallel zero", "    for_each: [a]\n    max_parallel: 0\n    run: echo", `p.yaml:9:19: .*max_parallel must be a whole number of at least 1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := `version: 1
name: loop
params:
  flag: {type: bool}
  services: {type: list, items: {name: string, start: command}}
steps:
  - id: s
` + c.step + "\n"
			_, err := load("p.yaml", []byte(text))
			if err == nil || !regexp.MustCompile(c.want).MatchString(err.Error()) {
				t.Errorf("Load = %v, want %s", err, c.want)
			}
		})
	}
	// A field of type command may run as code; so may items written in
	// the procedure.
	for _, step := range []string{
		"    for_each: params.services\n    run: eval ${{ item.start }}",
		"    for_each: [\"echo a\", \"echo b\"]\n    run: eval ${{ item }}",
	} {
		text := "version: 1\nname: loop\nparams:\n  services: {type: list, items: {name: string, start: command}}\nsteps:\n  - id: s\n" + step + "\n"
		if _, err := load("p.yaml", []byte(text)); err != nil {
			t.Errorf("Load(%q) = %v, want it to load", step, err)
		}
	}
}

// A list param of records: its items are checked against the declared
// fields when the params are given.
func TestRecordParams(t *testing.T) {
	t.Parallel()
	plan, err := load("p.yaml", []byte(`version: 1
name: loop
params:
  services:
    type: list
    items: {name: string, port: int, start: command}
    default: [{name: api, port: 8000}]
steps:
  - id: s
    run: echo
`))
	if err != nil {
		t.Fatal(err)
	}
	p := plan.Procedure
	got, err := engine.ResolveParams(p, engine.ParamInput{})
	if err != nil || len(got["services"].([]map[string]any)) != 1 || got["services"].([]map[string]any)[0]["start"] != "" {
		t.Errorf("default: %v, %v; want one item, start empty", got, err)
	}
	got, err = engine.ResolveParams(p, engine.ParamInput{Sets: []string{"services={name: web, port: 80}", "services={name: db, start: 'pg_ctl start'}"}})
	if err != nil {
		t.Fatalf("--set twice: %v", err)
	}
	if l := got["services"].([]map[string]any); len(l) != 2 || l[0]["port"] != 80 || l[1]["start"] != "pg_ctl start" {
		t.Errorf("--set twice: %v", l)
	}
	for _, bad := range []struct{ set, want string }{
		{"services={name: web, prot: 80}", `unknown field "prot" (did you mean "port"?)`},
		{"services={name: web, port: eighty}", `port: want an integer`},
		{"services=web", `write one as {name: ..., port: 8000, start: ...}`},
	} {
		if _, err := engine.ResolveParams(p, engine.ParamInput{Sets: []string{bad.set}}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--set %s: %v, want %q", bad.set, err, bad.want)
		}
	}
	// From the store (JSON) the types come back.
	back, err := engine.ResolveParams(p, engine.ParamInput{Given: map[string]any{"services": []any{map[string]any{"name": "x", "port": 9000.0}}}})
	if err != nil || back["services"].([]map[string]any)[0]["port"] != 9000 {
		t.Errorf("stored params: %v, %v", back, err)
	}
	if _, err := spec.Load("p.yaml", []byte("version: 1\nname: x\nparams:\n  s: {type: string, items: {a: string}}\nsteps:\n  - {id: a, run: echo}\n"), []string{"run"}); err == nil || !strings.Contains(err.Error(), "items is for type: list") {
		t.Errorf("items on a string param: %v", err)
	}
}

// A dry run lists the items it knows, each with its command and decision,
// and says when the list is known only at run time.
func TestForEachDryRun(t *testing.T) {
	t.Parallel()
	plan, err := load("p.yaml", []byte(`version: 1
name: loop
params:
  files: {type: list, default: [a.py, "b c.py"]}
steps:
  - id: each
    for_each: params.files
    if: index > 0
    run: pytest ${{ item }}
  - id: later
    for_each: split(steps.each.outputs.count, ",")
    run: echo ${{ item }}
`))
	if err != nil {
		t.Fatal(err)
	}
	params, _ := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
	dir := t.TempDir()
	r := &engine.Runner{WorkDir: dir}
	steps, err := r.DryRun(context.Background(), plan, params)
	if err != nil {
		t.Fatal(err)
	}
	each := steps[0]
	if each.Decision != "runs for each of 2 items" || len(each.Items) != 2 {
		t.Fatalf("each: %+v", each)
	}
	if it := each.Items[0]; it.Item != "a.py" || it.Decision != "skipped (if is false)" {
		t.Errorf("item 0: %+v", it)
	}
	if it := each.Items[1]; it.Item != "b c.py" || it.Decision != "runs" || !strings.Contains(it.Command, "RBFLOW_V_1='b c.py'") {
		t.Errorf("item 1: %+v", it)
	}
	if later := steps[1]; later.Decision != "depends on runtime" || later.Items != nil || !strings.Contains(later.Note, "known only at run time") {
		t.Errorf("later: %+v", later)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the dry run left %d files", len(entries))
	}
}
