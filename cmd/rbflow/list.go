package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/procedures"
)

type listCmd struct{}

func (*listCmd) Name() string         { return "list" }
func (*listCmd) Usage() string        { return "" }
func (*listCmd) Summary() string      { return "list the built-in procedures with their descriptions" }
func (*listCmd) Flags(*pflag.FlagSet) {}

func (*listCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		return usagef("list takes no arguments")
	}
	repo, _ := a.repo(ctx)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSEVERITY\tTARGET\tDESCRIPTION")
	for _, name := range procedures.Names() {
		src, err := procedures.Resolve(name, repo)
		if err != nil {
			return err
		}
		p, err := spec.Load(src.Path, src.Text, a.registry.Keys())
		if err != nil {
			fmt.Fprintf(tw, "%s\t\t\t(does not load: run rbflow validate %s)\n", name, name)
			continue
		}
		target := "-"
		if p.Target > 0 {
			target = p.Target.String()
		}
		desc := p.Description
		if !src.Builtin {
			desc += " [local copy: " + src.Path + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, orDash(p.Severity), target, desc)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
