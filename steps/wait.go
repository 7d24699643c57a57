package steps

import (
	"context"
	"fmt"
	"regexp"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// waitKind polls until something is ready: `wait: http|tcp|command`.
type waitKind struct{}

var _ engine.Kind = waitKind{}

// waitTargets maps each wait kind to the with: argument naming its target.
var waitTargets = map[string]string{probeHTTP: "url", probeTCP: "address", probeCommand: "command"}

// Signature: what to poll, its target, how often and how long.
func (waitKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: "what to poll until it is ready",
		Actions: []engine.ActionSig{
			{Name: probeHTTP, Description: "until a URL answers with an expected status (and body)", With: []engine.Field{
				{Name: "url", Type: engine.String, Required: true},
				{Name: "expect_status", Type: engine.String, Description: "the statuses that count as ready, e.g. 200 or 200-299,301 (default: 2xx)"},
				{Name: "body", Type: engine.String, Description: "a regular expression the body must match"},
			}},
			{Name: probeTCP, Description: "until an address accepts a connection", With: []engine.Field{
				{Name: "address", Type: engine.String, Required: true, Description: "host:port"},
			}},
			{Name: probeCommand, Description: "until a command succeeds", With: []engine.Field{
				{Name: "command", Type: engine.String, Required: true},
			}},
		},
		With: []engine.Field{
			{Name: "interval", Type: engine.Duration, Description: "between probes"},
			{Name: "timeout", Type: engine.Duration, Description: "how long to poll before the step fails"},
		},
	}
}

func (waitKind) Compile(c *engine.KindContext) engine.Action {
	kind := c.Action()
	args := c.With()
	want := waitTargets[kind]
	if !args.Has(want) {
		return nil // reported: the signature requires it
	}
	if !checkLiterals(c, args, "expect_status", "body") {
		return nil
	}
	a := &waitAction{kind: kind, target: want, args: args}
	if kind == probeCommand {
		if a.command = shellArg(c, args, "command"); a.command == nil {
			return nil
		}
	}
	return a
}

// withPos is where a missing with: argument should have been written.
func withPos(c *engine.KindContext) spec.Pos {
	if c.Step.With != nil {
		return c.Step.With.Pos
	}
	return c.Step.KindPos
}

// checkLiterals checks the literal values of expect_status/status and body
// at load time; values with ${{ }} are checked when the step runs.
func checkLiterals(c *engine.KindContext, args *engine.Args, statusName, bodyName string) bool {
	ok := true
	if v, lit := args.Literal(statusName); lit {
		if _, err := parseStatuses(fmt.Sprint(v)); err != nil {
			c.Errorf(args.Pos(statusName), "with.%s: %v", statusName, err)
			ok = false
		}
	}
	if v, lit := args.Literal(bodyName); lit {
		if _, err := regexp.Compile(fmt.Sprint(v)); err != nil {
			c.Errorf(args.Pos(bodyName), "with.%s: %v", bodyName, err)
			ok = false
		}
	}
	return ok
}

type waitAction struct {
	kind    string
	target  string // the with: argument holding the target
	args    *engine.Args
	command *eval.Template // wait: command, shell code
}

// DefaultOnResume: rerun; a wait polls again.
func (*waitAction) DefaultOnResume() string { return "rerun" }

func (a *waitAction) spec(x *engine.Exec) (probeSpec, error) {
	s := probeSpec{kind: a.kind}
	var err error
	if a.command != nil {
		if s.script, err = x.Shell(a.command); err != nil {
			return s, fmt.Errorf("with.command: %w", err)
		}
		s.target, s.shown = s.script.Text, s.script.Display(x.Mask)
	} else if s.target, err = x.String(a.args, a.target); err != nil {
		return s, err
	}
	if s.statuses, err = x.String(a.args, "expect_status"); err != nil {
		return s, err
	}
	if s.body, err = x.String(a.args, "body"); err != nil {
		return s, err
	}
	if s.interval, err = x.Duration(a.args, "interval"); err != nil {
		return s, err
	}
	if s.timeout, err = x.Duration(a.args, "timeout"); err != nil {
		return s, err
	}
	return s, nil
}

// Describe says what would be polled.
func (a *waitAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	s, err := a.spec(x)
	if err != nil {
		return "", err
	}
	return x.Mask(describeProbe(s)), nil
}

func describeProbe(s probeSpec) string {
	timeout, interval := s.timeout, s.interval
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	if interval <= 0 {
		interval = defaultProbeInterval
	}
	what := s.target
	switch s.kind {
	case probeHTTP:
		st := s.statuses
		if st == "" {
			st = defaultStatuses.text
		}
		what = fmt.Sprintf("GET %s until status %s", s.target, st)
		if s.body != "" {
			what += fmt.Sprintf(" and body matches %q", s.body)
		}
	case probeTCP:
		what = "connect to " + s.target
	case probeCommand:
		what = "run until it succeeds: " + s.shown
	}
	return fmt.Sprintf("wait: %s (every %s, up to %s)", what, interval, timeout)
}

func (a *waitAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	s, err := a.spec(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	p, err := s.build(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	fmt.Fprintln(x.Log, x.Mask(describeProbe(s)))
	out, err := p.poll(ctx, x.Log, x.Hurry(), nil)
	res := engine.Result{Outputs: out.outputs()}
	if err != nil {
		res.ExitCode = 1
	}
	return res, err
}
