package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/procedures"
)

type initCmd struct{ force bool }

func (*initCmd) Name() string  { return "init" }
func (*initCmd) Usage() string { return "[DIR] [--force]" }
func (*initCmd) Summary() string {
	return "copy the built-in procedures into DIR (default: .rbflow/ of the repository) to edit them; a copy there replaces the built-in of its name"
}
func (c *initCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.force, "force", false, "overwrite copies that exist (default: keep them)")
}

func (c *initCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("init takes at most one directory")
	}
	dir := ""
	if len(args) == 1 {
		dir = args[0]
	} else {
		repo, err := a.repo(ctx)
		if err != nil {
			return err
		}
		if repo == "" {
			return usagef("init: not in a git repository; name the directory: rbflow init DIR")
		}
		dir = filepath.Join(repo, procedures.LocalDir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	copied, kept := 0, 0
	for _, name := range procedures.Names() {
		text, _ := procedures.Builtin(name)
		dst := filepath.Join(dir, name+".yaml")
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if c.force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(dst, flags, 0o644)
		if errors.Is(err, fs.ErrExist) {
			kept++
			if !a.quiet {
				fmt.Fprintf(a.stdout, "kept %s (it exists; --force overwrites)\n", dst)
			}
			continue
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(text); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		copied++
		if !a.quiet {
			fmt.Fprintf(a.stdout, "wrote %s\n", dst)
		}
	}
	fmt.Fprintf(a.stdout, "%d procedures copied to %s (%d kept). Edit them; rbflow run NAME uses the copy, no rebuild needed.\n", copied, dir, kept)
	return nil
}
