package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
//     confirm, one of the choices, or comma-separated choices for multi.
//
// The answer comes, in this order, from --answer ID=VALUE (rbflow run and
// resume store it with the run); from --yes, for a confirm; from the person
// at the terminal when rbflow runs on one; otherwise the run stops,
// resumable (exit 4), naming the `rbflow resume RUN --answer ID=VALUE` that
// goes on. A confirm takes y, yes, true, n, no or false; a choice one of
// the choices; multi a comma-separated list of them. Anything else is an
// error that says what the question takes.
//
// Outputs: answer (yes or no for a confirm, the list of choices for multi,
// else the text), confirmed (confirm only), and source (answer, yes, default or
// terminal). A confirm answered no is an answer, not a failure (SPEC §8,
// §12): the step succeeds with confirmed false, and the steps that need a
// yes say so with `if: steps.ID.outputs.confirmed`.
type promptKind struct{}

var _ engine.Kind = promptKind{}

// Signature: a question, its type, choices and default.
func (promptKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: "the question to ask",
		With: []engine.Field{
			{Name: "type", Type: engine.String, Enum: []string{PromptConfirm, PromptText, PromptChoice, PromptMulti}, Description: "choice when choices are given, else text"},
			{Name: "choices", Type: engine.List, Description: "the answers a choice or multi question takes"},
			{Name: "default", Type: engine.String, Description: "what an empty reply on the terminal gives"},
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
	if question == nil {
		return nil
	}
	return a
}

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
	if v, ok := x.Answer(); ok {
		s += "\nanswered with --answer: " + v
	}
	return s, nil
}

func (a *promptAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	q, err := a.ask(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	fmt.Fprintf(x.Log, "? %s\n", q.Text)
	var answer, source string
	if given, ok := x.Answer(); ok {
		if answer, err = CheckAnswer(q, given); err != nil {
			return engine.Result{ExitCode: -1}, fmt.Errorf("--answer %s=%s: %w", x.StepID, given, err)
		}
		source = "answer"
	} else if q.Type == PromptConfirm && x.Yes() {
		answer, source = "yes", "yes"
	} else if q.Default != "" && x.Yes() && x.Prompter() == nil {
		// --yes without a terminal takes the default the procedure offers.
		if answer, err = CheckAnswer(q, q.Default); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
		source = "default"
	} else if p := x.Prompter(); p != nil {
		got, err := p.Ask(ctx, q)
		if ctx.Err() != nil {
			return engine.Result{ExitCode: -1}, context.Cause(ctx)
		}
		if err != nil {
			return engine.Result{ExitCode: -1}, engine.NeedPerson(fmt.Sprintf("could not ask on the terminal (%v); %s", err, resumeHint(x.RunID, q)))
		}
		if answer, err = CheckAnswer(q, got); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
		source = "terminal"
	} else {
		return engine.Result{ExitCode: -1}, engine.NeedPerson(resumeHint(x.RunID, q))
	}
	fmt.Fprintf(x.Log, "> %s (from %s)\n", answer, map[string]string{"answer": "--answer", "yes": "--yes", "default": "--yes: the default", "terminal": "the terminal"}[source])
	out := map[string]any{"answer": answer, "source": source}
	switch q.Type {
	case PromptMulti:
		list := []string{}
		if answer != "" {
			list = strings.Split(answer, ",")
		}
		out["answer"] = list
	case PromptConfirm:
		out["confirmed"] = answer == "yes"
	}
	return engine.Result{Outputs: out}, nil
}

// resumeHint says what the question asks and the exact command that
// answers it.
func resumeHint(runID string, q engine.Question) string {
	cmd := func(value string) string {
		return fmt.Sprintf("rbflow resume %s --answer %s=%s", runID, q.Step, eval.Quote(value))
	}
	var how string
	switch q.Type {
	case PromptConfirm:
		how = fmt.Sprintf("%s (or %s=no)", cmd("yes"), q.Step)
	case PromptChoice:
		how = fmt.Sprintf("%s (the answer one of: %s)", cmd(firstOr(q.Default, q.Choices)), strings.Join(q.Choices, ", "))
	case PromptMulti:
		how = fmt.Sprintf("%s (the answer a comma-separated list of: %s)", cmd(firstOr(q.Default, q.Choices)), strings.Join(q.Choices, ", "))
	default:
		how = cmd("YOUR ANSWER")
	}
	return fmt.Sprintf("step %s asks %q and there is no terminal to ask on; answer with: %s", q.Step, q.Text, how)
}

func firstOr(def string, choices []string) string {
	if def != "" {
		return def
	}
	return choices[0]
}
