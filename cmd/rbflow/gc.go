package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rbflow/rbflow/steps"
	"github.com/spf13/pflag"
)

type gcCmd struct {
	olderThan string
	dryRun    bool
}

func (*gcCmd) Name() string  { return "gc" }
func (*gcCmd) Usage() string { return "--older-than D [--dry-run]" }
func (*gcCmd) Summary() string {
	return "delete the snapshot refs (refs/rbflow/RUN/...) of finished runs older than D (e.g. 30d, 12h)"
}
func (c *gcCmd) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.olderThan, "older-than", "", "age `D` of the runs whose snapshots go: 30d, 72h, ...")
	fs.BoolVar(&c.dryRun, "dry-run", false, "list what would be deleted")
}

// parseAge reads a Go duration, or a number of days such as 30d.
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err == nil && n >= 0 && fmt.Sprint(n) == d {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	t, err := time.ParseDuration(s)
	if err != nil || t < 0 {
		return 0, fmt.Errorf("bad age %q: use days such as 30d, or a duration such as 12h", s)
	}
	return t, nil
}

func (c *gcCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) > 0 || c.olderThan == "" {
		return usagef("gc takes --older-than D, e.g. rbflow gc --older-than 30d")
	}
	age, err := parseAge(c.olderThan)
	if err != nil {
		return usagef("--older-than: %v", err)
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.repo == "" {
		return usagef("gc works on a git repository")
	}
	cutoff := time.Now().Add(-age)
	refs, err := steps.ExpireSnapshots(ctx, s.store, s.store, s.repo, cutoff, c.dryRun)
	if c.dryRun {
		for _, ref := range refs {
			fmt.Fprintf(a.stdout, "would delete %s\n", ref)
		}
	}
	if err != nil {
		return err
	}
	deleted := len(refs)
	verb := "deleted"
	if c.dryRun {
		verb = "would delete"
	}
	fmt.Fprintf(a.stdout, "%s %d snapshot refs of runs started before %s\n", verb, deleted, cutoff.Local().Format("2006-01-02 15:04"))
	return nil
}
