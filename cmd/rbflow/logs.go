package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
)

type logsCmd struct{ follow bool }

func (*logsCmd) Name() string    { return "logs" }
func (*logsCmd) Usage() string   { return "RUN [STEP] [--follow]" }
func (*logsCmd) Summary() string { return "print a run's step output (all steps, or one)" }
func (c *logsCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVarP(&c.follow, "follow", "f", false, "keep printing new output until the run ends")
}

func (c *logsCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return usagef("logs takes a run id and optionally a step id")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	run, err := s.findRun(ctx, args[0])
	if err != nil {
		return err
	}
	steps, err := s.store.Steps(ctx, run.ID)
	if err != nil {
		return err
	}
	if len(args) == 2 {
		for _, st := range steps {
			if st.StepID == args[1] {
				return c.print(ctx, a, s, run.ID, st.StepID, st.LogPath, true)
			}
		}
		return fmt.Errorf("run %s has no output for step %q (yet)", run.ID, args[1])
	}
	for _, st := range steps {
		if st.LogPath == "" {
			continue
		}
		fmt.Fprintf(a.stdout, "==> %s (%s) <==\n", st.StepID, st.Status)
		if err := c.print(ctx, a, s, run.ID, st.StepID, st.LogPath, false); err != nil {
			return err
		}
	}
	return nil
}

// print copies a log file; with follow it keeps reading until the step ends.
//
// A step's log is made at its first line: until then there is none, and
// following waits for it while the step runs.
func (c *logsCmd) print(ctx context.Context, a *app, s *session, runID, stepID, path string, single bool) error {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	// copyNew prints what the log holds that was not printed yet.
	copyNew := func() error {
		if f == nil {
			var err error
			if f, err = os.Open(path); errors.Is(err, os.ErrNotExist) {
				return nil // no line yet
			} else if err != nil {
				return err
			}
		}
		_, err := io.Copy(a.stdout, f)
		return err
	}
	for {
		if err := copyNew(); err != nil || !c.follow || !single {
			return err
		}
		rec, err := s.store.Steps(ctx, runID)
		if err != nil {
			return err
		}
		running := false
		for _, st := range rec {
			if st.StepID == stepID && st.Status == "running" {
				running = true
			}
		}
		if !running {
			return copyNew()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}
