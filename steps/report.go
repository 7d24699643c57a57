package steps

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
)

// Report kinds built in.
const (
	ReportSummary      = "summary"
	ReportFailure      = "failure"
	ReportAnalysis     = "analysis"
	ReportNotification = "notification"
	ReportJSON         = "json"
)

// reportKind is the report step (SPEC §7): `report: PATH` renders a Go
// text/template with the run's data (ReportData: the run and its time
// against the target, params, every step with its status, times, outputs
// and test results, git facts, contacts) and writes it to the run's folder
// and to PATH, relative to the step's dir (the repository root unless dir:
// says otherwise), creating its folders. `report: "-"` prints it into the
// step's output instead.
//
// with (one of kind, template and template_file; kind summary when none):
//   - kind: summary (Markdown: the run, with.data as its outcome, its
//     steps and a Mermaid gantt timeline), failure (the seed's sprint
//     failure report), analysis (the seed's failure analysis),
//     notification (the seed's team notification, with the procedure's
//     contacts) or json (ReportData as JSON).
//   - template: the template text; checked when the procedure loads,
//     unless it holds ${{ }}.
//   - template_file: a file holding the template, relative to the step's
//     dir, read when the step runs.
//   - data: a map of extra values, .Data in the template. The built-in
//     reports take sprint, reason, decision, severity, impact, summary,
//     lessons, assignee, baseline, failed_branch and recovery_branch from
//     it (.Value falls back to the param of the same name).
//
// Besides text/template's own, templates have the functions mark (a
// status mark), time, duration, cell (text made safe for a Markdown table
// cell), firstLine, join, json and add. Secrets are masked in the output.
//
// Outputs: path (where the report was written: PATH, or the run folder's
// copy for "-") and run_path (the copy in the run folder, named after the
// step).
type reportKind struct{}

var _ engine.Kind = reportKind{}

var reportKinds = []string{ReportSummary, ReportFailure, ReportAnalysis, ReportNotification, ReportJSON}

//go:embed reports/*.md.tmpl
var reportFS embed.FS

// builtinReports are the built-in templates, parsed once when a report
// first needs them (not at start-up: every step's reaper is this binary); a
// mistake in them is a programming error that the tests catch.
var builtinReports = sync.OnceValue(func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, k := range reportKinds {
		if k == ReportJSON {
			continue
		}
		text, err := reportFS.ReadFile("reports/" + k + ".md.tmpl")
		if err != nil {
			panic(err)
		}
		m[k] = template.Must(template.New(k).Funcs(reportFuncs).Parse(string(text)))
	}
	return m
})

var reportFuncs = template.FuncMap{
	"mark": func(status string) string {
		switch engine.StepStatus(status) {
		case engine.StepSucceeded:
			return "✅"
		case engine.StepFailed, engine.StepCancelled:
			return "❌"
		case engine.StepSkipped:
			return "⏭️"
		case engine.StepInterrupted, engine.StepWaiting:
			return "⏸️"
		case engine.StepRunning:
			return "▶️"
		}
		return "·"
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("2006-01-02 15:04:05 MST")
	},
	"duration": func(d time.Duration) string {
		if d >= time.Minute {
			return d.Round(time.Second).String()
		}
		return d.Round(10 * time.Millisecond).String()
	},
	"cell": func(s string) string {
		s = strings.ReplaceAll(strings.TrimSpace(s), "|", `\|`)
		return strings.ReplaceAll(s, "\n", "<br>")
	},
	"firstLine": firstLine,
	"join": func(sep string, v any) string {
		switch l := v.(type) {
		case []string:
			return strings.Join(l, sep)
		case []any:
			parts := make([]string, len(l))
			for i, e := range l {
				parts[i] = eval.Text(e)
			}
			return strings.Join(parts, sep)
		}
		return eval.Text(v)
	},
	"json": func(v any) (string, error) {
		b, err := json.MarshalIndent(v, "", "  ")
		return string(b), err
	},
	"add": func(a, b int) int { return a + b },
}

// Signature: a path, and what to render.
func (reportKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: `the file to write, or "-" for the step's output`,
		With: []engine.Field{
			{Name: "kind", Type: engine.String, Enum: reportKinds, Description: "a built-in report (the default: summary)"},
			{Name: "template", Type: engine.String, Description: "a Go text/template over the run's data"},
			{Name: "template_file", Type: engine.String, Description: "a file holding the template"},
			{Name: "data", Type: engine.Map, Description: "more values for the template"},
		},
	}
}

