package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// completionRepo is a repository with two real runs (one finished, one
// waiting for an answer, the newest), a local procedure and a procedure
// file whose names hold spaces, and a folder with a space.
type completionRepo struct {
	dir              string
	finished, waiter string // run ids
	ask              string // the procedure file of the waiting run
}

func newCompletionRepo(t *testing.T) *completionRepo {
	t.Helper()
	repo := testkit.GitRepo(t, map[string]string{
		"rollback plan.yaml":      "version: 1\nname: plan\nsteps:\n  - id: a\n    run: echo a\n",
		"notes.txt":               "not a procedure\n",
		"sub dir/inner.yaml":      "version: 1\nname: inner\nsteps:\n  - id: a\n    run: echo a\n",
		".rbflow/my proc.yaml":    "version: 1\nname: mine\ndescription: spaced name\nsteps:\n  - id: a\n    run: echo a\n",
		".rbflow/emergency.yaml":  "version: 1\nname: emergency\ndescription: our own emergency\nsteps:\n  - id: a\n    run: echo a\n",
		".rbflow/not-yaml.txt":    "x\n",
		"sub dir/skipped.txt":     "x\n",
		"sub dir/deeper/x.yml":    "version: 1\nname: x\nsteps:\n  - id: a\n    run: echo a\n",
		".hidden/hidden.yaml":     "version: 1\nname: h\nsteps:\n  - id: a\n    run: echo a\n",
		"sub dir/deeper/keep.txt": "x\n",
	})
	aux := t.TempDir()
	done, ask := filepath.Join(aux, "done.yaml"), filepath.Join(aux, "ask.yaml")
	testkit.WriteFile(t, done, `version: 1
name: done-proc
steps:
  - id: first
    run: echo one
  - id: second
    run: echo two
finally:
  - id: tidy
    run: echo tidy
`)
	testkit.WriteFile(t, ask, `version: 1
name: ask-proc
params:
  reason: {type: string, default: none, description: why we roll back}
steps:
  - id: before
    run: echo before
  - id: approve
    prompt: Go ahead?
    with: {type: confirm}
  - id: after
    run: echo after
`)
	r := &completionRepo{dir: repo, ask: ask}
	if out, errOut, code := rbflow(t, repo, "run", done); code != 0 {
		t.Fatalf("run done.yaml: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := rbflow(t, repo, "run", ask); code != 4 {
		t.Fatalf("run ask.yaml: exit %d, want 4 (waiting)\n%s%s", code, out, errOut)
	}
	out, errOut, code := query(t, repo, "runs")
	if code != 0 {
		t.Fatalf("runs: exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && slices.Contains(f, "done-proc"):
			r.finished = f[0]
		case len(f) > 1 && slices.Contains(f, "ask-proc"):
			r.waiter = f[0]
		}
	}
	if r.finished == "" || r.waiter == "" {
		t.Fatalf("runs does not list both runs:\n%s", out)
	}
	return r
}

// complete runs rbflow __complete WORDS in this process, as the scripts
// call it, and returns its lines.
func complete(t *testing.T, words ...string) []string {
	t.Helper()
	var out, errOut strings.Builder
	code := Main(append([]string{completeCmd}, words...), strings.NewReader(""), &out, &errOut)
	if code != 0 || errOut.Len() > 0 {
		t.Errorf("__complete %q: exit %d, stderr %q; want 0 and nothing", words, code, errOut.String())
	}
	if out.Len() == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

// values are the candidates of __complete's lines, without descriptions
// and directives.
func values(lines []string) []string {
	var v []string
	for _, l := range lines {
		if !strings.HasPrefix(l, ":") {
			value, _, _ := strings.Cut(l, "\t")
			v = append(v, value)
		}
	}
	return v
}

// TestCompleteCandidates: what rbflow __complete offers for each kind of
// word (commands, flags, procedures, run ids, step ids, flag values),
// against a real store holding real runs.
func TestCompleteCandidates(t *testing.T) {
	t.Parallel()
	r := newCompletionRepo(t)
	repo := r.dir
	withRepo := func(words ...string) []string {
		// --repo steers completion as it steers the command.
		return append([]string{words[0], "--repo", repo}, words[1:]...)
	}
	for _, tc := range []struct {
		name  string
		words []string
		want  []string // exactly these values, in this order (nil: see has)
		has   []string // at least these
		hasnt []string
		lines []string // these whole lines (value, tab, description)
	}{
		{name: "commands", words: []string{""}, has: []string{"run", "resume", "logs", "completion", "help"}, hasnt: []string{completeCmd}},
		{name: "commands by prefix", words: []string{"re"}, want: []string{"resume", "retry"}},
		{name: "help names commands", words: []string{"help", "st"}, want: []string{"status"}},
		{name: "flags of resume", words: []string{"resume", "--"}, has: []string{"--from", "--skip", "--reload", "--answer", "--repo", "--state"}, hasnt: []string{"--dry-run"}},
		{name: "flags of logs", words: []string{"logs", "--f"}, want: []string{"--follow"}},
		{name: "flag description", words: []string{"run", "--dry"}, lines: []string{"--dry-run\tprint the plan with every interpolated command; run nothing"}},
		{name: "shells", words: []string{"completion", ""}, want: []string{"bash", "zsh", "fish"}},
		{name: "graph formats", words: []string{"graph", "x.yaml", "--format", ""}, want: []string{"text", "mermaid", "dot"}},
		{name: "procedures: built-ins, local copies, files", words: withRepo("run", ""),
			has:   []string{"emergency", "my proc", "sprint", "triage"},
			hasnt: []string{"not-yaml", "undo"},
			lines: []string{"my proc\tlocal copy: spaced name", "emergency\tlocal copy: our own emergency"}},
		{name: "procedure files with spaces", words: []string{"run", repo + "/"},
			want: []string{repo + "/rollback plan.yaml", repo + "/sub dir/"}},
		{name: "procedure files in a folder with a space", words: []string{"validate", "a.yaml", repo + "/sub dir/"},
			want: []string{repo + "/sub dir/deeper/", repo + "/sub dir/inner.yaml"}},
		{name: "a typed backslash-escaped space", words: []string{"run", strings.ReplaceAll(repo, " ", `\ `) + `/rollback\ p`},
			want: []string{repo + "/rollback plan.yaml"}},
		{name: "an opening quote", words: []string{"run", "'" + repo + "/sub d"}, want: []string{repo + "/sub dir/"}},
		{name: "hidden files only when asked", words: []string{"run", repo + "/.h"}, want: []string{repo + "/.hidden/"}},
		{name: "params file", words: []string{"run", "x", "--params-file", repo + "/r"}, want: []string{repo + "/rollback plan.yaml"}},
		{name: "init takes folders", words: []string{"init", repo + "/"}, want: []string{repo + "/sub dir/"}},
		{name: "hidden folders when asked", words: []string{"init", repo + "/."}, want: []string{repo + "/.git/", repo + "/.hidden/", repo + "/.rbflow/"}},
		{name: "run ids, newest first", words: withRepo("status", ""), want: []string{r.waiter, r.finished},
			lines: []string{r.waiter + "\task-proc waiting", r.finished + "\tdone-proc succeeded"}},
		{name: "resume takes unfinished runs", words: withRepo("resume", ""), want: []string{r.waiter}},
		{name: "retry takes finished runs", words: withRepo("retry", ""), want: []string{r.finished}},
		{name: "run ids by prefix", words: withRepo("undo", r.finished[:len(r.finished)-3]), want: []string{r.finished}},
		{name: "logs: steps with output", words: withRepo("logs", r.finished, ""), want: []string{"first", "second", "tidy"},
			lines: []string{"first\tsucceeded"}},
		{name: "logs: a run id prefix", words: withRepo("logs", r.waiter[:len(r.waiter)-2], "b"), want: []string{"before"}},
		{name: "--from: steps of the newest run", words: withRepo("resume", "--from", ""), want: []string{"before", "approve", "after"},
			lines: []string{"approve\tprompt: waiting", "after\trun"}},
		{name: "--skip of a named run", words: withRepo("retry", r.finished, "--skip", ""), want: []string{"first", "second", "tidy"},
			lines: []string{"tidy\tfinally, run: succeeded"}},
		{name: "--from= in one word", words: withRepo("resume", r.waiter, "--from=a"), want: []string{"--from=approve", "--from=after"}},
		{name: "--answer of run: the prompts", words: []string{"run", r.ask, "--answer", ""}, want: []string{"approve="},
			lines: []string{"approve=\tGo ahead?", ":nospace"}},
		{name: "--answer of resume", words: withRepo("resume", "--answer", ""), want: []string{"approve="}},
		{name: "no values after STEP=", words: withRepo("resume", "--answer", "approve="), want: nil},
		{name: "--set of run: the params", words: []string{"run", r.ask, "--set", ""}, want: []string{"reason="},
			lines: []string{"reason=\twhy we roll back"}},
		{name: "checklist items", words: withRepo("checklist", r.finished, "--done", "le"), want: []string{"lessons"},
			lines: []string{"lessons\tLessons learned documented"}},
		{name: "unknown command", words: []string{"frobnicate", ""}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := complete(t, tc.words...)
			v := values(got)
			if tc.has == nil && tc.lines == nil || tc.want != nil {
				if !slices.Equal(v, tc.want) {
					t.Errorf("__complete %q = %q, want %q", tc.words, v, tc.want)
				}
			}
			for _, h := range tc.has {
				if !slices.Contains(v, h) {
					t.Errorf("__complete %q = %q, want %q among them", tc.words, v, h)
				}
			}
			for _, h := range tc.hasnt {
				if slices.Contains(v, h) {
					t.Errorf("__complete %q offers %q", tc.words, h)
				}
			}
			for _, l := range tc.lines {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, l) }) {
					t.Errorf("__complete %q lacks a line starting %q:\n%s", tc.words, l, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestCompleteCreatesNothing: completing run ids in a repository that has
// no state folder yet offers nothing, says nothing, and creates nothing.
func TestCompleteCreatesNothing(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	state := filepath.Join(t.TempDir(), "state")
	for _, words := range [][]string{
		{"status", "--repo", repo, ""},
		{"resume", "--repo", repo, "--from", ""},
		{"logs", "--repo", repo, "--state", state, "x", ""},
		{"status", "--repo", filepath.Join(repo, "no such dir"), ""},
	} {
		if got := complete(t, words...); len(got) != 0 {
			t.Errorf("__complete %q = %q, want nothing", words, got)
		}
	}
	for _, dir := range []string{filepath.Join(repo, ".git", "rbflow"), state} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("completion created %s (stat: %v)", dir, err)
		}
	}
}

// shellPath is the folder of rbflow (rbflowBinary), for the completion
// scripts to call.
func shellPath(t *testing.T) string {
	t.Helper()
	return filepath.Dir(rbflowBinary(t))
}

// inShell runs a command in the shell sh, in dir, with the rbflow of bin
// first on PATH, and returns its output lines.
func inShell(t *testing.T, bin, dir, sh string, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath(sh); err != nil {
		t.Fatalf("%s is not installed: the completion tests load the %s script in a real %s (apt-get install %s)", sh, sh, sh, sh)
	}
	cmd := exec.Command(sh, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", sh, args, err, out)
	}
	if len(out) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestCompletionBash loads rbflow completion bash into a real bash and
// calls its function as bash's completion does, with COMP_WORDS split as
// bash splits them (at '=' too): what lands in COMPREPLY is what bash
// offers, names with spaces as one candidate each.
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	r := newCompletionRepo(t)
	bin := shellPath(t)
	for _, tc := range []struct {
		name  string
		words []string // COMP_WORDS; the last is the current word
		want  []string
	}{
		{"commands", []string{"rbflow", "res"}, []string{"resume"}},
		{"flags", []string{"rbflow", "logs", "--fo"}, []string{"--follow"}},
		{"procedure names and files with spaces", []string{"rbflow", "run", "my"}, []string{"my proc"}},
		{"files in the current folder", []string{"rbflow", "run", "ro"}, []string{"rollback plan.yaml"}},
		{"a folder with a space", []string{"rbflow", "validate", "sub"}, []string{"sub dir"}},
		{"run ids newest first", []string{"rbflow", "status", ""}, []string{r.waiter, r.finished}},
		{"resume takes unfinished runs", []string{"rbflow", "resume", ""}, []string{r.waiter}},
		{"steps for logs", []string{"rbflow", "logs", r.finished, "s"}, []string{"second"}},
		{"--from STEP", []string{"rbflow", "resume", "--from", "a"}, []string{"approve", "after"}},
		{"--from=STEP split at =", []string{"rbflow", "resume", "--from", "=", "a"}, []string{"approve", "after"}},
		{"--from= with nothing after", []string{"rbflow", "retry", r.finished, "--skip", "="}, []string{"first", "second", "tidy"}},
		{"--answer STEP=", []string{"rbflow", "run", r.ask, "--answer", ""}, []string{"approve="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			quoted := make([]string, len(tc.words))
			for i, w := range tc.words {
				quoted[i] = shellQuote(w)
			}
			script := fmt.Sprintf(`source <(rbflow completion bash) || exit 1
COMP_WORDS=(%s); COMP_CWORD=%d
_rbflow rbflow
for c in "${COMPREPLY[@]}"; do printf '[%%s]\n' "$c"; done
complete -p rbflow`, strings.Join(quoted, " "), len(tc.words)-1)
			got := inShell(t, bin, r.dir, "bash", "-c", script)
			if len(got) == 0 || got[len(got)-1] != "complete -F _rbflow rbflow" {
				t.Fatalf("the script does not register _rbflow for rbflow:\n%s", strings.Join(got, "\n"))
			}
			var reply []string
			for _, l := range got[:len(got)-1] {
				reply = append(reply, strings.TrimSuffix(strings.TrimPrefix(l, "["), "]"))
			}
			if !slices.Equal(reply, tc.want) {
				t.Errorf("COMP_WORDS=%q: COMPREPLY = %q, want %q", tc.words, reply, tc.want)
			}
		})
	}
}

// TestCompletionFish loads rbflow completion fish into a real fish and
// asks fish what it completes (complete -C), as it does on a tab.
func TestCompletionFish(t *testing.T) {
	t.Parallel()
	r := newCompletionRepo(t)
	bin := shellPath(t)
	for _, tc := range []struct {
		line string
		want []string // whole lines: value, tab, description
	}{
		{"rbflow resu", []string{"resume\tfinish an interrupted, waiting or failed run (default: the newest r..."}},
		{"rbflow run my", []string{"my proc\tlocal copy: spaced name"}},
		{"rbflow run ro", []string{"rollback plan.yaml"}},
		{`rbflow run sub\ dir/i`, []string{"sub dir/inner.yaml"}},
		{"rbflow status ", []string{r.waiter + "\task-proc waiting", r.finished + "\tdone-proc succeeded"}},
		{"rbflow resume --from a", []string{"approve\tprompt: waiting", "after\trun"}},
		{"rbflow logs " + r.finished + " t", []string{"tidy\tsucceeded"}},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got := inShell(t, bin, r.dir, "fish", "--no-config", "-c",
				"rbflow completion fish | source; complete -C "+shellQuote(tc.line))
			for i := range got {
				got[i] = startTime.ReplaceAllString(got[i], "")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fish completes %q to %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}

// TestCompletionZsh loads rbflow completion zsh into a real zsh. zsh's
// completion widgets run only in an interactive line editor, so the test
// calls _rbflow as a widget would, with words and CURRENT set as zsh sets
// them (quoting as typed), and a _describe that prints the groups it is
// given: what it checks is what the script hands to zsh's completion.
func TestCompletionZsh(t *testing.T) {
	t.Parallel()
	r := newCompletionRepo(t)
	bin := shellPath(t)
	got := inShell(t, bin, r.dir, "zsh", "-n", "-c", completionScripts["zsh"])
	if len(got) != 0 {
		t.Fatalf("zsh -n: %s", strings.Join(got, "\n"))
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{"rbflow", "resu"}, []string{"spaced: resume:finish an interrupted, waiting or failed run (default: the newest r...", "unfinished:"}},
		{[]string{"rbflow", "run", `my\ p`}, []string{"spaced: my proc:local copy: spaced name", "unfinished:"}},
		{[]string{"rbflow", "run", "'sub d"}, []string{"spaced:", "unfinished: sub dir/"}},
		{[]string{"rbflow", "resume", ""}, []string{"spaced: " + r.waiter + ":ask-proc waiting", "unfinished:"}},
		{[]string{"rbflow", "run", r.ask, "--answer", "a"}, []string{"spaced:", "unfinished: approve=:Go ahead?"}},
	} {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			quoted := make([]string, len(tc.words))
			for i, w := range tc.words {
				quoted[i] = shellQuote(w)
			}
			script := `compdef() { :; }
_describe() {
    print -r -- spaced: "${(@P)5}"
    print -r -- unfinished: "${(@P)7}"
}
` + completionScripts["zsh"] + fmt.Sprintf(`
words=(%s); CURRENT=%d
_rbflow
`, strings.Join(quoted, " "), len(tc.words))
			got := inShell(t, bin, r.dir, "zsh", "-f", "-c", script)
			for i := range got {
				got[i] = startTime.ReplaceAllString(got[i], "")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("words=%q: _rbflow gives\n%q\nwant\n%q", tc.words, got, tc.want)
			}
		})
	}
}

// startTime ends the description of a run: it is cut off before
// comparing.
var startTime = regexp.MustCompile(` \d{4}-\d\d-\d\d \d\d:\d\d$`)

// shellQuote quotes s for bash, zsh and fish alike.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
