package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Prompt types.
const (
	PromptConfirm = "confirm"
	PromptText    = "text"
	PromptChoice  = "choice"
	PromptMulti   = "multi"
)

// promptKind is the prompt step (SPEC §8): `prompt: QUESTION` asks a
// person.
//
// with:
//   - type: confirm, text, choice or multi; default choice when choices
//     are given, else text.
//   - choices: the answers a choice or multi question takes (required for
//     them, refused for the others).
//   - default: what an empty reply on the terminal gives: yes or no for a
//     confirm, one of the choices, or comma-separated choices for multi;
//     and what the prompt takes when its wait runs out.
//   - wait: how long the prompt waits for an answer (a Go duration). With
//     it, a run without a terminal waits instead of stopping (exit 4); when
//     the wait runs out the prompt takes its default, recorded as answered
//     by "timeout", or, without a default, the run stops as it would have.
//
// The answer comes, in this order, from --answer ID=VALUE (rbflow run and
// resume store it with the run) or an answer recorded with rbflow answer
// while the run was stopped; from --yes, for a confirm; then, while the
// prompt waits, from the person at the terminal when rbflow runs on one,
// or from `rbflow answer RUN ID=VALUE` in another shell, which the prompt
// looks for in the store every answerPoll; without a terminal and without
// wait, the run stops, resumable (exit 4), naming the `rbflow resume RUN
// --answer ID=VALUE` that goes on. A confirm takes y, yes, true, n, no or
// false; a choice one of the choices; multi a comma-separated list of
// them. Anything else is an error that says what the question takes.
//
// Every answer is recorded with who gave it, where and how (SPEC §3), and
// the question with it.
//
// Outputs: answer (yes or no for a confirm, the list of choices for multi,
// else the text), confirmed (confirm only), and source (answer, command,
// yes, default, terminal or timeout). A confirm answered no is an answer,
// not a failure (SPEC §8, §12): the step succeeds with confirmed false, and
// the steps that need a yes say so with `if: steps.ID.outputs.confirmed`.
type promptKind struct{}

var _ engine.Kind = promptKind{}

// Signature: a question, its type, choices and default.
func (promptKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: "the question to ask",
		With: []engine.Field{
			{Name: "type", Type: engine.String, Enum: []string{PromptConfirm, PromptText, PromptChoice, PromptMulti}, Description: "choice when choices are given, else text"},
			{Name: "choices", Type: engine.List, Description: "the answers a choice or multi question takes"},
			{Name: "default", Type: engine.String, Description: "what an empty reply on the terminal gives, and what the prompt takes when its wait runs out"},
			{Name: "wait", Type: engine.Duration, Description: "how long to wait for an answer (on the terminal, or from rbflow answer in another shell) before taking the default; without a terminal the run waits instead of stopping (exit 4)"},
			{Name: "gate", Type: engine.Bool, Description: "confirm only: a no stops the run as stopped by the operator (later steps do not run, finally does; the run ends cancelled)"},
		},
	}
}

