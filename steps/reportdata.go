package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/steps/testresult"
)

// ReportData is what a report template sees as its root ("."): the run,
// its params, every step of the procedure in order, the test results, git
// facts about the repository, the procedure's contacts and with.data.
// Secret values are masked. The json report kind prints it.
type ReportData struct {
	Run      ReportRun      `json:"run"`
	Params   map[string]any `json:"params"`
	Steps    []ReportStep   `json:"steps"`
	Tests    TestCounts     `json:"tests"` // every test step added up
	Git      GitFacts       `json:"git"`
	Contacts []Contact      `json:"contacts"`
	Data     map[string]any `json:"data"` // with.data
	Now      time.Time      `json:"now"`
	// Snapshots are the states the run saved before its destructive steps,
	// with what each did not save (reinstallable trees, large files).
	Snapshots []ReportSnapshot `json:"snapshots,omitempty"`
	// Compare is what changed from the baseline to the failed branch
	// (with.data.baseline and failed_branch): analysis reports only.
	Compare *Comparison `json:"compare,omitempty"`
	// Answers are the run's prompts as they were answered, oldest first:
	// who approved what, when and how.
	Answers []ReportAnswer `json:"answers,omitempty"`
}

// ReportAnswer is the answer one prompt step took or was given.
type ReportAnswer struct {
	Step     string    `json:"step"`
	Question string    `json:"question,omitempty"`
	Answer   string    `json:"answer"`
	Source   string    `json:"source"` // answer (--answer), command (rbflow answer), terminal, yes, default, timeout
	How      string    `json:"how"`    // the source in words, with the process and terminal of rbflow answer
	User     string    `json:"user"`   // "timeout" for a default taken when the wait ran out
	Host     string    `json:"host"`
	At       time.Time `json:"at,omitzero"`
}

// ReportSnapshot is one snapshot a run took.
type ReportSnapshot struct {
	Step     string   `json:"step"`
	Ref      string   `json:"ref"`
	Commit   string   `json:"commit"`
	NotSaved []string `json:"not_saved,omitempty"`
}

// ReportRun is the run a report describes.
type ReportRun struct {
	ID          string `json:"id"`
	Procedure   string `json:"procedure"`
	Description string `json:"description,omitempty"`
	Severity    string `json:"severity,omitempty"`
	// Status is the run's status, or while the run is still going (a
	// report in finally) what its main steps came to: succeeded, failed,
	// interrupted, waiting, or running when some have not ended.
	Status     string `json:"status"`
	FailedStep string `json:"failed_step,omitempty"`
	// Warnings: the steps that failed under continue_on_error in a run
	// whose main steps succeeded (SPEC §3: a success with warnings).
	Warnings       []string      `json:"warnings,omitempty"`
	StartedAt      time.Time     `json:"started_at"`
	EndedAt        time.Time     `json:"ended_at,omitzero"`
	Elapsed        time.Duration `json:"-"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	Target         time.Duration `json:"-"`
	TargetSeconds  float64       `json:"target_seconds,omitempty"`
	WithinTarget   bool          `json:"within_target"` // true when there is no target
	OverBy         time.Duration `json:"-"`             // how far past the target, 0 within it
	Attempt        int           `json:"attempt"`       // 1, +1 for each rbflow retry
	Dir            string        `json:"dir"`           // the run's artifact folder
	Source         string        `json:"source"`        // the procedure file, or builtin:NAME
	User           string        `json:"user"`          // who started the run
	Host           string        `json:"host"`          // where
}

// ReportStep is one step of the procedure as the report sees it.
type ReportStep struct {
	ID          string `json:"id"`
	Section     string `json:"section"`
	Kind        string `json:"kind"`
	Description string `json:"description,omitempty"`
	// Status is "not run" for a step without a record yet.
	Status          string         `json:"status"`
	Outcome         string         `json:"outcome,omitempty"`
	Conclusion      string         `json:"conclusion,omitempty"`
	Ran             bool           `json:"ran"`
	StartedAt       time.Time      `json:"started_at,omitzero"`
	EndedAt         time.Time      `json:"ended_at,omitzero"`
	Duration        time.Duration  `json:"-"`
	DurationSeconds float64        `json:"duration_seconds"`
	ExitCode        int            `json:"exit_code"`
	Attempts        int            `json:"attempts,omitempty"`
	Outputs         map[string]any `json:"outputs,omitempty"`
	Error           string         `json:"error,omitempty"`
	Tests           *TestCounts    `json:"tests,omitempty"` // test steps that reported results
}

// TestCounts are the results of one test step, or of all of them.
type TestCounts struct {
	Passed   int           `json:"passed"`
	Failed   int           `json:"failed"`
	Skipped  int           `json:"skipped"`
	Errors   int           `json:"errors"`
	Total    int           `json:"total"`
	Duration float64       `json:"duration"` // seconds
	OK       bool          `json:"ok"`
	Failures []TestFailure `json:"failures"`
	// Format is how the results were read ("exit-code": the suite's exit
	// status only, no count of tests); Ref is the branch (or commit) the
	// tests ran on. Both are per test step, empty in the totals.
	Format string `json:"format,omitempty"`
	Ref    string `json:"ref,omitempty"`
}

// TestFailure is a failed test or an error.
type TestFailure struct {
	Step    string `json:"step"`
	Name    string `json:"name"`
	File    string `json:"file,omitempty"`
	Message string `json:"message,omitempty"`
}

// GitFacts describe the repository when the report was written.
type GitFacts struct {
	Repo        string `json:"repo,omitempty"`
	Branch      string `json:"branch,omitempty"` // "" on a detached HEAD
	Head        string `json:"head,omitempty"`
	HeadShort   string `json:"head_short,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Uncommitted int    `json:"uncommitted"` // entries of git status --porcelain
	// Baseline is with.data.baseline or the baseline param, when it names
	// a commit; BaselineCommit is its "%h %s" and ChangedSinceBaseline the
	// paths git diff --name-only BASELINE lists.
	Baseline             string   `json:"baseline,omitempty"`
	BaselineCommit       string   `json:"baseline_commit,omitempty"`
	ChangedSinceBaseline []string `json:"changed_since_baseline"`
	// UntrackedSecrets are the untracked, not ignored files named like
	// secrets (.env, *.pem, id_rsa*, ...; git.SecretLike): a commit with
	// all: true, such as sprint's WIP commit, leaves them out, and they
	// stay in the work tree and in the run's snapshots.
	UntrackedSecrets []string `json:"untracked_secrets"`
	// Error says what could not be read (no repository, no commit yet).
	Error string `json:"error,omitempty"`
}

