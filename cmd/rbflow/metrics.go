package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rbflow/rbflow/steps"
	"github.com/spf13/pflag"
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
	events, err := s.store.Events(ctx, steps.EventRollback)
	if err != nil {
		return err
	}
	m := metricsView{steps.ComputeMetrics(runs, events, since)}
	switch {
	case c.json:
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m.Metrics)
	case c.markdown:
		return m.markdown(a.stdout)
	}
	return m.text(a.stdout)
}

// metricsView renders the figures.
type metricsView struct{ steps.Metrics }

// seconds shows a recovery time: to the second, or to a tenth of one when
// it is short.
func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func (m metricsView) withinText() string {
	if m.WithTarget == 0 {
		return "no rollback with a target"
	}
	return fmt.Sprintf("%d of %d (%.0f%%)", m.WithinTarget, m.WithTarget, 100*m.WithinTargetShare)
}

func (m metricsView) recoveryText() (mean, median string) {
	if m.Measured == 0 {
		return "-", "-"
	}
	return seconds(m.MeanRecovery), seconds(m.MedianRecovery)
}

// leftOutText says how many runs undo took back, and the undo runs that
// did it, are not in the figures.
func (m metricsView) leftOutText() string {
	s := fmt.Sprintf("%d undone %s", m.Undone, plural(m.Undone, "run", "runs"))
	if m.UndoRuns > 0 {
		s += fmt.Sprintf(" and the %d undo %s that took them back", m.UndoRuns, plural(m.UndoRuns, "run", "runs"))
	}
	return s
}

func (m metricsView) mostCommonText() string {
	if len(m.TiedCauses) > 0 {
		return fmt.Sprintf("tie: %s (%d each)", strings.Join(m.TiedCauses, ", "), m.ByCause[m.TiedCauses[0]])
	}
	if m.MostCommonCause == "" {
		return "-"
	}
	return fmt.Sprintf("%s (%d)", m.MostCommonCause, m.ByCause[m.MostCommonCause])
}

func (m metricsView) text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if m.Since != nil {
		fmt.Fprintf(tw, "since\t%s\n", m.Since.Local().Format("2006-01-02 15:04"))
	}
	mean, median := m.recoveryText()
	fmt.Fprintf(tw, "runs finished\t%d (%d succeeded, %d failed, %d cancelled)\n", m.Runs, m.Succeeded, m.Failed, m.Cancelled)
	fmt.Fprintf(tw, "rollbacks recorded\t%d\n", m.Rollbacks)
	fmt.Fprintf(tw, "untagged runs\t%d\n", m.Untagged)
	if m.Undone > 0 {
		fmt.Fprintf(tw, "left out\t%s\n", m.leftOutText())
	}
	fmt.Fprintf(tw, "mean recovery time\t%s\n", mean)
	fmt.Fprintf(tw, "median recovery time\t%s\n", median)
	fmt.Fprintf(tw, "within target\t%s\n", m.withinText())
	fmt.Fprintf(tw, "most common cause\t%s\n", m.mostCommonText())
	for _, g := range m.groups() {
		var parts []string
		for _, kv := range steps.Ranked(g.counts) {
			parts = append(parts, fmt.Sprintf("%s %d", kv.Key, kv.N))
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

func (m metricsView) groups() []group {
	return []group{{"cause", m.ByCause}, {"severity", m.BySeverity}, {"level", m.ByLevel}}
}

// markdown prints the figures as Markdown tables and the causes as a
// Mermaid pie chart.
func (m metricsView) markdown(w io.Writer) error {
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
	if m.Undone > 0 {
		fmt.Fprintf(w, "| Left out | %s |\n", m.leftOutText())
	}
	fmt.Fprintf(w, "| Mean recovery time | %s |\n", mean)
	fmt.Fprintf(w, "| Median recovery time | %s |\n", median)
	fmt.Fprintf(w, "| Within target | %s |\n", m.withinText())
	fmt.Fprintf(w, "| Most common cause | %s |\n", cell(m.mostCommonText()))
	for _, g := range m.groups() {
		title := strings.ToUpper(g.name[:1]) + g.name[1:]
		fmt.Fprintf(w, "\n## By %s\n\n| %s | Rollbacks |\n|---|---|\n", g.name, title)
		for _, kv := range steps.Ranked(g.counts) {
			fmt.Fprintf(w, "| %s | %d |\n", cell(kv.Key), kv.N)
		}
	}
	if len(m.ByCause) > 0 {
		fmt.Fprintf(w, "\n```mermaid\npie title Rollbacks by cause\n")
		for _, kv := range steps.Ranked(m.ByCause) {
			label := strings.NewReplacer(`"`, "'", "\n", " ", "\r", " ").Replace(kv.Key)
			fmt.Fprintf(w, "    \"%s\" : %d\n", label, kv.N)
		}
		fmt.Fprintf(w, "```\n")
	}
	return nil
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
