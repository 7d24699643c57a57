package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// fakePrompter answers questions from a script and records them.
type fakePrompter struct {
	mu      sync.Mutex
	replies map[string]string
	asked   []engine.Question
}

func (p *fakePrompter) Ask(ctx context.Context, q engine.Question) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, q)
	r, ok := p.replies[q.Step]
	if !ok {
		return "", errors.New("input closed")
	}
	return r, nil
}

const promptProcedure = `version: 1
name: ask
params:
  env: {type: string, default: staging}
steps:
  - id: reason
    prompt: Reason for the rollback?
  - id: target
    prompt: Roll back which environment?
    with: {choices: [staging, production], default: "${{ params.env }}"}
  - id: services
    prompt: Restart which services?
    with: {type: multi, choices: [backend, frontend, worker]}
  - id: go
    prompt: Reset ${{ steps.target.outputs.answer }} to baseline?
    with: {type: confirm}
  - id: after
    run: echo ${{ steps.reason.outputs.answer }} on ${{ steps.target.outputs.answer }}
`

func TestPromptAnswers(t *testing.T) {
	t.Parallel()
	f := runProcedure(t, testkit.GitRepo(t, nil), promptProcedure, runOpts{answers: map[string]string{
		"reason":   "tests red since sprint 7",
		"target":   "Production",
		"services": "worker, backend,worker",
		"go":       "Y",
	}})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	want := map[string]map[string]any{
		"reason":   {"answer": "tests red since sprint 7", "source": "answer"},
		"target":   {"answer": "production", "source": "answer"},
		"services": {"answer": []any{"worker", "backend"}, "source": "answer"},
		"go":       {"answer": "yes", "confirmed": true, "source": "answer"},
	}
	for id, w := range want {
		if got := f.step(t, id).Outputs; !reflect.DeepEqual(got, w) {
			t.Errorf("%s outputs = %#v, want %#v", id, got, w)
		}
	}
	if log := f.log(t, "after"); !strings.Contains(log, "tests red since sprint 7 on production") {
		t.Errorf("after log = %q", log)
	}
	if log := f.log(t, "go"); !strings.Contains(log, "? Reset production to baseline?\n> yes (from --answer)") {
		t.Errorf("go log = %q", log)
	}
}

// TestPromptWaits: with no answer and no terminal the run stops, waiting,
// and the step's error names the command that answers it.
func TestPromptWaits(t *testing.T) {
	t.Parallel()
	f := runProcedure(t, testkit.GitRepo(t, nil), promptProcedure, runOpts{answers: map[string]string{"reason": "r"}})
	if !errors.Is(f.err, engine.ErrWaiting) || f.run.Status != engine.RunWaiting {
		t.Fatalf("run %s, err %v; want waiting", f.run.Status, f.err)
	}
	rec := f.step(t, "target")
	if rec.Status != engine.StepWaiting {
		t.Fatalf("target: %s, want waiting", rec.Status)
	}
	want := `step target asks "Roll back which environment?" and there is no terminal to ask on; answer with: rbflow resume ` +
		f.run.ID + ` --answer target=staging (the answer one of: staging, production)`
	if !strings.Contains(rec.Error, want) || !strings.Contains(f.err.Error(), want) {
		t.Errorf("error = %q\nrun error = %v\nwant %q", rec.Error, f.err, want)
	}
	if _, ok := f.steps["services"]; ok {
		t.Errorf("services ran while target waited")
	}
}

func TestPromptHints(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q    engine.Question
		want string
	}{
		{engine.Question{Step: "go", Text: "Reset?", Type: PromptConfirm}, "answer with: rbflow resume R --answer go=yes (or go=no); " +
			"or, from any shell, record the answer with rbflow answer R go=yes and then run rbflow resume R"},
		{engine.Question{Step: "why", Text: "Why?", Type: PromptText}, "answer with: rbflow resume R --answer why='YOUR ANSWER'; " +
			"or, from any shell, record the answer with rbflow answer R why='YOUR ANSWER' and then run rbflow resume R"},
		{engine.Question{Step: "svc", Text: "Which?", Type: PromptMulti, Choices: []string{"api server", "web"}},
			"answer with: rbflow resume R --answer svc='api server' (the answer a comma-separated list of: api server, web); " +
				"or, from any shell, record the answer with rbflow answer R svc='api server' and then run rbflow resume R"},
	} {
		if got := resumeHint(&engine.Exec{RunID: "R"}, c.q); !strings.HasSuffix(got, c.want) {
			t.Errorf("resumeHint(%+v) = %q, want it to end with %q", c.q, got, c.want)
		}
	}
}

