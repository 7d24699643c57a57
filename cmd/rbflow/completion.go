package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/procedures"
	"github.com/rbflow/rbflow/steps"
)

type completionCmd struct{}

func (*completionCmd) Name() string  { return "completion" }
func (*completionCmd) Usage() string { return "bash|zsh|fish" }
func (*completionCmd) Summary() string {
	return "print a shell completion script (commands, flags, procedures, run ids, step ids): source <(rbflow completion bash)"
}
func (*completionCmd) Flags(*pflag.FlagSet) {}

func (*completionCmd) Run(_ context.Context, a *app, args []string) error {
	if len(args) != 1 {
		return usagef("completion takes one shell: bash, zsh or fish")
	}
	script, ok := completionScripts[args[0]]
	if !ok {
		return usagef("completion: no script for %q: bash, zsh or fish%s", args[0], spec.Hint(args[0], []string{"bash", "zsh", "fish"}))
	}
	_, err := fmt.Fprint(a.stdout, script)
	return err
}

// completeCmd is the hidden command the completion scripts call: rbflow
// __complete WORD... prints the candidates for the last WORD (the one
// being completed, "" for a new one) after the others, one a line as
// VALUE, a tab and a description, then directives: ":files" (the values
// are paths: let the shell quote them as it quotes file names) and
// ":nospace" (a value ending in "/" or "=" is not finished: add no space
// after it). It reads the store read-only, prints nothing on an error and
// always exits 0: a tab key never breaks the command line.
const completeCmd = "__complete"

// candidate is one completion.
type candidate struct{ value, desc string }

// completion is what __complete prints.
type completion struct {
	cands   []candidate
	files   bool
	nospace bool
}

func (c *completion) add(value, desc string) {
	desc = strings.Join(strings.Fields(desc), " ") // one line
	if r := []rune(desc); len(r) > 70 {
		desc = string(r[:67]) + "..."
	}
	c.cands = append(c.cands, candidate{value, desc})
	if strings.HasSuffix(value, "=") || strings.HasSuffix(value, "/") {
		c.nospace = true
	}
}

func (a *app) complete(ctx context.Context, words []string) {
	if len(words) == 0 {
		words = []string{""}
	}
	prior, cur := words[:len(words)-1], dequote(words[len(words)-1])
	c := &completion{}
	a.completeWords(ctx, c, prior, cur)
	w := a.stdout
	for _, cand := range c.cands {
		if !strings.HasPrefix(cand.value, cur) || strings.ContainsAny(cand.value, "\n\t") {
			continue
		}
		if cand.desc == "" {
			fmt.Fprintln(w, cand.value)
		} else {
			fmt.Fprintf(w, "%s\t%s\n", cand.value, cand.desc)
		}
	}
	if c.files {
		fmt.Fprintln(w, ":files")
	}
	if c.nospace {
		fmt.Fprintln(w, ":nospace")
	}
}

// dequote undoes what a shell leaves of quoting in a word being typed: an
// opening quote (closed or not) and backslash escapes.
func dequote(w string) string {
	if w != "" && (w[0] == '\'' || w[0] == '"') {
		q := w[:1]
		w = strings.TrimSuffix(w[1:], q)
		if q == "'" {
			return w
		}
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] == '\\' && i+1 < len(w) {
			i++
		}
		b.WriteByte(w[i])
	}
	return b.String()
}

func (a *app) completeWords(ctx context.Context, c *completion, prior []string, cur string) {
	cmds := commands()
	if len(prior) == 0 {
		for _, cmd := range cmds {
			c.add(cmd.Name(), cmd.Summary())
		}
		c.add("help", "show the commands, or one command's flags")
		return
	}
	name := prior[0]
	if name == "help" {
		if len(prior) == 1 {
			for _, cmd := range cmds {
				c.add(cmd.Name(), cmd.Summary())
			}
		}
		return
	}
	i := slices.IndexFunc(cmds, func(cmd subcommand) bool { return cmd.Name() == name })
	if i < 0 {
		return
	}
	cmd := cmds[i]
	fs, _ := a.flagSet(cmd)
	var (
		pos     []string
		pending *pflag.Flag
		rest    bool // after --
	)
	for _, w := range prior[1:] {
		w = dequote(w)
		switch {
		case pending != nil:
			_ = pending.Value.Set(w) // --repo and --state steer the completion too
			pending = nil
		case rest || w == "-" || !strings.HasPrefix(w, "-"):
			pos = append(pos, w)
		case w == "--":
			rest = true
		default:
			f, val, hasVal := lookupFlag(fs, w)
			switch {
			case f == nil:
			case hasVal:
				_ = f.Value.Set(val)
			case f.NoOptDefVal == "":
				pending = f
			}
		}
	}
	switch {
	case pending != nil:
		a.completeFlagValue(ctx, c, name, pending.Name, pos, "", cur)
	case strings.HasPrefix(cur, "--") && strings.Contains(cur, "="):
		flag, partial, _ := strings.Cut(cur[2:], "=")
		if f := fs.Lookup(flag); f != nil && f.NoOptDefVal == "" {
			a.completeFlagValue(ctx, c, name, f.Name, pos, "--"+flag+"=", partial)
		}
	case strings.HasPrefix(cur, "-") && !rest:
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			value := "--" + f.Name
			_, usage := pflag.UnquoteUsage(f)
			c.add(value, usage)
		})
	default:
		a.completeArg(ctx, c, name, pos, cur)
	}
}