// Contact is one of the procedure's contacts.
type Contact struct {
	Role  string `json:"role"`
	Name  string `json:"name"`
	Reach string `json:"reach"`
}

// Value returns with.data[key], else the param key, else nil: the built-in
// reports read sprint, reason, decision, severity, impact, summary,
// lessons, assignee, failed_branch and recovery_branch this way.
func (d *ReportData) Value(key string) any {
	if v, ok := d.Data[key]; ok && v != nil && v != "" {
		return v
	}
	if v, ok := d.Params[key]; ok {
		return v
	}
	return nil
}

// Failed returns the steps whose outcome was failed or that were
// interrupted.
func (d *ReportData) Failed() []ReportStep {
	var out []ReportStep
	for _, s := range d.Steps {
		if s.Outcome == string(engine.StepFailed) || s.Status == string(engine.StepInterrupted) {
			out = append(out, s)
		}
	}
	return out
}

// StepErrors returns the failed steps other than test steps that reported
// results: errors at run time rather than failing tests.
func (d *ReportData) StepErrors() []ReportStep {
	var out []ReportStep
	for _, s := range d.Failed() {
		if s.Tests == nil {
			out = append(out, s)
		}
	}
	return out
}

// Actions returns the steps that ran and succeeded, in order, reports
// left out: what the run did.
func (d *ReportData) Actions() []ReportStep {
	var out []ReportStep
	for _, s := range d.Steps {
		if s.Status == string(engine.StepSucceeded) && s.Kind != "report" {
			out = append(out, s)
		}
	}
	return out
}

// TestSteps returns the steps that reported test results.
func (d *ReportData) TestSteps() []ReportStep {
	var out []ReportStep
	for _, s := range d.Steps {
		if s.Tests != nil {
			out = append(out, s)
		}
	}
	return out
}

// Details is a one-line account of a step: its test counts, and the first
// line of its error (or its exit status when not 0).
func (s ReportStep) Details() string {
	var parts []string
	if s.Tests != nil {
		parts = append(parts, s.Tests.Summary())
	}
	switch {
	case s.Error != "" && !(s.Tests != nil && strings.HasPrefix(s.Error, testsFailedPrefix)):
		parts = append(parts, firstLine(s.Error))
	case s.Error == "" && s.ExitCode != 0 && s.ExitCode != -1:
		parts = append(parts, fmt.Sprintf("exit status %d", s.ExitCode))
	}
	return strings.Join(parts, "; ")
}

