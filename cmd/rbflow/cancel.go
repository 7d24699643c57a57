package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/proc"
)

type cancelCmd struct{}

func (*cancelCmd) Name() string  { return "cancel" }
func (*cancelCmd) Usage() string { return "RUN" }
func (*cancelCmd) Summary() string {
	return "mark an interrupted, waiting or stale run cancelled, so that resume no longer picks it"
}
func (*cancelCmd) Flags(*pflag.FlagSet) {}

func (*cancelCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) != 1 {
		return usagef("cancel takes one run id")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	run, err := s.findRun(ctx, args[0], false)
	if err != nil {
		return err
	}
	if run.Status.Finished() {
		return fmt.Errorf("run %s is already %s", run.ID, run.Status)
	}
	lock, err := engine.AcquireLock(s.stateDir, run.Repo, run.ID)
	if err != nil {
		owner := proc.Identity{PID: run.OwnerPID, Start: run.OwnerStart}
		if owner.Alive() {
			return fmt.Errorf("run %s is running in rbflow pid %d: stop it with Ctrl-C (or kill -TERM %d) first", run.ID, run.OwnerPID, run.OwnerPID)
		}
		return err
	}
	defer lock.Release()
	steps, err := s.store.Steps(ctx, run.ID)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, st := range steps {
		if st.Status == engine.StepRunning || st.Status == engine.StepWaiting {
			st.Status, st.Conclusion = engine.StepCancelled, engine.StepCancelled
			st.EndedAt = now
			if err := s.store.SaveStep(ctx, st); err != nil {
				return err
			}
		}
	}
	run.Status = engine.RunCancelled
	run.EndedAt = now
	if err := s.store.UpdateRun(ctx, run); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "run %s cancelled\n", run.ID)
	return nil
}