// lookupFlag finds the flag a word names: --name, --name=value, -x.
func lookupFlag(fs *pflag.FlagSet, w string) (f *pflag.Flag, val string, hasVal bool) {
	if name, ok := strings.CutPrefix(w, "--"); ok {
		name, val, hasVal = strings.Cut(name, "=")
		return fs.Lookup(name), val, hasVal
	}
	if len(w) < 2 {
		return nil, "", false
	}
	f = fs.ShorthandLookup(w[1:2])
	if f != nil && len(w) > 2 && f.NoOptDefVal == "" {
		return f, w[2:], true // -xVALUE
	}
	return f, "", false
}

// completeArg completes the positional argument after pos.
func (a *app) completeArg(ctx context.Context, c *completion, cmd string, pos []string, cur string) {
	n := len(pos)
	switch cmd {
	case "run", "graph", "show":
		if n == 0 {
			a.completeProcedures(ctx, c, cur, true)
		}
	case "validate":
		a.completeProcedures(ctx, c, cur, true)
	case "approve":
		if n == 0 {
			a.completeProcedures(ctx, c, cur, false)
		}
	case "init":
		if n == 0 {
			completePaths(c, cur, false)
		}
	case "completion":
		if n == 0 {
			for _, sh := range []string{"bash", "zsh", "fish"} {
				c.add(sh, "")
			}
		}
	case "logs":
		switch n {
		case 0:
			a.completeRuns(ctx, c, cmd)
		case 1:
			a.completeSteps(ctx, c, pos[0], stepsLogged, "")
		}
	case "answer":
		switch n {
		case 0:
			a.completeRuns(ctx, c, cmd)
		case 1:
			a.completeSteps(ctx, c, pos[0], stepsPrompts, "=")
		}
	case "resume", "retry", "undo", "status", "cancel", "checklist", "snapshots":
		if n == 0 {
			a.completeRuns(ctx, c, cmd)
		}
	}
}

// completeFlagValue completes the value of flag --name; prefix is what
// the word holds before the value ("--from=" when given in one word).
func (a *app) completeFlagValue(ctx context.Context, c *completion, cmd, name string, pos []string, prefix, cur string) {
	inner := &completion{}
	run := ""
	if len(pos) > 0 {
		run = pos[0]
	}
	switch name {
	case "from", "skip":
		a.completeSteps(ctx, inner, run, stepsAll, "")
	case "answer":
		if strings.Contains(cur, "=") {
			break
		}
		if cmd == "run" {
			if p := a.procedureIn(ctx, run); p != nil {
				for _, st := range p.Steps {
					if st.Kind == "prompt" {
						inner.add(st.ID+"=", promptText(st))
					}
				}
			}
		} else {
			a.completeSteps(ctx, inner, run, stepsPrompts, "=")
		}
	case "set":
		if strings.Contains(cur, "=") || cmd != "run" {
			break
		}
		if p := a.procedureIn(ctx, run); p != nil {
			for _, pm := range p.Params {
				inner.add(pm.Name+"=", pm.Description)
			}
		}
	case "params-file":
		completePaths(inner, cur, true)
	case "repo", "state":
		completePaths(inner, cur, false)
	case "format":
		for _, f := range []string{"text", "mermaid", "dot"} {
			inner.add(f, "")
		}
	case "done", "undo":
		for _, it := range steps.ChecklistItems {
			inner.add(it.ID, it.Text)
		}
	}
	for _, cand := range inner.cands {
		c.add(prefix+cand.value, cand.desc)
	}
	c.files = c.files || inner.files
}

