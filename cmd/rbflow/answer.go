package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/steps"
)

// answerCmd answers a prompt a run waits on, from another shell: a run
// that waits takes the answer within about a second (its prompt looks in
// the store); a run that stopped (exit 4) takes it on rbflow resume.
type answerCmd struct {
	takeWait time.Duration
}

func (*answerCmd) Name() string  { return "answer" }
func (*answerCmd) Usage() string { return "RUN STEP=VALUE" }
func (*answerCmd) Summary() string {
	return "answer a prompt a run waits on, from another shell (a stopped run takes it on rbflow resume)"
}
func (c *answerCmd) Flags(fs *pflag.FlagSet) {
	fs.DurationVar(&c.takeWait, "take-wait", 10*time.Second, "how long to wait for a running run to take the answer before saying it has not yet")
}

// answerPoll is how often rbflow answer looks whether the run took the
// answer.
const answerPoll = 100 * time.Millisecond

func (c *answerCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) != 2 {
		return usagef("answer takes a run id and STEP=VALUE, e.g. rbflow answer 20260101-120000-a1b2c3 go=yes")
	}
	step, value, ok := strings.Cut(args[1], "=")
	if !ok || step == "" {
		return usagef("answer takes STEP=VALUE after the run id, got %q", args[1])
	}
	s, top, err := a.openRun(ctx, args[:1])
	if err != nil {
		return err
	}
	defer s.Close()
	run, q, err := c.waitingPrompt(ctx, s, top, step)
	if err != nil {
		return err
	}
	answer, err := steps.CheckAnswer(q.Question, value)
	if err != nil {
		return usagef("%s=%s: %v; nothing was recorded (step %s asks %q)", step, value, err, step, q.Text)
	}
	earlier, err := s.store.Answer(ctx, run.ID, step)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	given := engine.Answer{RunID: run.ID, StepID: step, Value: answer, Source: engine.AnswerCommand,
		Actor: engine.CurrentActor(), Via: c.via(a), At: time.Now()}
	if err := s.store.SaveAnswer(ctx, given); err != nil {
		return err
	}
	w := a.stdout
	if earlier != nil && earlier.Given() {
		fmt.Fprintf(w, "replaced the answer %s given by %s at %s\n", eval.Quote(earlier.Value), earlier.Actor, earlier.At.Local().Format("2006-01-02 15:04:05"))
	}
	if run.Status == engine.RunRunning && run.Owner().Alive() {
		return c.watch(ctx, a, s, run, given)
	}
	fmt.Fprintf(w, "recorded the answer %s=%s for run %s, which is %s; go on with: rbflow resume %s\n",
		step, eval.Quote(answer), run.ID, run.Shown(), rootRun(ctx, s, run))
	return nil
}

