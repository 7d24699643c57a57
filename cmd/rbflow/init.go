package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

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
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	written, err := procedures.CopyTo(dir, c.force)
	copied, kept := 0, 0
	for _, w := range written {
		if w.Kept {
			kept++
		} else {
			copied++
			// Written by rbflow itself: approved by being written (SPEC §14).
			text, _ := procedures.Builtin(strings.TrimSuffix(filepath.Base(w.Path), ".yaml"))
			if aerr := s.store.Approve(ctx, procedures.ApprovalPath(w.Path), procedures.HashText(text), text); aerr != nil && err == nil {
				err = aerr
			}
		}
		if a.quiet {
			continue
		}
		if w.Kept {
			fmt.Fprintf(a.stdout, "kept %s (it exists; --force overwrites)\n", w.Path)
		} else {
			fmt.Fprintf(a.stdout, "wrote %s\n", w.Path)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d procedures copied to %s (%d kept). Edit them; rbflow run NAME uses the copy, no rebuild needed (after an edit, rbflow approve NAME, or rbflow run NAME --approve).\n", copied, dir, kept)
	return nil
}
