package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/procedures"
)

type showCmd struct{}

func (*showCmd) Name() string  { return "show" }
func (*showCmd) Usage() string { return "NAME" }
func (*showCmd) Summary() string {
	return "print a procedure's YAML (a local .rbflow/NAME.yaml copy wins over the built-in)"
}
func (*showCmd) Flags(*pflag.FlagSet) {}

func (*showCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) != 1 {
		return usagef("show takes one procedure name")
	}
	repo, _ := a.repo(ctx)
	src, err := procedures.Resolve(args[0], repo)
	if err != nil {
		return err
	}
	if !src.Builtin && a.verbose {
		fmt.Fprintf(a.stderr, "# from %s\n", src.Path)
	}
	_, err = a.stdout.Write(src.Text)
	return err
}