// TestPromptYesAndTerminal: --yes answers confirms only; the rest is asked
// on the terminal, where a reply is checked like any answer.
func TestPromptYesAndTerminal(t *testing.T) {
	t.Parallel()
	p := &fakePrompter{replies: map[string]string{"reason": "disk full", "target": "", "services": "frontend"}}
	f := runProcedure(t, testkit.GitRepo(t, nil), strings.Replace(promptProcedure, `default: "${{ params.env }}"`, `default: production`, 1),
		runOpts{yes: true, prompter: p})
	if f.err == nil || f.step(t, "target").Status != engine.StepFailed {
		t.Fatalf("run: %v; want target failed: an empty reply is not a choice (the prompter applies defaults)", f.err)
	}
	p.replies["target"] = "staging"
	f = runProcedure(t, testkit.GitRepo(t, nil), promptProcedure, runOpts{yes: true, prompter: p})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	if got := f.step(t, "go").Outputs; got["source"] != "yes" || got["confirmed"] != true {
		t.Errorf("go outputs = %v, want confirmed by --yes", got)
	}
	if got := f.step(t, "services").Outputs["answer"]; !reflect.DeepEqual(got, []any{"frontend"}) {
		t.Errorf("services answer = %#v", got)
	}
	var asked []string
	for _, q := range p.asked {
		asked = append(asked, q.Step)
		if q.Step == "target" && (q.Default != "production" && q.Default != "staging" || !reflect.DeepEqual(q.Choices, []string{"staging", "production"}) || q.Type != PromptChoice) {
			t.Errorf("target question = %+v", q)
		}
	}
	if strings.Contains(strings.Join(asked, " "), "go") {
		t.Errorf("asked %v: --yes should have answered the confirm", asked)
	}
}

// TestPromptNo: a confirm answered no is an answer: the step succeeds with
// confirmed false, and later steps branch on confirmed.
func TestPromptNo(t *testing.T) {
	t.Parallel()
	f := runProcedure(t, testkit.GitRepo(t, nil), `version: 1
name: no
steps:
  - id: go
    prompt: Reset?
    with: {type: confirm}
  - id: reset
    if: steps.go.outputs.confirmed
    run: echo reset
  - id: skipped
    if: '!steps.go.outputs.confirmed'
    run: echo not reset
`, runOpts{answers: map[string]string{"go": "no"}})
	if f.err != nil {
		t.Fatalf("run: %v", f.err)
	}
	if rec := f.step(t, "go"); rec.Status != engine.StepSucceeded || rec.Error != "" || rec.Outputs["confirmed"] != false || rec.Outputs["answer"] != "no" {
		t.Errorf("go: %s %q %v", rec.Outcome, rec.Error, rec.Outputs)
	}
	if f.step(t, "reset").Status != engine.StepSkipped || f.step(t, "skipped").Status != engine.StepSucceeded {
		t.Errorf("reset %s, skipped %s; want skipped, succeeded", f.step(t, "reset").Status, f.step(t, "skipped").Status)
	}
}

// A bad answer is refused before the run starts: nothing runs, nothing is
// recorded.
func TestPromptBadAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.repo = testkit.GitRepo(t, nil)
	plan, err := loadPlan(t, promptProcedure)
	if err != nil {
		t.Fatal(err)
	}
	r := h.runner()
	r.Answers = map[string]string{"reason": "x", "target": "qa"}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := r.Start(context.Background(), plan, params, "p.yaml")
	if want := `--answer target=qa: "qa" is not one of staging, production`; run != nil || err == nil || err.Error() != want || !engine.IsUsage(err) {
		t.Errorf("Start = %v, %v; want no run and the usage error %q", run, err, want)
	}
	if runs, _ := h.st.Runs(context.Background(), ""); len(runs) != 0 {
		t.Errorf("a refused run was recorded: %v", runs)
	}
}

func TestCheckAnswer(t *testing.T) {
	t.Parallel()
	choice := engine.Question{Type: PromptChoice, Choices: []string{"a", "B", "b"}}
	multi := engine.Question{Type: PromptMulti, Choices: []string{"x", "y"}}
	for _, c := range []struct {
		q       engine.Question
		in, out string
		err     string
	}{
		{engine.Question{Type: PromptConfirm}, "TRUE", "yes", ""},
		{engine.Question{Type: PromptConfirm}, "n", "no", ""},
		{engine.Question{Type: PromptConfirm}, "ok", "", `"ok" is not a yes or no`},
		{choice, "a", "a", ""},
		{choice, "A", "a", ""},
		{choice, "b", "b", ""},
		{choice, "c", "", `"c" is not one of a, B, b`},
		{multi, "y, x", "y,x", ""},
		{multi, "", "", ""},
		{multi, "x,z", "", `"z" is not one of x, y (separate several with commas)`},
		{engine.Question{Type: PromptText}, " as is ", " as is ", ""},
	} {
		got, err := CheckAnswer(c.q, c.in)
		if got != c.out || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("CheckAnswer(%s %v, %q) = %q, %v; want %q, %q", c.q.Type, c.q.Choices, c.in, got, err, c.out, c.err)
		}
	}
}

