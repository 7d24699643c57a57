package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/procedures"
)

type initCmd struct{ force bool }

func (*initCmd) Name() string  { return "init" }
func (*initCmd) Usage() string { return "[DIR] [--force]" }
func (*initCmd) Summary() string {
	return "copy the built-in procedures into DIR (default: .rbflow/ of the repository) to edit them, with the JSON Schema for editors; a copy there replaces the built-in of its name"
}
func (c *initCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.force, "force", false, "rewrite copies that exist (default: keep them); one with edits of its own is saved as NAME.yaml.orig first")
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
	schema, err := schemaJSON(a.registry)
	if err != nil {
		return err
	}
	written, err := procedures.CopyTo(dir, c.force, schema)
	copied, kept := 0, 0
	for _, w := range written {
		if w.Kept {
			kept++
		} else {
			copied++
			// Written by rbflow itself: approved by being written (SPEC §14).
			if aerr := s.store.Approve(ctx, procedures.ApprovalPath(w.Path), procedures.HashText(w.Text), w.Text); aerr != nil && err == nil {
				err = aerr
			}
		}
		if a.quiet && w.Saved == "" {
			continue
		}
		switch {
		case w.Kept && w.Edited:
			fmt.Fprintf(a.stdout, "kept %s: it differs from the built-in (your edits are left as they are; --force replaces it, saving it first)\n", w.Path)
		case w.Kept:
			fmt.Fprintf(a.stdout, "kept %s (it exists; --force rewrites it)\n", w.Path)
		case w.Saved != "":
			fmt.Fprintf(a.stdout, "replaced %s, which differed from the built-in; the old text is in %s\n", w.Path, w.Saved)
		default:
			fmt.Fprintf(a.stdout, "wrote %s\n", w.Path)
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d procedures copied to %s (%d kept), with the JSON Schema editors check them against (%s). Edit them; rbflow run NAME uses the copy, no rebuild needed (after an edit, rbflow approve NAME, or rbflow run NAME --approve).\n", copied, dir, kept, procedures.SchemaFile)
	return nil
}
