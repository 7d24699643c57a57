package steps

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/git"
)

// Finding is one thing the analysis report found in the data, with what
// to do about it: the report's Likely Causes and Recommended Actions.
type Finding struct {
	Cause  string   `json:"cause"`            // short: "Dependencies changed"
	Detail []string `json:"detail,omitempty"` // the evidence, one line each
	Action string   `json:"action"`           // what to do, with the command
}

// Comparison is what changed between the baseline and the failed branch.
type Comparison struct {
	Baseline     string      `json:"baseline"`
	Failed       string      `json:"failed"`
	Commits      int         `json:"commits"` // on the failed branch since the merge base
	Files        []FileDelta `json:"files"`   // git diff --numstat BASELINE...FAILED
	Dependencies []DepChange `json:"dependencies,omitempty"`
	Error        string      `json:"error,omitempty"`
}

// FileDelta is one changed file and its line counts (-1 for binary).
type FileDelta struct {
	Path    string `json:"path"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
}

// DepChange is a dependency manifest changed on the failed branch, with the
// lines added and removed (lock files: counts only).
type DepChange struct {
	File    string   `json:"file"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Lock    bool     `json:"lock,omitempty"`
}

// manifests are the files that declare dependencies; locks only pin them.
var manifests = map[string]bool{
	"go.mod": true, "package.json": true, "pyproject.toml": true, "setup.py": true, "setup.cfg": true,
	"Pipfile": true, "Cargo.toml": true, "Gemfile": true, "pom.xml": true, "build.gradle": true, "composer.json": true,
}

var locks = map[string]bool{
	"go.sum": true, "package-lock.json": true, "yarn.lock": true, "pnpm-lock.yaml": true, "poetry.lock": true,
	"Pipfile.lock": true, "Cargo.lock": true, "Gemfile.lock": true, "composer.lock": true, "uv.lock": true,
}

func isManifest(p string) (manifest, lock bool) {
	base := path.Base(p)
	if locks[base] {
		return false, true
	}
	if manifests[base] || strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt") {
		return true, false
	}
	return false, false
}

// compareBranches reads what changed from baseline to failed (three dots:
// since they parted).
func compareBranches(ctx context.Context, dir, baseline, failed string) *Comparison {
	c := &Comparison{Baseline: baseline, Failed: failed, Files: []FileDelta{}}
	repo, err := git.Open(ctx, dir)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	rng := baseline + "..." + failed
	out, err := repo.Git(ctx, "rev-list", "--count", "--end-of-options", baseline+".."+failed)
	if err != nil {
		c.Error = fmt.Sprintf("compare %s with %s: %v", failed, baseline, err)
		return c
	}
	c.Commits, _ = strconv.Atoi(strings.TrimSpace(out))
	out, err = repo.Git(ctx, "-c", "core.quotePath=false", "diff", "--numstat", "--no-renames", "-z", "--end-of-options", rng)
	if err != nil {
		c.Error = fmt.Sprintf("diff %s: %v", rng, err)
		return c
	}
	for _, rec := range strings.Split(strings.TrimSuffix(out, "\x00"), "\x00") {
		f := strings.SplitN(rec, "\t", 3)
		if len(f) != 3 {
			continue
		}
		d := FileDelta{Path: f[2], Added: -1, Removed: -1}
		if f[0] != "-" {
			d.Added, _ = strconv.Atoi(f[0])
			d.Removed, _ = strconv.Atoi(f[1])
		}
		c.Files = append(c.Files, d)
	}
	for _, f := range c.Files {
		manifest, lock := isManifest(f.Path)
		switch {
		case lock:
			c.Dependencies = append(c.Dependencies, DepChange{File: f.Path, Lock: true})
		case manifest:
			dc := DepChange{File: f.Path}
			diff, err := repo.Git(ctx, "diff", "-U0", "--no-color", "--end-of-options", rng, "--", f.Path)
			if err != nil {
				c.Error = fmt.Sprintf("diff %s: %v", f.Path, err)
				continue
			}
			for _, l := range strings.Split(diff, "\n") {
				if strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---") {
					continue
				}
				text := strings.TrimSpace(l[min(1, len(l)):])
				if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, "//") {
					continue
				}
				switch {
				case strings.HasPrefix(l, "+"):
					dc.Added = append(dc.Added, text)
				case strings.HasPrefix(l, "-"):
					dc.Removed = append(dc.Removed, text)
				}
			}
			c.Dependencies = append(c.Dependencies, dc)
		}
	}
	return c
}

