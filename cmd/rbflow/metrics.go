package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
)

// metricsCmd is the seed's rollback-metrics script, computed from the runs
// themselves: record: rollback steps tag a run with its cause, severity and
// level, and the run's own start and end give its recovery time.
type metricsCmd struct {
	since    string
	json     bool
	markdown bool
}

func (*metricsCmd) Name() string  { return "metrics" }
func (*metricsCmd) Usage() string { return "[--since D] [--json|--markdown]" }
func (*metricsCmd) Summary() string {
	return "rollback metrics: totals, causes, severities, levels, recovery times and targets"
}
func (c *metricsCmd) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.since, "since", "", "only runs started in the last `D` (7d, 2w, 36h) or since a date (2025-06-01)")
	fs.BoolVar(&c.json, "json", false, "print JSON")
	fs.BoolVar(&c.markdown, "markdown", false, "print Markdown with a Mermaid chart of the causes")
}

// severityTargets are the recovery times of the seed's decision matrix, the
// target of a tagged run whose procedure sets none.
var severityTargets = map[string]time.Duration{
	"critical": 5 * time.Minute,
	"high":     15 * time.Minute,
	"medium":   30 * time.Minute,
}

// unspecified counts tags without a value.
const unspecified = "unspecified"

// metrics are the figures rbflow metrics prints.
type metrics struct {
	Since             *time.Time     `json:"since,omitempty"`
	Runs              int            `json:"runs"`      // finished top-level runs
	Succeeded         int            `json:"succeeded"` // of those
	Failed            int            `json:"failed"`
	Cancelled         int            `json:"cancelled"`
	Rollbacks         int            `json:"rollbacks"` // runs tagged by record: rollback
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
	MostCommonCause   string         `json:"most_common_cause"`
}

// tag is what record: rollback said about a run.
type tag struct {
	cause, severity, level string
	target                 time.Duration // of the run that recorded it
}

