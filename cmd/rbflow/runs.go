package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
)

type runsCmd struct {
	all  bool
	json bool
}

func (*runsCmd) Name() string    { return "runs" }
func (*runsCmd) Usage() string   { return "[--all] [--json]" }
func (*runsCmd) Summary() string { return "list the runs of this repository, newest first" }
func (c *runsCmd) Flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.all, "all", false, "runs of every repository in the state folder, and child runs")
	fs.BoolVar(&c.json, "json", false, "print JSON")
}

// runJSON is the machine view of a run (runs --json, status --json).
type runJSON struct {
	ID         string         `json:"id"`
	Procedure  string         `json:"procedure"`
	Status     string         `json:"status"`
	StartedAt  time.Time      `json:"started_at"`
	EndedAt    *time.Time     `json:"ended_at"`
	Repo       string         `json:"repo,omitempty"`
	User       string         `json:"user"` // who started the run: "alice", "alice (sudo as root)"
	Host       string         `json:"host"`
	ParentRun  string         `json:"parent_run,omitempty"`
	FailedStep string         `json:"failed_step,omitempty"`
	Target     float64        `json:"target_seconds,omitempty"`
	Deadline   float64        `json:"deadline_seconds,omitempty"` // status only
	Params     map[string]any `json:"params,omitempty"`
	Warnings   []string       `json:"warnings,omitempty"`
	Steps      []stepJSON     `json:"steps,omitempty"`
	Answers    []answerJSON   `json:"answers,omitempty"` // status: who answered the prompts, when and how
}

// answerJSON is one answer to a prompt step (status --json).
type answerJSON struct {
	Step     string     `json:"step"`
	Question string     `json:"question,omitempty"`
	Value    string     `json:"value"`
	Source   string     `json:"source"` // answer (--answer), command (rbflow answer), terminal, yes, default, timeout
	How      string     `json:"how"`    // the source in words
	User     string     `json:"user"`   // "timeout" for a default taken when the wait ran out
	Host     string     `json:"host"`
	Via      string     `json:"via,omitempty"` // rbflow answer's pid and terminal
	At       *time.Time `json:"at"`
}

type stepJSON struct {
	ID         string         `json:"id"`
	Section    string         `json:"section"`
	Status     string         `json:"status"`
	Outcome    string         `json:"outcome,omitempty"`
	Conclusion string         `json:"conclusion,omitempty"`
	StartedAt  time.Time      `json:"started_at"`
	EndedAt    *time.Time     `json:"ended_at"`
	ExitCode   int            `json:"exit_code"`
	Attempts   int            `json:"attempts"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	Error      string         `json:"error,omitempty"`
	User       string         `json:"user"` // who ran this attempt
	Host       string         `json:"host"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toJSON(r *engine.Run) runJSON {
	return runJSON{ID: r.ID, Procedure: r.Procedure, Status: string(r.Shown()), StartedAt: r.StartedAt,
		EndedAt: timePtr(r.EndedAt), Repo: r.Repo, User: r.User, Host: r.Host, ParentRun: r.ParentRun,
		FailedStep: r.FailedStep, Target: r.Target.Seconds()}
}

func (c *runsCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		return usagef("runs takes no arguments")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	repo := s.repo
	if c.all {
		repo = ""
	}
	runs, err := s.store.Runs(ctx, repo)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(a.stdout)
		for _, r := range runs {
			if r.ParentRun != "" && !c.all {
				continue
			}
			if err := enc.Encode(toJSON(r)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(runs) == 0 {
		fmt.Fprintln(a.stdout, "no runs yet")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tPROCEDURE\tSTATUS\tSTARTED\tDURATION\tFAILED STEP")
	for _, r := range runs {
		if r.ParentRun != "" && !c.all {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Procedure, r.Shown(), r.StartedAt.Local().Format("2006-01-02 15:04:05"), elapsed(r.StartedAt, r.EndedAt), orDash(r.FailedStep))
	}
	return tw.Flush()
}