// failureKinds sort failure messages into the seed's likely causes, by
// what the message says; a message that matches none is its own group.
// They are compiled on first use: every rbflow process, the supervisor
// included, would otherwise pay for them at start.
var failureKinds = sync.OnceValue(func() []failureKind {
	return []failureKind{
		{"Import error", regexp.MustCompile(`(?i)ImportError|ModuleNotFoundError|cannot find (package|module)|Cannot find module|no required module|undefined: |circular import`)},
		{"Database schema mismatch", regexp.MustCompile(`(?i)no such (table|column)|relation "[^"]*" does not exist|migration|schema`)},
		{"External service failure", regexp.MustCompile(`(?i)connection refused|ECONNREFUSED|no such host|name resolution|503 Service|dial tcp`)},
		{"Performance regression", regexp.MustCompile(`(?i)timed? ?out|deadline exceeded|too slow|took too long`)},
		{"API contract violation", regexp.MustCompile(`TypeError|AttributeError|unexpected keyword|missing \d+ required|has no attribute|KeyError|unexpected status|status code`)},
		{"Behaviour changed (assertions fail)", regexp.MustCompile(`(?i)AssertionError|assert|expected|\bwant\b|\bgot\b`)},
	}
})

type failureKind struct {
	cause string
	re    *regexp.Regexp
}

// Findings derives the likely causes from the data: what changed between
// the baseline and the failed branch (dependencies, files where the tests
// fail), and what the failures say. Empty when there is nothing to go on.
func (d *ReportData) Findings() []Finding {
	var out []Finding
	c := d.Compare
	failures := d.Tests.Failures
	if c != nil && c.Error == "" {
		rng := c.Baseline + "..." + c.Failed
		var deps []string
		for _, dc := range c.Dependencies {
			switch {
			case dc.Lock:
				deps = append(deps, dc.File+": lock file changed")
			default:
				line := dc.File + ":"
				for _, a := range limit(dc.Added, 5) {
					line += " +" + a + ";"
				}
				for _, r := range limit(dc.Removed, 5) {
					line += " -" + r + ";"
				}
				deps = append(deps, strings.TrimSuffix(line, ";"))
			}
		}
		if len(deps) > 0 {
			files := make([]string, len(c.Dependencies))
			for i, dc := range c.Dependencies {
				files[i] = eval.Quote(dc.File)
			}
			out = append(out, Finding{
				Cause:  "Dependencies changed on " + c.Failed,
				Detail: deps,
				Action: fmt.Sprintf("Check the failures against the dependency changes: `git diff %s -- %s`; reinstall from the baseline's files and run the failing tests again", eval.Quote(rng), strings.Join(files, " ")),
			})
		}
		if near := changedNearFailures(c, failures, d.treeOf); len(near) > 0 {
			dirs := map[string]bool{}
			for _, n := range near {
				dirs[path.Dir(n.Path)] = true
			}
			var ds []string
			for dir := range dirs {
				ds = append(ds, eval.Quote(dir))
			}
			sort.Strings(ds)
			var lines []string
			for _, n := range limit(near, 10) {
				lines = append(lines, fmt.Sprintf("%s (%s)", n.Path, delta(n)))
			}
			out = append(out, Finding{
				Cause:  "Code changed where the tests fail",
				Detail: lines,
				Action: fmt.Sprintf("Review these changes first: `git diff %s -- %s`", eval.Quote(rng), strings.Join(ds, " ")),
			})
		}
	}
	exitOnly := map[string]bool{}
	for _, st := range d.TestSteps() {
		if st.Tests.Format == "exit-code" && !st.Tests.OK {
			exitOnly[st.ID] = true
			detail := []string{}
			if c != nil && c.Error == "" {
				detail = largest(c.Files, 5)
			}
			out = append(out, Finding{
				Cause:  fmt.Sprintf("The suite of step %s failed; rbflow read only its exit code, so which tests fail is in its log", st.ID),
				Detail: detail,
				Action: fmt.Sprintf("Read the failures with `rbflow logs %s %s`; a test command rbflow reads (pytest, go test -json, JUnit XML with with.results, TAP) gives per-test findings", d.Run.ID, st.ID),
			})
		}
	}
	groups := map[string][]TestFailure{}
	var order []string
	for _, f := range failures {
		if exitOnly[f.Step] {
			continue
		}
		cause := "Failing tests"
		for _, k := range failureKinds() {
			if k.re.MatchString(f.Message) {
				cause = k.cause
				break
			}
		}
		if groups[cause] == nil {
			order = append(order, cause)
		}
		groups[cause] = append(groups[cause], f)
	}
	sort.SliceStable(order, func(i, j int) bool { return len(groups[order[i]]) > len(groups[order[j]]) })
	for _, cause := range order {
		fs := groups[cause]
		var lines []string
		for _, f := range limit(fs, 5) {
			msg := firstLine(f.Message)
			if msg == "" {
				msg = "(no message)"
			}
			lines = append(lines, fmt.Sprintf("%s: %s", f.Name, msg))
		}
		if len(fs) > 5 {
			lines = append(lines, fmt.Sprintf("… and %d more", len(fs)-5))
		}
		out = append(out, Finding{
			Cause:  fmt.Sprintf("%s (%d %s)", cause, len(fs), plural(len(fs), "failure", "failures")),
			Detail: lines,
			Action: fmt.Sprintf("Run %s alone and read its whole output in the tests step's log", fs[0].Name),
		})
	}
	read, unread := d.testsRead()
	if len(unread) > 0 && len(failures) == 0 {
		var lines []string
		for _, s := range unread {
			lines = append(lines, fmt.Sprintf("%s: %s", s.ID, firstLine(s.Error)))
		}
		out = append(out, Finding{
			Cause:  "The tests gave no results, so nothing is known of the failing tests",
			Detail: lines,
			Action: "Make the tests run (--set test_command='…', see the tests step's log) and run the analysis again",
		})
	}
	if len(out) == 0 && read && c != nil && c.Error == "" && len(c.Files) > 0 {
		out = append(out, Finding{
			Cause:  fmt.Sprintf("No failing test: %d files changed in %d commits", len(c.Files), c.Commits),
			Detail: largest(c.Files, 5),
			Action: fmt.Sprintf("The failure is not in the tests: compare behaviour with the baseline, starting with the largest changes (`git diff --stat %s`)", eval.Quote(c.Baseline+"..."+c.Failed)),
		})
	}
	return out
}