// completeProcedures offers the built-ins (with builtins), the copies in
// the repository's .rbflow/, and YAML files and folders.
func (a *app) completeProcedures(ctx context.Context, c *completion, cur string, builtins bool) {
	if !strings.ContainsRune(cur, '/') && !strings.HasPrefix(cur, "~") {
		seen := map[string]bool{}
		if repo, err := a.repo(ctx); err == nil && repo != "" {
			local, _ := filepath.Glob(filepath.Join(repo, procedures.LocalDir, "*.yaml"))
			for _, f := range local {
				name := strings.TrimSuffix(filepath.Base(f), ".yaml")
				text, _ := os.ReadFile(f)
				c.add(name, "local copy: "+description(f, text))
				seen[name] = true
			}
		}
		for _, name := range procedures.Names() {
			if builtins && !seen[name] {
				text, _ := procedures.Builtin(name)
				c.add(name, description(name, text))
			}
		}
	}
	completePaths(c, cur, true)
}

// description is a procedure's description, read without compiling it.
func description(file string, text []byte) string {
	root, _ := spec.Parse(file, text)
	if root == nil {
		return ""
	}
	if v := root.Get("description"); v != nil {
		return v.Str
	}
	return ""
}

// completePaths offers the folders, and with yaml the .yaml and .yml
// files, whose path starts with cur.
func completePaths(c *completion, cur string, yaml bool) {
	dir, base := "", cur
	if i := strings.LastIndexByte(cur, '/'); i >= 0 {
		dir, base = cur[:i+1], cur[i+1:]
	}
	read := dir
	if rest, ok := strings.CutPrefix(dir, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			read = filepath.Join(home, rest) + "/"
		}
	}
	if read == "" {
		read = "."
	}
	entries, err := os.ReadDir(read)
	if err != nil {
		return
	}
	c.files = true
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(read, name)) // through symlinks
		if err != nil {
			continue
		}
		switch {
		case fi.IsDir():
			c.add(dir+name+"/", "")
		case yaml && fi.Mode().IsRegular() && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")):
			c.add(dir+name, "")
		}
	}
}

// procedureIn decodes the procedure arg names (nil if it does not load).
func (a *app) procedureIn(ctx context.Context, arg string) *spec.Procedure {
	if arg == "" {
		return nil
	}
	repo, err := a.repo(ctx)
	if err != nil {
		return nil
	}
	src, err := procedures.Resolve(arg, repo)
	if err != nil {
		return nil
	}
	p, _ := spec.Decode(src.Path, src.Text, a.registry.Keys())
	return p
}

// completionStore opens the repository's store read-only: completion never
// creates a state folder, takes no lock and migrates nothing.
func (a *app) completionStore(ctx context.Context) (*store.Store, string, error) {
	repo, dir, err := a.stateDir(ctx)
	if err != nil {
		return nil, "", err
	}
	st, err := store.OpenReadOnly(dir)
	return st, repo, err
}

// completeRuns offers the repository's runs, newest first, those that the
// command can take (resume: unfinished or failed; retry: finished; cancel
// and answer: unfinished).
func (a *app) completeRuns(ctx context.Context, c *completion, cmd string) {
	st, repo, err := a.completionStore(ctx)
	if err != nil {
		return
	}
	defer st.Close()
	runs, err := st.Runs(ctx, repo)
	if err != nil {
		return
	}
	for _, r := range runs {
		shown := r.Shown()
		if r.ParentRun != "" {
			continue
		}
		switch cmd {
		case "resume":
			if !shown.Resumable() || shown == engine.RunUndone {
				continue
			}
		case "retry":
			if !shown.Finished() {
				continue
			}
		case "cancel", "answer":
			if shown.Finished() || shown == engine.RunUndone {
				continue
			}
		}
		c.add(r.ID, fmt.Sprintf("%s %s %s", r.Procedure, shown, r.StartedAt.Local().Format("2006-01-02 15:04")))
	}
}

// Which steps of a run completeSteps offers.
const (
	stepsAll     = iota // every step of the run's procedure (--from, --skip)
	stepsLogged         // the steps that have a log (logs RUN STEP)
	stepsPrompts        // the prompt steps (answer, --answer)
)