// Summary is e.g. "12 passed, 1 failed, 2 skipped, 0 errors".
func (c TestCounts) Summary() string {
	if c.Format == testresult.FormatExitCode {
		// One exit status is not a count of tests.
		if c.OK {
			return "exit code only: the suite passed"
		}
		return "exit code only: the suite failed"
	}
	return fmt.Sprintf("%d passed, %d failed, %d skipped, %d errors", c.Passed, c.Failed, c.Skipped, c.Errors)
}

// Labelled is Summary with the branch the tests ran on.
func (c TestCounts) Labelled() string {
	if c.Ref == "" {
		return c.Summary()
	}
	return "on " + c.Ref + ": " + c.Summary()
}

// Gantt returns the run's timeline as a Mermaid gantt chart in a fenced
// code block: one task per step that started, grouped in sections, tagged
// done (succeeded), crit (failed) or active (running, waiting,
// interrupted).
func (d *ReportData) Gantt() string {
	const layout = "2006-01-02 15:04:05.000"
	var b strings.Builder
	b.WriteString("```mermaid\ngantt\n")
	fmt.Fprintf(&b, "    title %s run %s %s\n", d.Run.Procedure, d.Run.ID, d.Run.Status)
	b.WriteString("    dateFormat YYYY-MM-DD HH:mm:ss.SSS\n")
	b.WriteString("    axisFormat %H:%M:%S\n")
	b.WriteString("    todayMarker off\n")
	section := ""
	for _, s := range d.Steps {
		if !s.Ran {
			continue
		}
		if s.Section != section {
			section = s.Section
			fmt.Fprintf(&b, "    section %s\n", section)
		}
		end := s.EndedAt
		if end.IsZero() {
			end = d.Now
		}
		if end.Before(s.StartedAt) {
			end = s.StartedAt
		}
		tag := ""
		switch engine.StepStatus(s.Status) {
		case engine.StepSucceeded:
			tag = "done, "
		case engine.StepFailed:
			tag = "crit, "
		case engine.StepRunning, engine.StepWaiting, engine.StepInterrupted:
			tag = "active, "
		}
		name := s.ID
		if ganttKeywords[name] {
			name = "step " + name // a task line must not start like a statement
		}
		fmt.Fprintf(&b, "    %s %s :%ss_%s, %s, %s\n", name, s.Status, tag, s.ID,
			s.StartedAt.Local().Format(layout), end.Local().Format(layout))
	}
	b.WriteString("```")
	return b.String()
}

// ganttKeywords start statements in Mermaid's gantt syntax (matched
// without regard to case); a step with such an id gets a prefix.
var ganttKeywords = map[string]bool{
	"gantt": true, "dateformat": true, "inclusiveenddates": true, "topaxis": true, "axisformat": true,
	"tickinterval": true, "includes": true, "excludes": true, "todaymarker": true, "weekday": true,
	"weekend": true, "title": true, "acctitle": true, "accdescr": true, "section": true, "click": true,
	"call": true, "href": true,
}

// JSON returns the data as indented JSON.
func (d *ReportData) JSON() (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("encode report data: %w", err)
	}
	return b.String(), nil
}