func (reportKind) Compile(c *engine.KindContext) engine.Action {
	args := c.With()
	if c.Step.Arg == nil || c.Step.Arg.Kind != spec.Scalar || strings.TrimSpace(c.Step.Arg.Str) == "" {
		c.Errorf(c.Step.KindPos, `report needs a path to write to, or "-" to print it`)
		return nil
	}
	path := c.ArgTemplate()
	a := &reportAction{path: path, args: args, kind: ReportSummary}
	var given []string
	for _, n := range []string{"kind", "template", "template_file"} {
		if args.Has(n) {
			given = append(given, n)
		}
	}
	if len(given) > 1 {
		c.Errorf(args.Pos(given[1]), "with.%s and with.%s: give one of kind, template and template_file", given[0], given[1])
	}
	if k, ok := args.Literal("kind"); ok {
		a.kind = k.(string)
	} else if args.Has("kind") || len(given) > 0 {
		a.kind = ""
	}
	if v := c.Step.With.Get("template"); v != nil && v.Kind == spec.Scalar && !strings.Contains(v.Str, "${{") {
		t, err := parseReport("with.template", v.Str)
		if err != nil {
			line, msg := templateErrorLine(err)
			pos := v.Pos
			if line > 0 {
				pos = c.Procedure.Source.Locate(v, lineOffset(v.Str, line))
			}
			c.Errorf(pos, "with.template: %s", msg)
		}
		a.parsed = t
	}
	if path == nil {
		return nil
	}
	return a
}

type reportAction struct {
	path   *eval.Template
	args   *engine.Args
	kind   string             // a literal kind, "" when a template or an expression decides
	parsed *template.Template // a literal with.template, parsed at load
}

// DefaultOnResume: rerun; a report is written again from the run as it stands.
func (*reportAction) DefaultOnResume() string { return "rerun" }

func parseReport(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(reportFuncs).Option("missingkey=zero").Parse(text)
}

var templateErrRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`) })

// templateErrorLine splits "template: NAME:LINE: msg" into its line and
// message.
func templateErrorLine(err error) (int, string) {
	m := templateErrRE().FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	n, _ := strconv.Atoi(m[1])
	return n, fmt.Sprintf("line %d: %s", n, m[2])
}

// lineOffset is the byte offset of the start of line n (from 1) in s.
func lineOffset(s string, n int) int {
	off := 0
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s[off:], '\n')
		if j < 0 {
			return off
		}
		off += j + 1
	}
	return off
}

// resolve returns the kind and, for a template, the parsed template.
func (a *reportAction) resolve(x *engine.Exec) (string, *template.Template, error) {
	if a.kind != "" {
		return a.kind, builtinReports()[a.kind], nil
	}
	if a.parsed != nil {
		return "template", a.parsed, nil
	}
	if a.args.Has("kind") {
		k, err := x.String(a.args, "kind")
		return k, builtinReports()[k], err
	}
	if a.args.Has("template") {
		// A value in the template is data: it reaches the report as a
		// string literal, never as template code.
		text, err := x.StringEach(a.args, "template", func(v string) string { return "{{" + strconv.Quote(v) + "}}" })
		if err != nil {
			return "", nil, err
		}
		t, err := parseReport("with.template", text)
		if err != nil {
			_, msg := templateErrorLine(err)
			return "", nil, fmt.Errorf("with.template: %s", msg)
		}
		return "template", t, nil
	}
	name, err := x.String(a.args, "template_file")
	if err != nil {
		return "", nil, err
	}
	file := name
	if !filepath.IsAbs(file) {
		file = filepath.Join(x.Dir, file)
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return "", nil, fmt.Errorf("with.template_file: %w", err)
	}
	t, err := parseReport(name, string(text))
	if err != nil {
		_, msg := templateErrorLine(err)
		return "", nil, fmt.Errorf("with.template_file %s: %s", name, msg)
	}
	return "template", t, nil
}

// targets returns where the report goes: the file named by the step (""
// for "-") and the copy in the run folder.
func (a *reportAction) targets(x *engine.Exec, kind string) (dest, runCopy string, err error) {
	p, err := x.Render(a.path)
	if err != nil {
		return "", "", err
	}
	p = strings.TrimSpace(p)
	if p == "" {
		return "", "", fmt.Errorf(`the report path is empty; use "-" to print the report`)
	}
	ext := ".md"
	if kind == ReportJSON {
		ext = ".json"
	}
	if p != "-" {
		dest = p
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(x.Dir, dest)
		}
		if !a.path.IsLiteral() {
			base := x.Repo
			if base == "" {
				base = x.Dir
			}
			if err := confined(dest, base, x.RunDir); err != nil {
				return "", "", err
			}
		}
		if e := filepath.Ext(dest); e != "" && kind != ReportJSON {
			ext = e
		}
	}
	return dest, filepath.Join(x.RunDir, x.StepID+ext), nil
}

// confined refuses a report path a value gave that leads out of the
// repository and the run folder (../../etc/...): only a path the author
// wrote may go elsewhere.
func confined(dest string, roots ...string) error {
	real := realPath(dest)
	for _, root := range roots {
		if root == "" {
			continue
		}
		if rel, err := filepath.Rel(realPath(root), real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
	}
	return fmt.Errorf("the report path %s, built from a value, leads out of the repository and the run folder: write such a path literally in the procedure", dest)
}

// realPath resolves the symlinks of the longest part of p that exists.
func realPath(p string) string {
	p = filepath.Clean(p)
	rest := ""
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// Describe says what would be rendered and where it would go.
func (a *reportAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	kind, _, err := a.resolve(x)
	if err != nil {
		return "", err
	}
	dest, _, err := a.targets(x, kind)
	if err != nil {
		return "", err
	}
	what := kind + " report"
	if kind == "template" {
		what = "report from with.template"
		if a.args.Has("template_file") {
			f, _ := x.String(a.args, "template_file")
			what = "report from " + f
		}
	}
	if dest == "" {
		return fmt.Sprintf("print the %s (and keep a copy in the run folder)", what), nil
	}
	return fmt.Sprintf("write the %s to %s (and a copy in the run folder)", what, dest), nil
}

func (a *reportAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	kind, tmpl, err := a.resolve(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	dest, runCopy, err := a.targets(x, kind)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	var data map[string]any
	if a.args.Has("data") {
		v, err := x.Value(a.args, "data")
		if err != nil {
			return engine.Result{ExitCode: -1}, err
		}
		m, ok := v.(map[string]any)
		if !ok {
			return engine.Result{ExitCode: -1}, fmt.Errorf("with.data must be a map, not %T", v)
		}
		data = m
	}
	d, err := reportData(ctx, x, data)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	if kind == "analysis" && d.Git.Baseline != "" && x.Repo != "" {
		if failed, _ := d.Value("failed_branch").(string); failed != "" {
			d.Compare = compareBranches(ctx, x.Repo, d.Git.Baseline, failed)
		}
	}
	var text string
	if kind == ReportJSON {
		if text, err = d.JSON(); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
	} else {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, d); err != nil {
			return engine.Result{ExitCode: -1}, fmt.Errorf("render the report: %w", err)
		}
		text = b.String()
	}
	// Params and outputs come masked; with.data and git may not.
	text = x.Mask(text)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if err := writeReport(runCopy, text, 0o600); err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	secrets := make([]any, len(d.Git.UntrackedSecrets))
	for i, p := range d.Git.UntrackedSecrets {
		secrets[i] = p
	}
	// The git facts a later report of the same state needs (with.data.at).
	out := map[string]any{"path": runCopy, "run_path": runCopy, "uncommitted": d.Git.Uncommitted, "untracked_secrets": secrets}
	switch {
	case dest == "":
		_, _ = io.WriteString(x.Log, text)
	case filepath.Clean(dest) != filepath.Clean(runCopy):
		if err := writeReport(dest, text, 0o644); err != nil {
			return engine.Result{ExitCode: -1, Outputs: out}, err
		}
		out["path"] = dest
		fmt.Fprintf(x.Log, "wrote the %s report to %s\n", kind, dest)
	default:
		fmt.Fprintf(x.Log, "wrote the %s report to %s\n", kind, dest)
	}
	return engine.Result{Outputs: out}, nil
}

// writeReport writes a report whole or not at all: a reader never sees half
// of one.
func writeReport(path, text string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}