// TestPromptLoadErrors: bad with: arguments are positioned load errors.
func TestPromptLoadErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ with, want string }{
		{`{type: choice}`, `p.yaml:5:18: step "q": type: choice needs with.choices`},
		{`{type: confirm, choices: [a]}`, `p.yaml:5:36: step "q": with.choices applies only to type: choice or multi, not confirm`},
		{`{choices: [a, b], default: c}`, `p.yaml:5:38: step "q": with.default: "c" is not one of a, b`},
		{`{type: confirm, default: maybe}`, `with.default: "maybe" is not a yes or no`},
		{`{type: multi, choices: [a, "b,c"]}`, `with.choices: "b,c" holds a comma`},
		{`{type: pick}`, `with.type: "pick" is not one of confirm, text, choice, multi`},
		{`{choices: [a, a]}`, `with.choices: "a" is there twice`},
		{`{choises: [a]}`, `unknown argument "choises" for prompt (did you mean "choices"?)`},
	} {
		text := "version: 1\nname: p\nsteps:\n  - id: q\n    with: " + c.with + "\n    prompt: Sure?\n"
		_, err := loadPlan(t, text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(with: %s) = %v, want %q", c.with, err, c.want)
		}
	}
}

func TestPlanCheckAnswers(t *testing.T) {
	t.Parallel()
	plan, err := loadPlan(t, promptProcedure)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ step, value, err string }{
		{"target", "staging", ""},
		{"target", "qa", `"qa" is not one of staging, production`},
		{"go", "perhaps", `"perhaps" is not a yes or no`},
		{"after", "x", "step after is a run step: only prompt steps take answers"},
		{"taget", "x", `has no step "taget" (did you mean "target"?) (its prompt steps: reason, target, services, go)`},
	} {
		err := plan.CheckAnswers(map[string]string{c.step: c.value})
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("CheckAnswers(%s=%q) = %v, want %q", c.step, c.value, err, c.err)
		}
	}
}

// blockingPrompter is a terminal nobody types on: Ask returns only when
// its context ends.
type blockingPrompter struct {
	asked chan engine.Question
	ended chan error
}

func (p *blockingPrompter) Ask(ctx context.Context, q engine.Question) (string, error) {
	p.asked <- q
	<-ctx.Done()
	p.ended <- ctx.Err()
	return "", ctx.Err()
}

// TestPromptTakesAnswerGivenElsewhere: while a prompt asks on the terminal,
// an answer recorded in the store (as rbflow answer does) ends the
// question there and is the step's answer, with who gave it. The question
// is on record before the prompt asks.
func TestPromptTakesAnswerGivenElsewhere(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	plan, err := engine.Load("p.yaml", []byte("version: 1\nname: p\nsteps:\n  - id: go\n    prompt: Reset?\n    with: {type: confirm}\n"), h.reg)
	if err != nil {
		t.Fatal(err)
	}
	p := &blockingPrompter{asked: make(chan engine.Question, 1), ended: make(chan error, 1)}
	r := h.runner()
	r.Prompter, r.Actor = p, engine.Actor{User: "alice", Host: "h1"}
	ctx := context.Background()
	type result struct {
		run *engine.Run
		err error
	}
	done := make(chan result, 1)
	go func() {
		run, err := r.Start(ctx, plan, map[string]any{}, "p.yaml")
		done <- result{run, err}
	}()
	select {
	case <-p.asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the prompt did not ask")
	}
	runs, err := h.st.Runs(ctx, "")
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	id := runs[0].ID
	q, err := h.st.Question(ctx, id, "go")
	if err != nil || q.Text != "Reset?" || q.Type != PromptConfirm || !q.Until.IsZero() || !strings.Contains(q.Where, "on its terminal") {
		t.Fatalf("question on record = %+v, %v", q, err)
	}
	bob := engine.Actor{User: "bob", Host: "h2"}
	if err := h.st.SaveAnswer(ctx, engine.Answer{RunID: id, StepID: "go", Value: "yes", Source: engine.AnswerCommand, Actor: bob, Via: "rbflow answer, pid 1"}); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not take the answer")
	}
	if res.err != nil {
		t.Fatalf("run: %v", res.err)
	}
	if err := <-p.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the terminal's question ended with %v, want it cancelled", err)
	}
	rec := h.steps(id)["go"]
	if want := map[string]any{"answer": "yes", "confirmed": true, "source": "command"}; !reflect.DeepEqual(rec.Outputs, want) {
		t.Errorf("go outputs = %v, want %v", rec.Outputs, want)
	}
	answers, err := h.st.Answers(ctx, id)
	if err != nil || len(answers) != 1 || answers[0].Actor != bob || answers[0].Question != "Reset?" {
		t.Errorf("answers = %+v, %v; want one by bob", answers, err)
	}
	if rec.Actor != r.Actor {
		t.Errorf("step ran by %+v, want %+v", rec.Actor, r.Actor)
	}
}