func (promptKind) Compile(c *engine.KindContext) engine.Action {
	args := c.With()
	if c.Step.Arg == nil || c.Step.Arg.Kind != spec.Scalar || strings.TrimSpace(c.Step.Arg.Str) == "" {
		c.Errorf(c.Step.KindPos, "prompt needs a question, e.g. prompt: Reason for the rollback?")
		return nil
	}
	question := c.ArgTemplate()
	a := &promptAction{question: question, args: args}
	c.TakesAnswers(func(value string) error {
		q, ok := a.literal()
		if !ok {
			return nil // the question is known only at run time
		}
		_, err := CheckAnswer(q, value)
		return err
	})

	typ, typeKnown := PromptText, true
	if v, ok := args.Literal("type"); ok {
		typ = v.(string)
	} else if args.Has("type") {
		typeKnown = false
	} else if args.Has("choices") {
		typ = PromptChoice
	}
	if typeKnown {
		switch {
		case (typ == PromptChoice || typ == PromptMulti) && !args.Has("choices"):
			c.Errorf(args.Pos("type"), "type: %s needs with.choices, the answers to choose from", typ)
		case (typ == PromptConfirm || typ == PromptText) && args.Has("choices"):
			c.Errorf(args.Pos("choices"), "with.choices applies only to type: choice or multi, not %s", typ)
		case typ != PromptConfirm && args.Has("gate"):
			c.Errorf(args.Pos("gate"), "with.gate applies only to type: confirm (a yes goes on, a no stops the run), not %s", typ)
		}
	}
	if v, ok := args.Literal("choices"); ok {
		choices := v.([]string)
		seen := map[string]bool{}
		for _, ch := range choices {
			switch {
			case strings.TrimSpace(ch) == "":
				c.Errorf(args.Pos("choices"), "with.choices: a choice is empty")
			case seen[ch]:
				c.Errorf(args.Pos("choices"), "with.choices: %q is there twice", ch)
			case typ == PromptMulti && strings.Contains(ch, ","):
				c.Errorf(args.Pos("choices"), "with.choices: %q holds a comma, which separates the answers of a multi question", ch)
			}
			seen[ch] = true
		}
	}
	if q, ok := a.literal(); ok && args.Has("default") {
		if d, isLit := args.Literal("default"); isLit {
			if _, err := CheckAnswer(q, d.(string)); err != nil {
				c.Errorf(args.Pos("default"), "with.default: %v", err)
			}
		}
	}
	if v, ok := args.Literal("wait"); ok && v.(time.Duration) <= 0 {
		c.Errorf(args.Pos("wait"), "with.wait: %s is not a time to wait; give a positive duration such as 10m", v.(time.Duration))
	}
	if question == nil {
		return nil
	}
	return a
}

// answerPoll is how often a waiting prompt looks in the store for an
// answer given with rbflow answer: one lookup by key on the SQLite store
// in WAL mode, where a reader blocks no writer, so a few a second cost
// nothing next to a person's reply, and an answer is taken within about
// a second of being given.
const answerPoll = 250 * time.Millisecond

type promptAction struct {
	question *eval.Template
	args     *engine.Args
}

// DefaultOnResume: rerun; a prompt asks again: its answer is its output, and nothing was done before it.
func (*promptAction) DefaultOnResume() string { return "rerun" }

// literal returns the question's type and choices when they are written
// without expressions (the text is left out), for checks before a run.
func (a *promptAction) literal() (engine.Question, bool) {
	q := engine.Question{Type: PromptText}
	if v, ok := a.args.Literal("type"); ok {
		q.Type = v.(string)
	} else if a.args.Has("type") {
		return q, false
	} else if a.args.Has("choices") {
		q.Type = PromptChoice
	}
	if v, ok := a.args.Literal("choices"); ok {
		q.Choices = v.([]string)
	} else if a.args.Has("choices") {
		return q, false
	}
	return q, true
}

// ask evaluates the question for this attempt.
func (a *promptAction) ask(x *engine.Exec) (engine.Question, error) {
	var err error
	q := engine.Question{Step: x.StepID, Type: PromptText}
	if q.Text, err = x.Render(a.question); err != nil {
		return q, err
	}
	if t, err := x.String(a.args, "type"); err != nil {
		return q, err
	} else if t != "" {
		q.Type = t
	}
	if q.Choices, err = x.Strings(a.args, "choices"); err != nil {
		return q, err
	}
	if !a.args.Has("type") && len(q.Choices) > 0 {
		q.Type = PromptChoice
	}
	if (q.Type == PromptChoice || q.Type == PromptMulti) && len(q.Choices) == 0 {
		return q, fmt.Errorf("type: %s needs choices, and with.choices gave none", q.Type)
	}
	if a.args.Has("default") {
		d, err := x.String(a.args, "default")
		if err != nil {
			return q, err
		}
		if q.Default, err = CheckAnswer(q, d); err != nil {
			return q, fmt.Errorf("with.default: %w", err)
		}
	}
	return q, nil
}

