package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
)

type statusCmd struct{ json bool }

func (*statusCmd) Name() string  { return "status" }
func (*statusCmd) Usage() string { return "[RUN] [--json]" }
func (*statusCmd) Summary() string {
	return "show one run (default: the newest): steps, times, outputs, time against the target"
}
func (c *statusCmd) Flags(fs *pflag.FlagSet) { fs.BoolVar(&c.json, "json", false, "print JSON") }

func (c *statusCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 1 {
		return usagef("status takes at most one run id")
	}
	s, run, err := a.openRun(ctx, args)
	if err != nil {
		return err
	}
	defer s.Close()
	steps, err := s.store.Steps(ctx, run.ID)
	if err != nil {
		return err
	}
	masked, mask := engine.RunMask(run)
	for _, st := range steps {
		st.Outputs, _ = mask.Any(st.Outputs).(map[string]any)
		st.Error = mask.String(st.Error)
	}
	answers, err := s.store.Answers(ctx, run.ID)
	if err != nil {
		return err
	}
	var warnings []string
	if run.Shown() == engine.RunSucceeded {
		for _, w := range engine.Warnings(steps) {
			warnings = append(warnings, mask.String(w))
		}
		sent, err := s.store.Notifications(ctx, run.ID)
		if err != nil {
			return err
		}
		warnings = append(warnings, engine.NotificationWarnings(sent, run.Generation)...)
	}
	if c.json {
		out := toJSON(run)
		out.Params = masked
		out.Deadline = run.Deadline().Seconds()
		out.Warnings = warnings
		for _, st := range steps {
			out.Steps = append(out.Steps, stepJSON{ID: st.StepID, Section: st.Section, Status: string(run.ShownStep(st)),
				Outcome: string(st.Outcome), Conclusion: string(st.Conclusion), StartedAt: st.StartedAt, EndedAt: timePtr(st.EndedAt),
				ExitCode: st.ExitCode, Attempts: st.Attempts, Outputs: st.Outputs, Error: st.Error, User: st.User, Host: st.Host})
		}
		for _, an := range answers {
			out.Answers = append(out.Answers, answerJSON{Step: an.StepID, Question: an.Question, Value: an.Value, Source: an.Source,
				How: an.How(), User: an.User, Host: an.Host, Via: an.Via, At: timePtr(an.At)})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := a.stdout
	shown := string(run.Shown())
	if len(warnings) > 0 {
		shown = fmt.Sprintf("⚠ %s with %d warning%s", shown, len(warnings), plural(len(warnings), "", "s"))
	}
	fmt.Fprintf(w, "run %s  %s  %s\n", run.ID, run.Procedure, shown)
	for _, wr := range warnings {
		fmt.Fprintf(w, "  ⚠ %s\n", wr)
	}
	fmt.Fprintf(w, "started %s", run.StartedAt.Local().Format("2006-01-02 15:04:05"))
	if run.Actor != (engine.Actor{}) {
		fmt.Fprintf(w, " by %s", run.Actor)
	}
	if !run.EndedAt.IsZero() {
		fmt.Fprintf(w, ", took %s", elapsed(run.StartedAt, run.EndedAt))
		if active, whole := run.Active(steps, time.Now()), run.EndedAt.Sub(run.StartedAt); whole-active > 2*time.Second && active < whole*9/10 {
			fmt.Fprintf(w, " from start to end, %s of it running steps (the rest interrupted or waiting)", active.Round(100*time.Millisecond))
		}
		if run.Target > 0 {
			within := "within"
			if run.EndedAt.Sub(run.StartedAt) > run.Target {
				within = "OVER"
			}
			fmt.Fprintf(w, " (%s the %s target)", within, run.Target)
		}
	} else {
		if active := run.Active(steps, time.Now()); run.Shown() != engine.RunRunning && active > 0 {
			fmt.Fprintf(w, ", %s of running steps so far", active.Round(100*time.Millisecond))
		}
		if run.Target > 0 {
			fmt.Fprintf(w, ", target %s", run.Target)
		}
	}
	if d := run.Deadline(); d > 0 {
		fmt.Fprintf(w, "; deadline %s from each start, resume or retry", d)
	}
	fmt.Fprintln(w)
	if len(masked) > 0 {
		keys := make([]string, 0, len(masked))
		for k := range masked {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+shortValue(masked[k]))
		}
		fmt.Fprintf(w, "params: %s\n", strings.Join(parts, " "))
	}
	if run.ParentRun != "" {
		fmt.Fprintf(w, "child of run %s (step %s)\n", run.ParentRun, run.ParentStep)
	}
	if all, err := s.store.Runs(ctx, ""); err == nil {
		for i := len(all) - 1; i >= 0; i-- {
			if c := all[i]; c.ParentRun == run.ID {
				fmt.Fprintf(w, "step %s called run %s (%s, %s)\n", c.ParentStep, c.ID, c.Procedure, c.Shown())
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTEP\tSTATUS\tDURATION\tEXIT\tOUTPUTS")
	for _, st := range steps {
		var outs []string
		keys := make([]string, 0, len(st.Outputs))
		for k := range st.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == maxShownOutputs {
				outs = append(outs, fmt.Sprintf("(+%d more: status --json)", len(keys)-i))
				break
			}
			outs = append(outs, k+"="+shortValue(st.Outputs[k]))
		}
		shown := run.ShownStep(st)
		status := string(shown)
		if st.Status == engine.StepFailed && st.Conclusion == engine.StepSucceeded {
			status += " (continued)"
		}
		d, exit := "", ""
		switch {
		case shown == engine.StepSkipped:
		case shown == engine.StepRunning || !st.EndedAt.IsZero():
			d = elapsed(st.StartedAt, st.EndedAt)
		default:
			d = "cut off" // interrupted: when it stopped is not known
		}
		if !st.EndedAt.IsZero() && shown != engine.StepSkipped {
			exit = fmt.Sprint(st.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st.StepID, status, d, exit, strings.Join(outs, " "))
		if st.Error != "" && st.Status != engine.StepSucceeded {
			fmt.Fprintf(tw, "  └ %s\t\t\t\t\n", st.Error)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := c.answers(ctx, w, s, run, steps, answers); err != nil {
		return err
	}
	switch run.Shown() {
	case engine.RunInterrupted, engine.RunWaiting:
		fmt.Fprintf(w, "\nfinish it with: rbflow resume %s\n", run.ID)
	case engine.RunFailed:
		fmt.Fprintf(w, "\nlogs: rbflow logs %s %s   retry: rbflow retry %s\n", run.ID, run.FailedStep, run.ID)
	}
	return nil
}

// answers prints who answered which prompt, when and how, and the prompts
// that wait for an answer with the command that gives one.
func (c *statusCmd) answers(ctx context.Context, w io.Writer, s *session, run *engine.Run, steps []*engine.StepRecord, answers []engine.Answer) error {
	taken := map[string]bool{}
	header := func() {
		if len(taken) == 0 {
			fmt.Fprintln(w)
		}
		taken[""] = true
	}
	if len(answers) > 0 {
		header()
		fmt.Fprintln(w, "answers:")
	}
	for _, an := range answers {
		taken[an.StepID] = true
		when := ""
		if !an.At.IsZero() {
			when = " at " + an.At.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "  %s: %s, by %s%s, from %s\n", an.StepID, shortValue(an.Value), an.Actor, when, an.How())
	}
	for _, st := range steps {
		if shown := run.ShownStep(st); (shown != engine.StepRunning && shown != engine.StepWaiting) || taken[st.StepID] {
			continue
		}
		q, err := s.store.Question(ctx, run.ID, st.StepID)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		header()
		fmt.Fprintf(w, "%s asks %q since %s", st.StepID, q.Text, q.AskedAt.Local().Format("15:04:05"))
		if !q.Until.IsZero() {
			fmt.Fprintf(w, " (until %s", q.Until.Local().Format("15:04:05"))
			if q.Default != "" {
				fmt.Fprintf(w, ", then %s", q.Default)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintf(w, "; answer with: rbflow answer %s %s=VALUE\n", run.ID, st.StepID)
	}
	return nil
}

// maxShownOutputs is how many outputs of a step the table shows.
const maxShownOutputs = 6

// shortValue renders an output for the status table as JSON would write it
// (nested data too, so a called procedure's outputs read as what they
// are), text as it is, cut to 40 characters; status --json has it whole.
func shortValue(v any) string {
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		s = string(b)
	}
	s = strings.ReplaceAll(s, "\n", "⏎")
	if len([]rune(s)) > 40 {
		s = string([]rune(s)[:37]) + "..."
	}
	return s
}