// A confirm declared as a gate (SPEC §12) that is answered no stops the run
// as stopped by the operator: the steps after it do not run, a step
// running beside it is stopped, finally runs, on_failure does not, and the
// run ends cancelled. Answered yes, the run goes on.
func TestPromptGate(t *testing.T) {
	t.Parallel()
	const gated = `version: 1
name: gated
steps:
  - id: beside
    needs: []
    run: sleep 30
  - id: go
    needs: []
    prompt: Stop the services?
    with: {type: confirm, gate: true}
  - id: after
    needs: [go]
    run: touch after
on_failure:
  - id: cleanup
    run: touch on_failure
finally:
  - id: tidy
    run: touch finally
`
	for _, answer := range []string{"no", "yes"} {
		t.Run(answer, func(t *testing.T) {
			h := newHarness(t)
			plan, err := loadPlan(t, gated)
			if err != nil {
				t.Fatal(err)
			}
			r := h.runner()
			r.Answers = map[string]string{"go": answer}
			if answer == "yes" {
				plan, _ = loadPlan(t, strings.Replace(gated, "run: sleep 30", "run: 'true'", 1))
			}
			params, _ := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
			run, err := r.Start(context.Background(), plan, params, "p.yaml")
			exists := func(f string) bool { _, err := os.Stat(filepath.Join(h.repo, f)); return err == nil }
			recs := h.steps(run.ID)
			if answer == "yes" {
				if err != nil || !exists("after") || !exists("finally") || exists("on_failure") {
					t.Errorf("gate answered yes: %v; after ran %v, finally %v, on_failure %v", err, exists("after"), exists("finally"), exists("on_failure"))
				}
				return
			}
			want := "run " + run.ID + " cancelled: stopped by the operator: the gate go was answered no; stopped step beside; not run: after"
			if err == nil || err.Error() != want {
				t.Errorf("run error = %v, want %q", err, want)
			}
			if got, _ := h.st.Run(context.Background(), run.ID); got.Status != engine.RunCancelled {
				t.Errorf("run status %s, want cancelled", got.Status)
			}
			if exists("after") || exists("on_failure") || !exists("finally") {
				t.Errorf("after ran %v (want no), on_failure %v (want no), finally %v (want yes)", exists("after"), exists("on_failure"), exists("finally"))
			}
			if g := recs["go"]; g == nil || g.Status != engine.StepSucceeded || g.Outputs["confirmed"] != false {
				t.Errorf("the gate step = %+v, want succeeded with confirmed false (a no is an answer)", g)
			}
			if b := recs["beside"]; b == nil || b.Status == engine.StepSucceeded || b.Status == engine.StepRunning {
				t.Errorf("the step beside the gate = %+v, want it stopped", b)
			}
		})
	}
}

// A prompt step with for_each asks once per item; --answer STEP.N answers
// one item and --answer STEP every item without an answer of its own (the
// waiting message named --answer ask.0=yes, and the run refused it).
func TestPromptForEachAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	plan, err := loadPlan(t, `version: 1
name: looped
steps:
  - id: ask
    for_each: ["a", "b", "c"]
    prompt: Restart ${{ item }}?
    with: {type: confirm}
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]string{{"ask.x": "yes"}, {"ask.1": "maybe"}} {
		if err := plan.CheckAnswers(bad); err == nil {
			t.Errorf("CheckAnswers(%v) = nil, want it refused", bad)
		}
	}
	r := h.runner()
	r.Answers = map[string]string{"ask.1": "no", "ask": "yes"}
	params, _ := engine.ResolveParams(plan.Procedure, engine.ParamInput{})
	run, err := r.Start(context.Background(), plan, params, "p.yaml")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	recs := h.steps(run.ID)
	for id, want := range map[string]string{"ask.0": "yes", "ask.1": "no", "ask.2": "yes"} {
		if rec := recs[id]; rec == nil || rec.Outputs["answer"] != want {
			t.Errorf("%s = %+v, want answer %s", id, rec, want)
		}
	}
}