// CheckAnswer checks an answer to q and returns it in its normal form:
// yes or no for a confirm, the choice as written in q.Choices (matched
// without regard to case when that is unambiguous), the choices of a
// multi answer joined by commas, and a text as it is.
func CheckAnswer(q engine.Question, answer string) (string, error) {
	switch q.Type {
	case PromptConfirm:
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes", "true":
			return "yes", nil
		case "n", "no", "false":
			return "no", nil
		}
		return "", fmt.Errorf("%q is not a yes or no: answer y, yes, true, n, no or false", answer)
	case PromptChoice:
		return matchChoice(q.Choices, answer)
	case PromptMulti:
		var picked []string
		for _, item := range strings.Split(answer, ",") {
			if strings.TrimSpace(item) == "" {
				continue
			}
			ch, err := matchChoice(q.Choices, item)
			if err != nil {
				return "", fmt.Errorf("%w (separate several with commas)", err)
			}
			if !slices.Contains(picked, ch) {
				picked = append(picked, ch)
			}
		}
		return strings.Join(picked, ","), nil
	}
	return answer, nil
}

func matchChoice(choices []string, answer string) (string, error) {
	s := strings.TrimSpace(answer)
	if slices.Contains(choices, s) {
		return s, nil
	}
	var found []string
	for _, ch := range choices {
		if strings.EqualFold(ch, s) {
			found = append(found, ch)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return "", fmt.Errorf("%q is not one of %s", answer, strings.Join(choices, ", "))
}

// Describe shows the question and what it takes.
func (a *promptAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	q, err := a.ask(x)
	_, literal := a.args.Literal("choices")
	runtimeChoices := a.args.Has("choices") && !literal && len(q.Choices) == 0
	if err != nil && !runtimeChoices {
		return "", err
	}
	s := fmt.Sprintf("ask (%s): %s", q.Type, q.Text)
	if len(q.Choices) > 0 {
		s += "\nchoices: " + strings.Join(q.Choices, ", ")
	} else if runtimeChoices {
		s += "\nchoices: known only at run time"
	}
	if q.Default != "" {
		s += "\ndefault: " + q.Default
	}
	if wait, err := x.Duration(a.args, "wait"); err == nil && wait > 0 {
		s += fmt.Sprintf("\nwaits up to %s for an answer (the terminal, or rbflow answer)", wait)
		if q.Default != "" {
			s += ", then takes the default"
		}
	}
	if v, ok := x.Answer(); ok {
		s += "\nanswered with --answer: " + v.Value
	}
	return s, nil
}

func (a *promptAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	q, err := a.ask(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	wait, err := x.Duration(a.args, "wait")
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	fmt.Fprintf(x.Log, "? %s\n", q.Text)
	took := engine.Answer{RunID: x.RunID, StepID: x.StepID, Actor: x.Actor(), At: time.Now()}
	if given, ok := x.Answer(); ok {
		if took.Value, err = CheckAnswer(q, given.Value); err != nil {
			if given.Source == engine.AnswerCommand {
				return engine.Result{ExitCode: -1}, fmt.Errorf("the answer %q given with rbflow answer: %w", given.Value, err)
			}
			return engine.Result{ExitCode: -1}, fmt.Errorf("--answer %s=%s: %w", x.StepID, given.Value, err)
		}
		took.Source, took.Actor, took.Via = given.Source, given.Actor, given.Via
	} else if q.Type == PromptConfirm && x.Yes() {
		took.Value, took.Source = "yes", engine.AnswerYes
	} else if q.Default != "" && x.Yes() && x.Prompter() == nil {
		// --yes without a terminal takes the default the procedure offers.
		if took.Value, err = CheckAnswer(q, q.Default); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
		took.Source = engine.AnswerDefault
	} else {
		if took, err = a.await(ctx, x, q, wait); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
	}
	if !took.Given() {
		// A given answer is on record already, with who gave it.
		took.Value = x.Mask(took.Value)
		if err := x.Answers().SaveAnswer(ctx, took); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
	}
	fmt.Fprintf(x.Log, "> %s (from %s)\n", took.Value, tookFrom(took))
	out := map[string]any{"answer": took.Value, "source": took.Source}
	switch q.Type {
	case PromptMulti:
		list := []string{}
		if took.Value != "" {
			list = strings.Split(took.Value, ",")
		}
		out["answer"] = list
	case PromptConfirm:
		out["confirmed"] = took.Value == "yes"
		if gate, err := x.Bool(a.args, "gate"); err != nil {
			return engine.Result{ExitCode: -1, Outputs: out}, err
		} else if gate && took.Value != "yes" {
			fmt.Fprintf(x.Log, "the gate is closed: the run stops here, as the operator asked\n")
			x.StopRun(took.Value)
		}
	}
	return engine.Result{Outputs: out}, nil
}

// tookFrom says where the step's answer came from, for its log.
func tookFrom(a engine.Answer) string {
	switch a.Source {
	case engine.AnswerCommand:
		return fmt.Sprintf("rbflow answer by %s", a.Actor)
	case engine.AnswerTimeout:
		return "the default: nobody answered in time"
	}
	return a.How()
}

// await waits for an answer: typed on the terminal when there is one,
// given with rbflow answer from another shell, or, when wait runs out,
// the default. Without a terminal and without wait it records the
// question and stops the run (exit 4) at once.
func (a *promptAction) await(ctx context.Context, x *engine.Exec, q engine.Question, wait time.Duration) (engine.Answer, error) {
	took := engine.Answer{RunID: x.RunID, StepID: x.StepID, Actor: x.Actor()}
	p := x.Prompter()
	now := time.Now()
	host := x.Actor().Host
	if host == "" {
		host = "this host"
	}
	asked := engine.Asked{RunID: x.RunID, AskedAt: now, Where: fmt.Sprintf("%s, rbflow pid %d", host, os.Getpid()),
		Question: engine.Question{Step: q.Step, Text: x.Mask(q.Text), Type: q.Type, Default: x.Mask(q.Default)}}
	for _, c := range q.Choices {
		asked.Choices = append(asked.Choices, x.Mask(c))
	}
	if p != nil {
		asked.Where += ", on its terminal"
	}
	if wait > 0 {
		asked.Until = now.Add(wait)
	}
	// The question is recorded before the run waits or stops: rbflow
	// answer checks answers against it.
	if err := x.Answers().SaveQuestion(ctx, asked); err != nil {
		return took, err
	}
	if p == nil && wait <= 0 {
		return took, engine.NeedPerson(resumeHint(x, q))
	}
	msg := fmt.Sprintf("step %s waits for an answer to %q (on %s", q.Step, q.Text, asked.Where)
	if x.Repo != "" {
		msg += ", repository " + x.Repo
	}
	msg += ")"
	if wait > 0 {
		msg += fmt.Sprintf(" for up to %s", wait)
		if q.Default != "" {
			msg += fmt.Sprintf(", then takes its default %s", eval.Quote(q.Default))
		} else {
			msg += ", then stops until someone answers"
		}
	}
	x.Waiting(msg + "; answer from another shell with: " + answerHint("rbflow answer "+x.RunID+" ", q))

	askCtx, stopAsking := context.WithCancel(ctx)
	defer stopAsking()
	typed := make(chan error, 1) // the terminal's reply is in took.Value
	var reply string
	asking := p != nil
	if asking {
		go func() {
			got, err := p.Ask(askCtx, q)
			reply = got
			typed <- err
		}()
	}
	// stop ends the terminal's question and waits for Ask to return, so
	// that the terminal is the view's again.
	stop := func() {
		stopAsking()
		if asking {
			<-typed
		}
	}
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	tick := time.NewTicker(answerPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			return took, context.Cause(ctx)
		case err := <-typed:
			asking = false
			if err != nil {
				return took, engine.NeedPerson(fmt.Sprintf("could not ask on the terminal (%v); step %s asks %q; %s", err, q.Step, q.Text, goOn(x, q)))
			}
			v, err := CheckAnswer(q, reply)
			if err != nil {
				return took, err
			}
			took.Value, took.Source, took.At = v, engine.AnswerTerminal, time.Now()
			return took, nil
		case <-tick.C:
			if given, err := givenAnswer(ctx, x, q); err != nil || given != nil {
				stop()
				if err != nil {
					return took, err
				}
				return *given, nil
			}
		case <-timeout:
			stop()
			// An answer given in the last moment still counts.
			if given, err := givenAnswer(ctx, x, q); err != nil || given != nil {
				if err != nil {
					return took, err
				}
				return *given, nil
			}
			if q.Default == "" {
				return took, engine.NeedPerson(fmt.Sprintf("step %s asks %q, nobody answered within %s and it has no default; %s", q.Step, q.Text, wait, goOn(x, q)))
			}
			v, err := CheckAnswer(q, q.Default)
			if err != nil {
				return took, err
			}
			took.Value, took.Source, took.At = v, engine.AnswerTimeout, time.Now()
			took.Actor.User = engine.TimeoutActor
			took.Via = fmt.Sprintf("nobody answered within %s", wait)
			return took, nil
		}
	}
}

// givenAnswer returns the answer given for the step with rbflow answer
// while it waits, checked against q, or nil if there is none yet.
func givenAnswer(ctx context.Context, x *engine.Exec, q engine.Question) (*engine.Answer, error) {
	a, err := x.Answers().Answer(ctx, x.RunID, x.StepID)
	if errors.Is(err, engine.ErrNotFound) || (err == nil && !a.Given()) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := CheckAnswer(q, a.Value)
	if err != nil {
		return nil, fmt.Errorf("the answer %q given with rbflow answer: %w", a.Value, err)
	}
	a.Value = v
	return a, nil
}

// resumeHint says what the question asks and the exact command that
// answers it.
func resumeHint(x *engine.Exec, q engine.Question) string {
	return fmt.Sprintf("step %s asks %q and there is no terminal to ask on; %s", q.Step, q.Text, goOn(x, q))
}

// goOn says how a run stopped at prompt q goes on: with the command its
// runner names (a fleet run: through Temporal), else resume or answer.
func goOn(x *engine.Exec, q engine.Question) string {
	if cmd := x.AnswerWith(); cmd != "" {
		return "answer with: " + answerHint(cmd, q)
	}
	runID := x.RunID
	arg, _ := answerArg(q)
	return fmt.Sprintf("answer with: %s; or, from any shell, record the answer with rbflow answer %s %s and then run rbflow resume %s",
		answerHint("rbflow resume "+runID+" --answer ", q), runID, arg, runID)
}

// answerHint is the command that answers q, cmd followed by STEP=VALUE
// with an example value, and what the answer may be.
func answerHint(cmd string, q engine.Question) string {
	arg, note := answerArg(q)
	if note != "" {
		return cmd + arg + " (" + note + ")"
	}
	return cmd + arg
}

// answerArg is STEP=VALUE with an example answer to q, quoted for a shell,
// and a note on what the answer may be.
func answerArg(q engine.Question) (arg, note string) {
	with := func(value string) string { return q.Step + "=" + eval.Quote(value) }
	switch q.Type {
	case PromptConfirm:
		return with("yes"), "or " + q.Step + "=no"
	case PromptChoice:
		return with(firstOr(q.Default, q.Choices)), "the answer one of: " + strings.Join(q.Choices, ", ")
	case PromptMulti:
		return with(firstOr(q.Default, q.Choices)), "the answer a comma-separated list of: " + strings.Join(q.Choices, ", ")
	}
	return with("YOUR ANSWER"), ""
}

func firstOr(def string, choices []string) string {
	if def != "" {
		return def
	}
	return choices[0]
}