// computeMetrics counts the finished top-level runs that started at or
// after since. A rollback recorded in a child run (a call step) tags the
// top-level run that called it; a run tagged twice keeps its last tag.
// Recovery time is measured on tagged runs that ended succeeded or failed
// (a cancelled run was given up, not recovered). A run is within its
// target when it succeeded no later than its target: the procedure's, or
// else the decision matrix's for its severity.
func computeMetrics(runs []*engine.Run, events []store.Event, since time.Time) metrics {
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
		if e.Kind != "rollback" {
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

	m := metrics{ByCause: map[string]int{}, BySeverity: map[string]int{}, ByLevel: map[string]int{}}
	if !since.IsZero() {
		m.Since = &since
	}
	var times []time.Duration
	for _, r := range runs {
		if r.ParentRun != "" || !r.Status.Finished() || r.StartedAt.Before(since) {
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
	for _, kv := range ranked(m.ByCause) {
		if kv.key != unspecified {
			m.MostCommonCause = kv.key
			break
		}
	}
	return m
}

type count struct {
	key string
	n   int
}

// ranked orders counts by size, then by name.
func ranked(counts map[string]int) []count {
	out := make([]count, 0, len(counts))
	for k, n := range counts {
		out = append(out, count{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].key < out[j].key
	})
	return out
}

// parseSince reads --since: a number of days (7d) or weeks (2w), a Go
// duration (36h, 90m), or a date (2025-06-01, or RFC 3339).
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			if f, err := strconv.ParseFloat(n, 64); err == nil && f >= 0 {
				return now.Add(-time.Duration(f * float64(unit))), nil
			}
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--since %q: want a duration (7d, 2w, 36h) or a date (2025-06-01)", s)
}

func (c *metricsCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		return usagef("metrics takes no arguments")
	}
	if c.json && c.markdown {
		return usagef("--json and --markdown: choose one")
	}
	since, err := parseSince(c.since, time.Now())
	if err != nil {
		return err
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	runs, err := s.store.Runs(ctx, s.repo)
	if err != nil {
		return err
	}
	events, err := s.store.Events(ctx, "rollback")
	if err != nil {
		return err
	}
	m := computeMetrics(runs, events, since)
	switch {
	case c.json:
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	case c.markdown:
		return m.markdown(a.stdout)
	}
	return m.text(a.stdout)
}

// seconds shows a recovery time: to the second, or to a tenth of one when
// it is short.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func (m metrics) withinText() string {
	if m.WithTarget == 0 {
		return "no rollback with a target"
	}
	return fmt.Sprintf("%d of %d (%.0f%%)", m.WithinTarget, m.WithTarget, 100*m.WithinTargetShare)
}

func (m metrics) recoveryText() (mean, median string) {
	if m.Measured == 0 {
		return "-", "-"
	}
	return seconds(m.MeanRecovery), seconds(m.MedianRecovery)
}

func (m metrics) mostCommonText() string {
	if m.MostCommonCause == "" {
		return "-"
	}
	return fmt.Sprintf("%s (%d)", m.MostCommonCause, m.ByCause[m.MostCommonCause])
}

func (m metrics) text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if m.Since != nil {
		fmt.Fprintf(tw, "since\t%s\n", m.Since.Local().Format("2006-01-02 15:04"))
	}
	mean, median := m.recoveryText()
	fmt.Fprintf(tw, "runs finished\t%d (%d succeeded, %d failed, %d cancelled)\n", m.Runs, m.Succeeded, m.Failed, m.Cancelled)
	fmt.Fprintf(tw, "rollbacks recorded\t%d\n", m.Rollbacks)
	fmt.Fprintf(tw, "untagged runs\t%d\n", m.Untagged)
	fmt.Fprintf(tw, "mean recovery time\t%s\n", mean)
	fmt.Fprintf(tw, "median recovery time\t%s\n", median)
	fmt.Fprintf(tw, "within target\t%s\n", m.withinText())
	fmt.Fprintf(tw, "most common cause\t%s\n", m.mostCommonText())
	for _, g := range m.groups() {
		var parts []string
		for _, kv := range ranked(g.counts) {
			parts = append(parts, fmt.Sprintf("%s %d", kv.key, kv.n))
		}
		if len(parts) == 0 {
			parts = []string{"-"}
		}
		fmt.Fprintf(tw, "by %s\t%s\n", g.name, strings.Join(parts, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m.Rollbacks == 0 {
		fmt.Fprintln(w, "\nno rollbacks recorded yet: a record: rollback step with a cause tags a run")
	}
	return nil
}

type group struct {
	name   string
	counts map[string]int
}

func (m metrics) groups() []group {
	return []group{{"cause", m.ByCause}, {"severity", m.BySeverity}, {"level", m.ByLevel}}
}

// markdown prints the figures as Markdown tables and the causes as a
// Mermaid pie chart.
func (m metrics) markdown(w io.Writer) error {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	mean, median := m.recoveryText()
	fmt.Fprintf(w, "# Rollback metrics\n\n")
	if m.Since != nil {
		fmt.Fprintf(w, "Since %s.\n\n", m.Since.Local().Format("2006-01-02 15:04"))
	}
	fmt.Fprintf(w, "| Figure | Value |\n|---|---|\n")
	fmt.Fprintf(w, "| Runs finished | %d (%d succeeded, %d failed, %d cancelled) |\n", m.Runs, m.Succeeded, m.Failed, m.Cancelled)
	fmt.Fprintf(w, "| Rollbacks recorded | %d |\n", m.Rollbacks)
	fmt.Fprintf(w, "| Untagged runs | %d |\n", m.Untagged)
	fmt.Fprintf(w, "| Mean recovery time | %s |\n", mean)
	fmt.Fprintf(w, "| Median recovery time | %s |\n", median)
	fmt.Fprintf(w, "| Within target | %s |\n", m.withinText())
	fmt.Fprintf(w, "| Most common cause | %s |\n", cell(m.mostCommonText()))
	for _, g := range m.groups() {
		title := strings.ToUpper(g.name[:1]) + g.name[1:]
		fmt.Fprintf(w, "\n## By %s\n\n| %s | Rollbacks |\n|---|---|\n", g.name, title)
		for _, kv := range ranked(g.counts) {
			fmt.Fprintf(w, "| %s | %d |\n", cell(kv.key), kv.n)
		}
	}
	if len(m.ByCause) > 0 {
		fmt.Fprintf(w, "\n```mermaid\npie title Rollbacks by cause\n")
		for _, kv := range ranked(m.ByCause) {
			label := strings.NewReplacer(`"`, "'", "\n", " ", "\r", " ").Replace(kv.key)
			fmt.Fprintf(w, "    \"%s\" : %d\n", label, kv.n)
		}
		fmt.Fprintf(w, "```\n")
	}
	return nil
}
