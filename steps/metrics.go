package steps

import (
	"fmt"
	"sort"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// severityTargets are the recovery times of the seed's decision matrix, the
// target of a tagged run whose procedure sets none.
var severityTargets = map[string]time.Duration{
	"critical": 5 * time.Minute,
	"high":     15 * time.Minute,
	"medium":   30 * time.Minute,
}

// unspecified counts tags without a value.
const unspecified = "unspecified"

// Metrics are the figures of rbflow metrics: the seed's rollback-metrics
// script, computed from the runs and the events record steps keep.
type Metrics struct {
	Since             *time.Time     `json:"since,omitempty"`
	Runs              int            `json:"runs"`      // finished top-level runs, undone ones and their undo runs left out
	Succeeded         int            `json:"succeeded"` // of those
	Failed            int            `json:"failed"`
	Cancelled         int            `json:"cancelled"`
	Rollbacks         int            `json:"rollbacks"` // runs tagged by record: rollback, not undone
	Undone            int            `json:"undone"`    // runs that rbflow undo undid: left out of every figure
	UndoRuns          int            `json:"undo_runs"` // the undo runs that undid them, left out too
	Untagged          int            `json:"untagged"`
	ByCause           map[string]int `json:"by_cause"`
	BySeverity        map[string]int `json:"by_severity"`
	ByLevel           map[string]int `json:"by_level"`
	Measured          int            `json:"measured"` // rollbacks with a recovery time
	MeanRecovery      float64        `json:"mean_recovery_seconds"`
	MedianRecovery    float64        `json:"median_recovery_seconds"`
	WithTarget        int            `json:"with_target"`
	WithinTarget      int            `json:"within_target"`
	WithinTargetShare float64        `json:"within_target_share"`
	MostCommonCause   string         `json:"most_common_cause"`     // "" when none, or when causes tie
	TiedCauses        []string       `json:"tied_causes,omitempty"` // the causes that share the highest count, when more than one does
}

// tag is what record: rollback said about a run.
type tag struct {
	cause, severity, level string
	target                 time.Duration // of the run that recorded it
}

// ComputeMetrics counts the finished top-level runs that started at or
// after since. A rollback recorded in a child run (a call step) tags the
// top-level run that called it; a run tagged twice keeps its last tag.
// Recovery time is measured on tagged runs that ended succeeded or failed
// (a cancelled run was given up, not recovered). A run is within its
// target when it succeeded no later than its target: the procedure's, or
// else the decision matrix's for its severity. A run that rbflow undo undid
// and the undo run that undid it are left out of every figure and only
// counted as left out: together they changed nothing.
func ComputeMetrics(runs []*engine.Run, events []engine.RecordedEvent, since time.Time) Metrics {
	byID := make(map[string]*engine.Run, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	root := func(r *engine.Run) *engine.Run {
		for i := 0; r.ParentRun != "" && i < 100; i++ {
			p, ok := byID[r.ParentRun]
			if !ok {
				break
			}
			r = p
		}
		return r
	}
	tags := map[string]tag{}
	for _, e := range events {
		if e.Kind != EventRollback {
			continue
		}
		r, ok := byID[e.RunID]
		if !ok {
			continue
		}
		text := func(k string) string {
			if v, ok := e.Data[k]; ok && v != nil && fmt.Sprint(v) != "" {
				return fmt.Sprint(v)
			}
			return unspecified
		}
		tags[root(r).ID] = tag{cause: text("cause"), severity: text("severity"), level: text("level"), target: r.Target}
	}

	m := Metrics{ByCause: map[string]int{}, BySeverity: map[string]int{}, ByLevel: map[string]int{}}
	if !since.IsZero() {
		m.Since = &since
	}
	undoers := map[string]bool{}
	for _, r := range runs {
		if r.UndoneBy != "" {
			undoers[r.UndoneBy] = true
		}
	}
	var times []time.Duration
	for _, r := range runs {
		if r.ParentRun != "" || !r.Status.Finished() || r.StartedAt.Before(since) {
			continue
		}
		switch {
		case r.UndoneBy != "":
			m.Undone++
			continue
		case undoers[r.ID]:
			m.UndoRuns++
			continue
		}
		m.Runs++
		switch r.Status {
		case engine.RunSucceeded:
			m.Succeeded++
		case engine.RunFailed:
			m.Failed++
		case engine.RunCancelled:
			m.Cancelled++
		}
		t, ok := tags[r.ID]
		if !ok {
			m.Untagged++
			continue
		}
		m.Rollbacks++
		m.ByCause[t.cause]++
		m.BySeverity[t.severity]++
		m.ByLevel[t.level]++
		if r.Status == engine.RunCancelled || r.EndedAt.IsZero() {
			continue
		}
		d := r.EndedAt.Sub(r.StartedAt)
		times = append(times, d)
		target := r.Target
		if target <= 0 {
			target = t.target
		}
		if target <= 0 {
			target = severityTargets[t.severity]
		}
		if target > 0 {
			m.WithTarget++
			if r.Status == engine.RunSucceeded && d <= target {
				m.WithinTarget++
			}
		}
	}
	m.Measured = len(times)
	if len(times) > 0 {
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		var sum time.Duration
		for _, d := range times {
			sum += d
		}
		m.MeanRecovery = (sum / time.Duration(len(times))).Seconds()
		mid := len(times) / 2
		if len(times)%2 == 1 {
			m.MedianRecovery = times[mid].Seconds()
		} else {
			m.MedianRecovery = ((times[mid-1] + times[mid]) / 2).Seconds()
		}
	}
	if m.WithTarget > 0 {
		m.WithinTargetShare = float64(m.WithinTarget) / float64(m.WithTarget)
	}
	var top []string
	for _, kv := range Ranked(m.ByCause) {
		if kv.Key == unspecified {
			continue
		}
		if len(top) > 0 && kv.N < m.ByCause[top[0]] {
			break
		}
		top = append(top, kv.Key)
	}
	switch {
	case len(top) == 1:
		m.MostCommonCause = top[0]
	case len(top) > 1:
		m.TiedCauses = top
	}
	return m
}

// Count is one figure of a group: a cause, severity or level, and how
// many rollbacks had it.
type Count struct {
	Key string
	N   int
}

// Ranked orders counts by size, then by name.
func Ranked(counts map[string]int) []Count {
	out := make([]Count, 0, len(counts))
	for k, n := range counts {
		out = append(out, Count{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Key < out[j].Key
	})
	return out
}
