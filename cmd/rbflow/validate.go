package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine/spec"
)

type validateCmd struct{}

func (*validateCmd) Name() string  { return "validate" }
func (*validateCmd) Usage() string { return "PROCEDURE..." }
func (*validateCmd) Summary() string {
	return "load and check procedures without running anything; every error is printed with file:line:col"
}
func (*validateCmd) Flags(*pflag.FlagSet) {}

func (*validateCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("validate: name at least one procedure file or built-in")
	}
	var all spec.ErrorList
	var other error
	for _, arg := range args {
		plan, _, err := a.load(ctx, arg, nil)
		if err != nil {
			if l, ok := err.(spec.ErrorList); ok {
				all = append(all, l...)
				continue
			}
			fmt.Fprintf(a.stderr, "rbflow: %v\n", err)
			other = err
			continue
		}
		if !a.quiet {
			fmt.Fprintf(a.stdout, "%s: ok (%s, %d steps)\n", arg, plan.Name(), len(plan.Steps()))
		}
	}
	if len(all) > 0 {
		fmt.Fprintln(a.stderr, all.Error())
		return &reported{all}
	}
	if other != nil {
		return &reported{other}
	}
	return nil
}
