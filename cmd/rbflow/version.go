package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/pflag"
)

type versionCmd struct{}

func (*versionCmd) Name() string         { return "version" }
func (*versionCmd) Usage() string        { return "" }
func (*versionCmd) Summary() string      { return "print rbflow's version" }
func (*versionCmd) Flags(*pflag.FlagSet) {}

func (*versionCmd) Run(_ context.Context, a *app, args []string) error {
	if len(args) > 0 {
		return usagef("version takes no arguments")
	}
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "dev-" + s.Value[:12]
				}
			}
		}
	}
	fmt.Fprintf(a.stdout, "rbflow %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