// reportData reads the run as it stands for a report.
func reportData(ctx context.Context, x *engine.Exec, data map[string]any) (*ReportData, error) {
	view, err := x.View(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the run: %w", err)
	}
	p := view.Plan.Procedure
	d := &ReportData{Params: view.Params, Data: data, Now: view.Now}
	if d.Params == nil {
		d.Params = map[string]any{}
	}
	if d.Data == nil {
		d.Data = map[string]any{}
	}
	for _, c := range p.Contacts {
		d.Contacts = append(d.Contacts, Contact(c))
	}
	snaps, err := x.Snapshots().Snapshots(ctx, x.RunID)
	if err != nil {
		return nil, fmt.Errorf("read the run's snapshots: %w", err)
	}
	for _, sn := range snaps {
		d.Snapshots = append(d.Snapshots, ReportSnapshot{Step: sn.StepID, Ref: sn.Ref, Commit: sn.Commit, NotSaved: sn.Skipped})
	}
	answers, err := x.Answers().Answers(ctx, x.RunID)
	if err != nil {
		return nil, fmt.Errorf("read the run's answers: %w", err)
	}
	for _, a := range answers {
		d.Answers = append(d.Answers, ReportAnswer{Step: a.StepID, Question: a.Question, Answer: a.Value, Source: a.Source,
			How: a.How(), User: a.User, Host: a.Host, At: a.At})
	}
	recs := map[string]*engine.StepRecord{}
	for _, r := range view.Steps {
		recs[r.StepID] = r
	}
	for _, st := range view.Plan.Steps() {
		d.Steps = append(d.Steps, reportStep(st, recs[st.ID], view.Now))
	}
	for _, s := range d.Steps {
		if s.Tests == nil {
			continue
		}
		t := &d.Tests
		t.Passed += s.Tests.Passed
		t.Failed += s.Tests.Failed
		t.Skipped += s.Tests.Skipped
		t.Errors += s.Tests.Errors
		t.Total += s.Tests.Total
		t.Duration += s.Tests.Duration
		t.Failures = append(t.Failures, s.Tests.Failures...)
	}
	d.Tests.OK = d.Tests.Failed == 0 && d.Tests.Errors == 0
	if d.Tests.Failures == nil {
		d.Tests.Failures = []TestFailure{}
	}

	r := view.Run
	d.Run = ReportRun{
		ID: r.ID, Procedure: r.Procedure, Description: p.Description, Severity: p.Severity,
		StartedAt: r.StartedAt, EndedAt: r.EndedAt, Target: r.Target, Attempt: r.Generation,
		Dir: x.RunDir, Source: r.SourcePath, FailedStep: r.FailedStep, User: r.User, Host: r.Host,
	}
	d.Run.Status, d.Run.FailedStep = runStatus(r, d.Steps)
	if d.Run.Status == string(engine.RunSucceeded) || d.Run.Status == string(engine.RunRunning) {
		d.Run.Warnings = engine.Warnings(view.Steps)
	}
	end := r.EndedAt
	if end.IsZero() {
		end = view.Now
	}
	d.Run.Elapsed = end.Sub(r.StartedAt)
	d.Run.ElapsedSeconds = d.Run.Elapsed.Seconds()
	d.Run.TargetSeconds = r.Target.Seconds()
	d.Run.WithinTarget = r.Target == 0 || d.Run.Elapsed <= r.Target
	if !d.Run.WithinTarget {
		d.Run.OverBy = d.Run.Elapsed - r.Target
	}
	baseline, _ := d.Value("baseline").(string)
	d.Git = gitFacts(ctx, x.Repo, baseline, d.pinned())
	return d, nil
}

// pinned is a commit a report tells of instead of the work tree
// (with.data.at): a report written after the run changed branches still
// tells of the branch it rolled back. The branch is with.data.failed_branch
// (else the ref); the uncommitted count and untracked secrets are
// with.data's (an earlier report's outputs), since a commit has none.
type pinned struct {
	ref, branch string
	uncommitted int
	secrets     []string
}

// pinned reads with.data.at and what goes with it; nil without it.
func (d *ReportData) pinned() *pinned {
	at, _ := d.Value("at").(string)
	if at == "" {
		return nil
	}
	p := &pinned{ref: at, uncommitted: toInt(d.Value("uncommitted"))}
	if p.branch, _ = d.Value("failed_branch").(string); p.branch == "" {
		p.branch = at
	}
	if list, ok := d.Value("untracked_secrets").([]any); ok {
		for _, v := range list {
			p.secrets = append(p.secrets, str(v))
		}
	}
	return p
}

// runStatus is the run's status, or, while it still runs (a report in
// on_failure or finally), what its main steps came to.
func runStatus(r *engine.Run, steps []ReportStep) (status, failedStep string) {
	if r.Status != engine.RunRunning {
		return string(r.Status), r.FailedStep
	}
	status = string(engine.RunSucceeded)
	for _, s := range steps {
		if s.Section != spec.SectionMain {
			continue
		}
		switch {
		case s.Status == string(engine.StepInterrupted) || s.Status == string(engine.StepCancelled):
			return string(engine.RunInterrupted), ""
		case s.Status == string(engine.StepWaiting):
			status = string(engine.RunWaiting)
		case s.Conclusion == string(engine.StepFailed) && failedStep == "":
			failedStep = s.ID
		case !s.Ran || s.Status == string(engine.StepRunning):
			if status == string(engine.RunSucceeded) {
				status = string(engine.RunRunning)
			}
		}
	}
	if failedStep != "" && status != string(engine.RunWaiting) {
		status = string(engine.RunFailed)
	}
	return status, failedStep
}

