package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/procedures"
)

type approveCmd struct{ yes bool }

func (*approveCmd) Name() string  { return "approve" }
func (*approveCmd) Usage() string { return "FILE|NAME... [--yes]" }
func (*approveCmd) Summary() string {
	return "approve a procedure that came with the repository (.rbflow/NAME.yaml or a file in the work tree), after showing what changed since it was last approved"
}
func (c *approveCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.yes, "yes", false, "approve without asking (what changed is still shown)")
}

func (c *approveCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usagef("approve takes the procedures to approve: files, or names of .rbflow/ copies")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, arg := range args {
		src, err := procedures.Resolve(arg, s.repo)
		if err != nil {
			return err
		}
		if !src.Local {
			fmt.Fprintf(a.stdout, "%s needs no approval: it does not come with the repository\n", src.Path)
			continue
		}
		if err := a.approve(ctx, s, src, c.yes); err != nil {
			return err
		}
	}
	return nil
}

// approvals are the approvals of this repository's state folder, read
// without creating it: where it has no store yet, nothing is approved.
func (a *app) approvals(ctx context.Context) (procedures.Approvals, error) {
	_, dir, err := a.stateDir(ctx)
	if err != nil {
		return nil, err
	}
	return stateApprovals(dir), nil
}

// stateApprovals reads the approvals kept in a state folder, opening its
// store for each question; a folder without a store approves nothing.
type stateApprovals string

func (dir stateApprovals) Approved(ctx context.Context, path, hash string) (bool, error) {
	if _, err := os.Stat(filepath.Join(string(dir), store.DBName)); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	st, err := store.Open(string(dir))
	if err != nil {
		return false, err
	}
	defer st.Close()
	return st.Approved(ctx, path, hash)
}

// approveIn approves src in this repository's state folder.
func (a *app) approveIn(ctx context.Context, src *procedures.Source, yes bool) error {
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return a.approve(ctx, s, src, yes)
}

// errNotApproved is the answer no at the approval question.
var errNotApproved = errors.New("not approved: nothing was run")

// approve shows what changed in src since the text approved last (all of it
// the first time), asks on a terminal unless yes, and records the approval.
func (a *app) approve(ctx context.Context, s *session, src *procedures.Source, yes bool) error {
	path := procedures.ApprovalPath(src.Path)
	if ok, err := s.store.Approved(ctx, path, src.Hash()); err != nil {
		return err
	} else if ok {
		fmt.Fprintf(a.stdout, "%s is approved already (sha256 %s)\n", src.Path, src.Hash()[:12])
		return nil
	}
	old, err := s.store.LastApproved(ctx, path)
	if err != nil {
		return err
	}
	w := a.stdout
	if old == nil {
		fmt.Fprintf(w, "%s (sha256 %s) was never approved on this machine; it runs as written:\n\n", src.Path, src.Hash()[:12])
		for _, line := range strings.SplitAfter(string(src.Text), "\n") {
			fmt.Fprintf(w, "  %s", line)
		}
		fmt.Fprintln(w)
	} else {
		diff, err := git.DiffText(ctx, src.Path, old, src.Text)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s (sha256 %s) changed since it was last approved:\n\n%s\n", src.Path, src.Hash()[:12], diff)
	}
	if src.Shadows != "" {
		fmt.Fprintf(w, "it takes the place of the built-in %s (rbflow show %s%s prints the built-in)\n", src.Shadows, procedures.BuiltinPrefix, src.Shadows)
	}
	if !yes && isTerminal(a.stdin) {
		ok, err := confirm(a, "approve it?")
		if err != nil {
			return err
		}
		if !ok {
			return errNotApproved
		}
	}
	if err := s.store.Approve(ctx, path, src.Hash(), src.Text); err != nil {
		return err
	}
	fmt.Fprintf(w, "approved %s (sha256 %s)\n", src.Path, src.Hash()[:12])
	return nil
}

// confirm asks a yes/no question on the terminal; anything but y or yes
// is no.
func confirm(a *app, question string) (bool, error) {
	fmt.Fprintf(a.stdout, "%s [y/N] ", question)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("no answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