// completeSteps offers the steps of the run id names (the newest run when
// id is ""), each followed by suffix.
func (a *app) completeSteps(ctx context.Context, c *completion, id string, which int, suffix string) {
	st, repo, err := a.completionStore(ctx)
	if err != nil {
		return
	}
	defer st.Close()
	var run *engine.Run
	if id != "" {
		run, err = st.Run(ctx, id)
	} else {
		var runs []*engine.Run
		runs, err = st.Runs(ctx, repo)
		for _, r := range runs {
			if r.ParentRun == "" {
				run = r
				break
			}
		}
	}
	if err != nil || run == nil {
		return
	}
	recs, _ := st.Steps(ctx, run.ID)
	status := map[string]string{}
	for _, rec := range recs {
		status[rec.StepID] = string(run.ShownStep(rec))
	}
	if which == stepsLogged {
		for _, rec := range recs {
			if rec.LogPath != "" {
				c.add(rec.StepID+suffix, status[rec.StepID])
			}
		}
		return
	}
	p, _ := spec.Decode(run.SourcePath, []byte(run.Source), a.registry.Keys())
	if p == nil {
		return
	}
	for _, s := range slices.Concat(p.Steps, p.OnFailure, p.Finally) {
		if which == stepsPrompts && s.Kind != "prompt" {
			continue
		}
		desc := s.Kind
		if s.Section != spec.SectionMain {
			desc = s.Section + ", " + desc
		}
		if which == stepsPrompts {
			desc = promptText(s)
		}
		if st := status[s.ID]; st != "" {
			desc += ": " + st
		}
		c.add(s.ID+suffix, desc)
	}
}

// promptText is a prompt step's question.
func promptText(st *spec.Step) string {
	if st.Arg != nil {
		return st.Arg.Str
	}
	return "prompt"
}

// completionScripts are what rbflow completion prints. Each passes the
// words before the cursor (the current one last) to rbflow __complete and
// offers what it prints.
var completionScripts = map[string]string{
	"bash": `# bash completion for rbflow: source <(rbflow completion bash)
_rbflow() {
    local words=() i w joined=0 line out last files= nospace=
    # bash splits --flag=value and STEP=VALUE at '=' (COMP_WORDBREAKS);
    # rbflow __complete takes whole words.
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == "=" && ${#words[@]} -gt 0 ]]; then
            words[${#words[@]}-1]+="="
            joined=1
        elif ((joined)); then
            words[${#words[@]}-1]+="$w"
            joined=0
        else
            words+=("$w")
            joined=0
        fi
    done
    last=${words[${#words[@]}-1]}
    out=$(rbflow __complete "${words[@]}" 2>/dev/null) || return 0
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
        "") ;;
        :files) files=1 ;;
        :nospace) nospace=1 ;;
        *)
            line=${line%%$'\t'*}
            # What bash replaces is the part after the last '='.
            if [[ $last == *=* && $line == *=* ]]; then
                line=${line#"${last%=*}="}
            fi
            COMPREPLY+=("$line")
            ;;
        esac
    done <<<"$out"
    if [[ $files ]]; then
        # readline quotes them as file names, and adds the / of a folder.
        compopt -o filenames 2>/dev/null
        for i in "${!COMPREPLY[@]}"; do
            [[ ${COMPREPLY[i]} == */ && ${COMPREPLY[i]} != / ]] && COMPREPLY[i]=${COMPREPLY[i]%/}
        done
    fi
    [[ $nospace ]] && compopt -o nospace 2>/dev/null
    compopt -o nosort 2>/dev/null
    return 0
}
complete -F _rbflow rbflow
`,
	"zsh": `#compdef rbflow
# zsh completion for rbflow: source <(rbflow completion zsh), or save it as
# _rbflow in a folder of $fpath.
_rbflow() {
    local -a lines spaced unfinished
    local line value desc
    lines=("${(@f)$(rbflow __complete "${(@Q)words[2,CURRENT]}" 2>/dev/null)}")
    for line in "${lines[@]}"; do
        case $line in
        ''|:*) continue ;;
        esac
        value=${line%%$'\t'*}
        desc=
        [[ $line == *$'\t'* ]] && desc=${line#*$'\t'}
        value=${value//:/\\:}
        [[ -n $desc ]] && value+=":$desc"
        if [[ ${line%%$'\t'*} == */ || ${line%%$'\t'*} == *= ]]; then
            unfinished+=("$value")
        else
            spaced+=("$value")
        fi
    done
    _describe -V -t rbflow 'rbflow' spaced -- unfinished -S ''
}
if [[ $funcstack[1] == _rbflow ]]; then
    _rbflow "$@"
else
    compdef _rbflow rbflow
fi
`,
	"fish": `# fish completion for rbflow: rbflow completion fish | source, or save it
# as ~/.config/fish/completions/rbflow.fish
function __rbflow_complete
    set -l words (commandline -opc)
    set -e words[1]
    rbflow __complete $words (commandline -ct) 2>/dev/null | string match -v -r '^:'
end
complete -c rbflow -f -k -a '(__rbflow_complete)'
`,
}