func reportStep(st *engine.Step, rec *engine.StepRecord, now time.Time) ReportStep {
	s := ReportStep{ID: st.ID, Section: st.Section, Kind: st.Kind, Description: st.Spec.Description, Status: "not run"}
	if rec == nil {
		return s
	}
	s.Status, s.Outcome, s.Conclusion = string(rec.Status), string(rec.Outcome), string(rec.Conclusion)
	s.Ran = !rec.StartedAt.IsZero()
	s.StartedAt, s.EndedAt = rec.StartedAt, rec.EndedAt
	end := rec.EndedAt
	if end.IsZero() && s.Ran {
		end = now
	}
	if s.Ran {
		s.Duration = end.Sub(rec.StartedAt)
		s.DurationSeconds = s.Duration.Seconds()
	}
	s.ExitCode, s.Attempts, s.Outputs, s.Error = rec.ExitCode, rec.Attempts, rec.Outputs, rec.Error
	if st.Kind == "test" {
		s.Tests = testCounts(st.ID, rec.Outputs)
	}
	return s
}

// testCounts reads a test step's outputs back into counts; nil when the
// step reported none (it did not get to read results).
func testCounts(step string, out map[string]any) *TestCounts {
	if _, ok := out["total"]; !ok {
		return nil
	}
	c := &TestCounts{
		Passed: toInt(out["passed"]), Failed: toInt(out["failed"]), Skipped: toInt(out["skipped"]),
		Errors: toInt(out["errors"]), Total: toInt(out["total"]), Duration: toFloat(out["duration"]),
		OK: out["ok"] == true, Failures: []TestFailure{}, Format: str(out["format"]), Ref: str(out["ref"]),
	}
	list, _ := out["failures"].([]any)
	for _, f := range list {
		m, _ := f.(map[string]any)
		c.Failures = append(c.Failures, TestFailure{Step: step, Name: str(m["name"]), File: str(m["file"]), Message: str(m["message"])})
	}
	return c
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	}
	return 0
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	return 0
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// gitFacts reads the branch, HEAD, the count of uncommitted changes and,
// with a baseline, what changed since it, of the work tree or, pinned, of
// a commit. What cannot be read is said in Error; a report is still
// written.
func gitFacts(ctx context.Context, dir, baseline string, at *pinned) GitFacts {
	g := GitFacts{Repo: dir, ChangedSinceBaseline: []string{}, UntrackedSecrets: []string{}}
	if dir == "" {
		g.Error = "not in a git repository"
		return g
	}
	repo, err := git.Open(ctx, dir)
	if err != nil {
		g.Error = err.Error()
		return g
	}
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	q := func(args ...string) string {
		out, err := repo.Git(ctx, args...)
		note(err)
		return strings.TrimSpace(out)
	}
	if at != nil {
		if g.Head, err = repo.ResolveCommit(ctx, at.ref); err != nil {
			g.Error = fmt.Sprintf("with.data.at: %v", err)
			return g
		}
		g.Branch, g.Uncommitted = at.branch, at.uncommitted
		g.UntrackedSecrets = append(g.UntrackedSecrets, at.secrets...)
	} else {
		g.Head, g.Branch, err = repo.HeadBranch(ctx)
		note(err)
		if g.Head == "" && err == nil {
			errs = append(errs, "no commit yet")
		}
		for _, line := range strings.Split(q("status", "--porcelain"), "\n") {
			if line != "" {
				g.Uncommitted++
			}
		}
		secrets, err := repo.UntrackedSecrets(ctx)
		note(err)
		g.UntrackedSecrets = append(g.UntrackedSecrets, secrets...)
	}
	if g.Head != "" {
		g.HeadShort = q("rev-parse", "--short", g.Head)
		g.Subject = q("log", "-1", "--format=%s", g.Head)
	}
	if baseline != "" {
		if sha, err := repo.ResolveCommit(ctx, baseline); err != nil {
			note(fmt.Errorf("baseline: %w", err))
		} else {
			g.Baseline = baseline
			g.BaselineCommit = q("log", "-1", "--format=%h %s", sha)
			var changed []string
			if at != nil {
				changed = strings.Split(q("-c", "core.quotePath=false", "diff", "--name-only", "--no-renames", "-z", "--end-of-options", sha, g.Head), "\x00")
			} else {
				changed, err = repo.ChangedFiles(ctx, sha)
				note(err)
			}
			for _, p := range changed {
				if p != "" {
					g.ChangedSinceBaseline = append(g.ChangedSinceBaseline, p)
				}
			}
			sort.Strings(g.ChangedSinceBaseline)
		}
	}
	g.Error = strings.Join(errs, "; ")
	return g
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