// testsRead reports whether some test step read results, and lists the
// test steps that ran and failed without any.
func (d *ReportData) testsRead() (read bool, unread []ReportStep) {
	for _, s := range d.Steps {
		switch {
		case s.Tests != nil:
			read = true
		case s.Kind == "test" && s.Ran && s.Outcome == "failed":
			unread = append(unread, s)
		}
	}
	return read, unread
}

// changedNearFailures returns the changed files that are the failing tests'
// files, or in their directories (a Go package, a Python test folder).
func changedNearFailures(c *Comparison, failures []TestFailure, rel func(string) string) []FileDelta {
	dirs, files := map[string]bool{}, map[string]bool{}
	for _, f := range failures {
		p := f.File
		if p == "" {
			// pytest names its tests file::test
			if i := strings.Index(f.Name, "::"); i > 0 {
				p = f.Name[:i]
			}
		}
		if p == "" {
			continue
		}
		p = rel(p)
		files[p] = true
		dirs[path.Dir(p)] = true
	}
	var out []FileDelta
	for _, fd := range c.Files {
		if m, l := isManifest(fd.Path); m || l {
			continue // a finding of its own
		}
		if files[fd.Path] || dirs[path.Dir(fd.Path)] {
			out = append(out, fd)
		}
	}
	return out
}

// treeOf makes a test file's path relative to the repository: tests ran
// in a temporary worktree (with.data.tree) or in the repository.
func (d *ReportData) treeOf(p string) string {
	p = filepath.ToSlash(p)
	for _, root := range []string{str(d.Data["tree"]), d.Git.Repo} {
		root = filepath.ToSlash(root)
		if root != "" && strings.HasPrefix(p, root+"/") {
			return strings.TrimPrefix(p, root+"/")
		}
	}
	return strings.TrimPrefix(p, "./")
}

func delta(f FileDelta) string {
	if f.Added < 0 {
		return "binary"
	}
	return fmt.Sprintf("+%d -%d", f.Added, f.Removed)
}

func largest(files []FileDelta, n int) []string {
	s := append([]FileDelta(nil), files...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Added+s[i].Removed > s[j].Added+s[j].Removed })
	var out []string
	for _, f := range limit(s, n) {
		out = append(out, fmt.Sprintf("%s (%s)", f.Path, delta(f)))
	}
	return out
}

func limit[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