// waitingPrompt finds the prompt step the answer is for: a step of run, or
// of a run it called, that asked its question and has not been answered.
func (c *answerCmd) waitingPrompt(ctx context.Context, s *session, top *engine.Run, step string) (*engine.Run, *engine.Asked, error) {
	switch {
	case top.UndoneBy != "":
		return nil, nil, usagef("run %s was undone by run %s: it waits for no answer", top.ID, top.UndoneBy)
	case top.Status.Finished():
		return nil, nil, usagef("run %s of %s %s: it waits for no answer", top.ID, top.Procedure, top.Status)
	}
	family, err := engine.RunFamily(ctx, s.store, top.ID)
	if err != nil {
		return nil, nil, err
	}
	var waiting []string // the family's prompts that wait, for the error
	for _, run := range family {
		if run.Status.Finished() {
			continue
		}
		recs, err := s.store.Steps(ctx, run.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, rec := range recs {
			q, err := s.store.Question(ctx, run.ID, rec.StepID)
			if errors.Is(err, engine.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			open := rec.Status == engine.StepRunning || rec.Status == engine.StepWaiting || rec.Status == engine.StepInterrupted
			if rec.StepID == step {
				if open {
					return run, q, nil
				}
				return nil, nil, c.notWaiting(ctx, s, run, rec)
			}
			if open {
				waiting = append(waiting, rec.StepID)
			}
		}
	}
	sort.Strings(waiting)
	if len(waiting) == 0 {
		return nil, nil, usagef("step %s of run %s is not a prompt waiting for an answer: the run (%s) waits on no prompt; nothing was recorded", step, top.ID, top.Shown())
	}
	return nil, nil, usagef("step %s of run %s is not a prompt waiting for an answer (waiting: %s); nothing was recorded", step, top.ID, strings.Join(waiting, ", "))
}

// notWaiting says why a prompt that asked does not wait any more.
func (c *answerCmd) notWaiting(ctx context.Context, s *session, run *engine.Run, rec *engine.StepRecord) error {
	if ans, err := s.store.Answer(ctx, run.ID, rec.StepID); err == nil && rec.Status == engine.StepSucceeded {
		return usagef("step %s of run %s was answered already: %s, by %s at %s from %s; nothing was recorded",
			rec.StepID, run.ID, eval.Quote(ans.Value), ans.Actor, ans.At.Local().Format("2006-01-02 15:04:05"), ans.How())
	}
	return usagef("step %s of run %s is %s, not waiting for an answer; nothing was recorded", rec.StepID, run.ID, run.ShownStep(rec))
}

// via says where the answer comes from: this process, and its terminal.
func (c *answerCmd) via(a *app) string {
	via := fmt.Sprintf("rbflow answer, pid %d", os.Getpid())
	for _, f := range []any{a.stdin, a.stdout, a.stderr} {
		if file, ok := f.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			if tty, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", file.Fd())); err == nil {
				return via + " on " + tty
			}
		}
	}
	return via + " (no terminal)"
}

// watch waits a little for the running run to take the answer, and says
// whether it did.
func (c *answerCmd) watch(ctx context.Context, a *app, s *session, run *engine.Run, given engine.Answer) error {
	w := a.stdout
	deadline := time.Now().Add(c.takeWait)
	for {
		rec, err := stepRecord(ctx, s, run.ID, given.StepID)
		if err != nil {
			return err
		}
		if rec != nil && rec.Status != engine.StepRunning {
			if src, _ := rec.Outputs["source"].(string); rec.Status == engine.StepSucceeded && src == engine.AnswerCommand {
				fmt.Fprintf(w, "run %s took the answer %s=%s and goes on\n", run.ID, given.StepID, eval.Quote(given.Value))
				return nil
			}
			if rec.Status == engine.StepSucceeded {
				taken, _ := s.store.Answer(ctx, run.ID, given.StepID)
				by := "another answer"
				if taken != nil {
					by = fmt.Sprintf("%s (%s, by %s)", eval.Quote(taken.Value), taken.How(), taken.Actor)
				}
				return fmt.Errorf("step %s of run %s took %s before it saw this one", given.StepID, run.ID, by)
			}
			fmt.Fprintf(w, "recorded the answer %s=%s; run %s stopped meanwhile (step %s %s): go on with: rbflow resume %s\n",
				given.StepID, eval.Quote(given.Value), run.ID, given.StepID, rec.Status, rootRun(ctx, s, run))
			return nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(w, "recorded the answer %s=%s; run %s (rbflow pid %d) has not taken it yet: its prompt takes it when it next looks, or rbflow resume %s does if the run stops\n",
				given.StepID, eval.Quote(given.Value), run.ID, run.OwnerPID, rootRun(ctx, s, run))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(answerPoll):
		}
	}
}

// stepRecord returns the record of one step of a run, or nil.
func stepRecord(ctx context.Context, s *session, runID, stepID string) (*engine.StepRecord, error) {
	recs, err := s.store.Steps(ctx, runID)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if rec.StepID == stepID {
			return rec, nil
		}
	}
	return nil, nil
}

// rootRun is the id of the run that rbflow resume goes on with: the run
// itself, or the first run of the chain of calls that led to it.
func rootRun(ctx context.Context, s *session, run *engine.Run) string {
	for run.ParentRun != "" {
		parent, err := s.store.Run(ctx, run.ParentRun)
		if err != nil {
			break
		}
		run = parent
	}
	return run.ID
}
