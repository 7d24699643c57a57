package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
)

// session is an opened state folder for one repository.
type session struct {
	repo     string
	stateDir string
	store    *store.Store
}

// stateDir finds the repository and its state folder (without creating it).
func (a *app) stateDir(ctx context.Context) (repo, dir string, err error) {
	if repo, err = a.repo(ctx); err != nil {
		return "", "", err
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	dir, err = engine.StateDir(ctx, a.stateFlag, repo, wd)
	return repo, dir, err
}

// open finds the repository and opens its state folder.
func (a *app) open(ctx context.Context) (*session, error) {
	repo, dir, err := a.stateDir(ctx)
	if err != nil {
		return nil, err
	}
	open := store.OpenUnchecked
	if a.drives {
		open = store.Open
	}
	st, err := open(dir)
	if err != nil {
		return nil, err
	}
	if st.Notice != "" {
		fmt.Fprintln(a.stderr, "rbflow: WARNING: "+st.Notice)
	}
	return &session{repo: repo, stateDir: dir, store: st}, nil
}

func (s *session) Close() error { return s.store.Close() }

// findRun returns the run named by id, or else the newest top-level run of
// the repository.
func (s *session) findRun(ctx context.Context, id string) (*engine.Run, error) {
	if id != "" {
		run, err := s.store.Run(ctx, id)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, usagef("no run %q in %s (rbflow runs lists them)", id, s.stateDir)
		}
		return run, err
	}
	runs, err := s.store.Runs(ctx, s.repo)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.ParentRun == "" {
			return r, nil
		}
	}
	return nil, usagef("no runs in this repository yet (in %s)", s.stateDir)
}

// openRun opens the state folder and finds the run named by the optional
// RUN argument, or the newest run. The caller closes the session.
func (a *app) openRun(ctx context.Context, args []string) (*session, *engine.Run, error) {
	s, err := a.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	id := ""
	if len(args) == 1 {
		id = args[0]
	}
	run, err := s.findRun(ctx, id)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, run, nil
}

// signals turns SIGINT, SIGTERM and SIGHUP into a cancelled context (the
// run stops, finally runs, exit 130); a second signal closes hurry (kill at
// once).
//
// SIGPIPE is caught from then on, for the life of the process: a closed
// stdout (rbflow run ... | head) must not stop a run, whose output goes on
// to its logs; writes to the closed pipe fail and are dropped. Steps still
// get SIGPIPE as usual: a caught signal is reset when they start.
func signals(ctx context.Context, notify func(string)) (context.Context, <-chan struct{}, func()) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, cancel := context.WithCancelCause(ctx)
	hurry := make(chan struct{})
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case sig := <-ch:
				n++
				if n == 1 {
					notify(fmt.Sprintf("%s: stopping the running steps (SIGTERM, then SIGKILL after the grace period); press Ctrl-C again to stop at once", sig))
					cancel(fmt.Errorf("stopped by %s", sig))
				} else if n == 2 {
					notify("stopping at once")
					close(hurry)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, hurry, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

func elapsed(start, end time.Time) string {
	if start.IsZero() {
		return ""
	}
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(start).Round(100 * time.Millisecond).String()
}
