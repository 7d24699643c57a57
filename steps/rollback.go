package steps

import (
	"context"
	"fmt"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

// Rollback is what the store holds of a repository's latest rollback: the
// facts analyze, notify and checklist start from (SPEC §12), so that a
// person does not type again what rbflow saw happen.
type Rollback struct {
	Run      *engine.Run
	Level    string // emergency, sprint, selective (the record step's level)
	Cause    string
	Severity string
	Sprint   string
	// Baseline is the branch rolled back to (the run's baseline param).
	Baseline string
	// FailedBranch is the branch checked out when the rollback began (the
	// sprint's inspect step names it; otherwise the first git step's).
	FailedBranch string
	FailedCommit string
	// Branch is the branch the rollback left checked out.
	Branch   string
	Branches []string // branches it made, in order
	Actions  []string // what it did, in order: "description (`id`)"
}

// LatestRollback returns the newest finished run of repo that recorded a
// rollback (a record: rollback step that succeeded) and was not undone,
// or nil when there is none. Runs a procedure called count as their own
// (a triage that called emergency: the emergency run).
//
// Only runs that recorded a rollback event are read (their text compiled,
// their steps read): the others are left out by one query.
func LatestRollback(ctx context.Context, st engine.RunStore, ev engine.EventStore, plan func(*engine.Run) (*engine.Plan, error), repo string) (*Rollback, error) {
	events, err := ev.Events(ctx, EventRollback)
	if err != nil {
		return nil, err
	}
	tagged := make(map[string]bool, len(events))
	for _, e := range events {
		tagged[e.RunID] = true
	}
	runs, err := st.Runs(ctx, repo)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if !tagged[r.ID] || r.EndedAt.IsZero() || r.UndoneBy != "" || r.Repo != repo {
			continue
		}
		p, err := plan(r)
		if err != nil {
			continue // written for another rbflow: nothing to read from it
		}
		recs, err := st.Steps(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if rb := rollbackOf(r, p, recs); rb != nil {
			return rb, nil
		}
	}
	return nil, nil
}

// rollbackOf reads a run's rollback facts, or nil when it recorded none.
func rollbackOf(r *engine.Run, p *engine.Plan, recs []*engine.StepRecord) *Rollback {
	rb := &Rollback{Run: r}
	recorded := false
	for _, rec := range recs {
		step, ok := p.Step(rec.StepID)
		if !ok || step.Action == nil || rec.Status != engine.StepSucceeded {
			continue
		}
		out := rec.Outputs
		switch a := step.Action.(type) {
		case *recordAction:
			if a.kind == EventRollback {
				recorded = true
				rb.Level, rb.Cause, rb.Severity = str(out["level"]), str(out["cause"]), str(out["severity"])
				if out["sprint"] != nil {
					rb.Sprint = str(out["sprint"])
				}
			}
			continue
		case *gitStep:
			if rb.FailedBranch == "" {
				rb.FailedBranch = str(out["branch"])
				rb.FailedCommit = str(out["head"])
			}
			if b := str(out["branch"]); b != "" {
				rb.Branch = b
			}
			if a.name == "branch" && out["deleted"] == nil {
				if name := str(out["name"]); name != "" {
					rb.Branches = append(rb.Branches, name)
				}
			}
		case *reportAction, *promptAction:
			continue
		}
		if fb := str(out["failed_branch"]); fb != "" {
			rb.FailedBranch = fb
		}
		if step.Section != spec.SectionMain {
			continue
		}
		what := rec.StepID
		if d := step.Spec.Description; d != "" {
			what = fmt.Sprintf("%s (`%s`)", d, rec.StepID)
		}
		rb.Actions = append(rb.Actions, what)
	}
	if !recorded {
		return nil
	}
	if b, ok := r.Params["baseline"].(string); ok {
		rb.Baseline = b
	}
	if rb.Sprint == "" && r.Params["sprint"] != nil {
		rb.Sprint = str(r.Params["sprint"])
	}
	return rb
}

// Outputs are the facts as a step's outputs (record: last_rollback).
func (rb *Rollback) Outputs() map[string]any {
	if rb == nil {
		return map[string]any{"found": false, "branches": []any{}, "actions": []any{}}
	}
	list := func(s []string) []any {
		out := make([]any, len(s))
		for i, v := range s {
			out[i] = v
		}
		return out
	}
	r := rb.Run
	return map[string]any{
		"found":         true,
		"run_id":        r.ID,
		"procedure":     r.Procedure,
		"status":        string(r.Shown()),
		"started_at":    r.StartedAt.UTC().Format(time.RFC3339),
		"ended_at":      r.EndedAt.UTC().Format(time.RFC3339),
		"took":          r.EndedAt.Sub(r.StartedAt).Round(time.Second).String(),
		"level":         rb.Level,
		"cause":         rb.Cause,
		"severity":      rb.Severity,
		"sprint":        rb.Sprint,
		"baseline":      rb.Baseline,
		"failed_branch": rb.FailedBranch,
		"failed_commit": rb.FailedCommit,
		"branch":        rb.Branch,
		"branches":      list(rb.Branches),
		"actions":       list(rb.Actions),
	}
}
