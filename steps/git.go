package steps

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/procedures"
)

// gitKind is `git: ACTION`: typed git operations run as argv, never through
// a shell. Destructive actions save a snapshot first (SPEC §5).
type gitKind struct{}

var _ engine.Kind = gitKind{}

// gitActionDef describes one git action: what it is for, its with: fields,
// whether it destroys state (and so snapshots first), and what it does.
type gitActionDef struct {
	doc         string
	fields      []engine.Field
	destructive func(g *gitStep, x *engine.Exec, r *git.Repo) (bool, error)
	run         func(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error)
}

var snapshotField = engine.Field{Name: "snapshot", Type: engine.Bool}

func always(*gitStep, *engine.Exec, *git.Repo) (bool, error) { return true, nil }

var gitActions map[string]gitActionDef

func init() {
	gitActions = map[string]gitActionDef{
		"snapshot": {
			doc: "save HEAD, the index, the work tree, untracked and ignored files in a snapshot that undo restores",
			fields: []engine.Field{{Name: "include_ignored", Type: engine.Bool}, {Name: "exclude", Type: engine.List},
				{Name: "reinstallable", Type: engine.List}, {Name: "max_file_size_mb", Type: engine.Int}, {Name: "message", Type: engine.String}},
			run: gitSnapshot,
		},
		"checkout": {
			doc:         "check out a ref (a snapshot first, over local edits)",
			fields:      []engine.Field{{Name: "ref", Type: engine.String, Required: true}, {Name: "create", Type: engine.Bool}, {Name: "discard_changes", Type: engine.Bool}, snapshotField},
			destructive: overLocalEdits,
			run:         gitCheckout("checkout"),
		},
		"switch": {
			doc:         "switch to a branch (a snapshot first, over local edits)",
			fields:      []engine.Field{{Name: "ref", Type: engine.String, Required: true}, {Name: "create", Type: engine.Bool}, {Name: "discard_changes", Type: engine.Bool}, snapshotField},
			destructive: overLocalEdits,
			run:         gitCheckout("switch"),
		},
		"reset": {
			doc:         "move HEAD to a ref (mode: hard also the index and work tree); a snapshot first",
			fields:      []engine.Field{{Name: "to", Type: engine.String, Required: true}, {Name: "mode", Type: engine.String, Required: true, Enum: []string{"soft", "mixed", "hard"}}, snapshotField},
			destructive: always,
			run:         gitReset,
		},
		"clean": {
			doc:         "remove untracked files (ignored: true also ignored ones); a snapshot first",
			fields:      []engine.Field{{Name: "directories", Type: engine.Bool}, {Name: "ignored", Type: engine.Bool}, {Name: "paths", Type: engine.List}, {Name: "exclude", Type: engine.List}, snapshotField},
			destructive: always,
			run:         gitClean,
		},
		"stash": {
			doc:    "push (untracked files included), apply, drop or list stashes",
			fields: []engine.Field{{Name: "action", Type: engine.String, Enum: []string{"push", "apply", "drop", "list"}}, {Name: "message", Type: engine.String}, {Name: "stash", Type: engine.String}, snapshotField},
			destructive: func(g *gitStep, x *engine.Exec, r *git.Repo) (bool, error) {
				a, err := x.String(g.args, "action")
				return a != "list", err
			},
			run: gitStash,
		},
		"branch": {
			// A snapshot first even to create one: undo returns to the
			// first snapshot of a run, and deletes the refs made since.
			doc:         "create, move or delete a branch; a snapshot first, so that undo deletes a branch the run made",
			fields:      []engine.Field{{Name: "name", Type: engine.String, Required: true}, {Name: "from", Type: engine.String}, {Name: "delete", Type: engine.Bool}, {Name: "force", Type: engine.Bool}, snapshotField},
			destructive: always,
			run:         gitBranch,
		},
		"tag": {
			doc:         "create or delete a tag; a snapshot first, so that undo deletes a tag the run made",
			fields:      []engine.Field{{Name: "name", Type: engine.String, Required: true}, {Name: "ref", Type: engine.String}, {Name: "delete", Type: engine.Bool}, {Name: "force", Type: engine.Bool}, {Name: "message", Type: engine.String}, snapshotField},
			destructive: always,
			run:         gitTag,
		},
		"commit": {
			doc:    "commit what is staged (all: true stages every change first, untracked files too except ignored ones and those named like secrets, which the output left_out lists)",
			fields: []engine.Field{{Name: "message", Type: engine.String, Required: true}, {Name: "all", Type: engine.Bool}, {Name: "allow_empty", Type: engine.Bool}},
			run:    gitCommit,
		},
		"cherry_pick": {
			doc:         "apply commits onto HEAD; a snapshot first. A merge commit needs mainline, the parent (1, 2, ...) whose side it is applied against; without it a merge is refused before any commit is applied",
			fields:      []engine.Field{{Name: "commits", Type: engine.List, Required: true}, {Name: "mainline", Type: engine.Int}, snapshotField},
			destructive: always,
			run:         gitCherryPick,
		},
		"restore_files": {
			doc:         "bring files back as they are in a ref; a snapshot first",
			fields:      []engine.Field{{Name: "files", Type: engine.List, Required: true}, {Name: "from", Type: engine.String, Required: true}, snapshotField},
			destructive: always,
			run:         gitRestoreFiles,
		},
		"fetch": {
			doc:    "fetch from a remote",
			fields: []engine.Field{{Name: "remote", Type: engine.String}, {Name: "refs", Type: engine.List}, {Name: "prune", Type: engine.Bool}},
			run:    gitFetch,
		},
		"log": {
			doc:    "list commits",
			fields: []engine.Field{{Name: "range", Type: engine.String}, {Name: "ref", Type: engine.String}, {Name: "paths", Type: engine.List}, {Name: "max", Type: engine.Int}},
			run:    gitLog,
		},
		"diff": {
			doc:    "list the files changed between refs",
			fields: []engine.Field{{Name: "range", Type: engine.String}, {Name: "ref", Type: engine.String}, {Name: "paths", Type: engine.List}, {Name: "stat", Type: engine.Bool}},
			run:    gitDiff,
		},
		"exclude": {
			doc:    "add patterns to .git/info/exclude (each once; the lines already there are kept), so that files rbflow keeps in the tree stay out of git status",
			fields: []engine.Field{{Name: "patterns", Type: engine.List, Required: true}},
			run:    gitExclude,
		},
		"status": {
			doc: "the branch, HEAD and the work tree's changes",
			run: gitStatus,
		},
		"reflog": {
			doc:    "where HEAD has been",
			fields: []engine.Field{{Name: "ref", Type: engine.String}, {Name: "max", Type: engine.Int}},
			run:    gitReflog,
		},
		"rev_parse": {
			doc:    "resolve a ref to a commit",
			fields: []engine.Field{{Name: "ref", Type: engine.String, Required: true}},
			run:    gitRevParse,
		},
		"exec": {
			doc:    "run git with raw arguments (destructive: true takes a snapshot first)",
			fields: []engine.Field{{Name: "args", Type: engine.List, Required: true}, {Name: "destructive", Type: engine.Bool}, snapshotField},
			destructive: func(g *gitStep, x *engine.Exec, r *git.Repo) (bool, error) {
				return x.Bool(g.args, "destructive")
			},
			run: gitExec,
		},
		"restore_snapshot": {
			doc:         "bring back a snapshot a run saved (it saves its own backup first)",
			fields:      []engine.Field{{Name: "run", Type: engine.String, Required: true}, {Name: "force", Type: engine.Bool}},
			destructive: func(*gitStep, *engine.Exec, *git.Repo) (bool, error) { return false, nil }, // it saves its own backup
			run:         gitRestoreSnapshot,
		},
	}
}

func gitActionNames() []string {
	names := make([]string, 0, len(gitActions))
	for n := range gitActions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Signature: the actions of gitActions, each with its fields.
func (gitKind) Signature() engine.Signature {
	sig := engine.Signature{Arg: "a git action, run as argv, never through a shell (arguments under with:)"}
	for _, name := range gitActionNames() {
		def := gitActions[name]
		sig.Actions = append(sig.Actions, engine.ActionSig{Name: name, Description: def.doc, With: def.fields})
	}
	return sig
}

func (gitKind) Compile(c *engine.KindContext) engine.Action {
	name := c.Action()
	def := gitActions[name]
	args := c.With()
	g := &gitStep{name: name, def: def, args: args}
	// Literal refs and paths are checked now; interpolated ones when they run.
	for _, f := range []string{"ref", "to", "from", "name", "range", "remote"} {
		if v, ok := args.Literal(f); ok {
			if err := checkGitValue(name, f, v.(string)); err != nil {
				c.Errorf(args.Pos(f), "%v", err)
			}
		}
	}
	for _, f := range []string{"files", "paths"} {
		if v, ok := args.Literal(f); ok {
			for i, p := range v.([]string) {
				if err := git.CheckPath(p); err != nil {
					c.Errorf(args.ItemPos(f, i), "with.%s: %v", f, err)
				}
			}
		}
	}
	return g
}

// gitStep is a compiled git step.
type gitStep struct {
	name string
	def  gitActionDef
	args *engine.Args
}

// DefaultOnResume: destructive git actions ask before running again.
func (g *gitStep) DefaultOnResume() string {
	if g.def.destructive == nil {
		return "rerun"
	}
	if g.name == "exec" {
		// exec is destructive only when it says so.
		if v, ok := g.args.Literal("destructive"); !g.args.Has("destructive") || ok && v == false {
			return "rerun"
		}
	}
	return "ask"
}

// Describe says what would run, for --dry-run.
func (g *gitStep) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	var parts []string
	for _, f := range g.def.fields {
		if !g.args.Has(f.Name) {
			continue
		}
		v, err := x.Value(g.args, f.Name)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s=%v", f.Name, v))
	}
	s := "git " + g.name
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	switch {
	case g.def.destructive == nil:
	case g.name == "checkout" || g.name == "switch":
		// Whether the tree has changes is known only when the step runs.
		if discard, _ := x.Bool(g.args, "discard_changes"); discard {
			s += "\nsnapshot first: refs/rbflow/<run>/" + x.StepID
		} else {
			s += "\nsnapshot first if the work tree has changes: refs/rbflow/<run>/" + x.StepID
		}
	default:
		// The other actions tell from their arguments alone.
		if want, err := g.def.destructive(g, x, nil); want || err != nil {
			s += "\nsnapshot first: refs/rbflow/<run>/" + x.StepID
		}
	}
	return s, nil
}

// checkGitValue checks a ref-like argument from a user.
func checkGitValue(action, field, v string) error {
	if v == "" {
		return nil
	}
	switch field {
	case "name":
		prefix := "refs/heads/"
		if action == "tag" {
			prefix = "refs/tags/"
		}
		if err := git.CheckRef(prefix + v); err != nil || strings.HasPrefix(v, "-") {
			if err == nil {
				err = fmt.Errorf("invalid name %q: it begins with '-'", v)
			}
			return fmt.Errorf("with.name: %w", err)
		}
	default:
		if strings.HasPrefix(v, "-") {
			return fmt.Errorf("with.%s: %q begins with '-', which git would read as an option", field, v)
		}
		if strings.ContainsAny(v, "\x00\n\r") {
			return fmt.Errorf("with.%s: %q holds a control character", field, v)
		}
	}
	return nil
}

func (g *gitStep) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	r, err := git.Open(ctx, x.Dir)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	r.Env = x.Env
	if err := g.checkArgs(x); err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	if x.Resumed {
		if err := clearStaleLock(ctx, x, r); err != nil {
			return engine.Result{ExitCode: -1}, err
		}
	}
	outputs := map[string]any{}
	if g.def.destructive != nil {
		want, err := g.def.destructive(g, x, r)
		if err != nil {
			return engine.Result{ExitCode: -1}, err
		}
		if off, _ := x.Bool(g.args, "snapshot"); g.args.Has("snapshot") && !off {
			want = false
		}
		if want {
			snap, err := protect(ctx, x, r)
			if err != nil {
				return engine.Result{ExitCode: -1}, fmt.Errorf("nothing was changed: the snapshot before this step failed: %w", err)
			}
			outputs["snapshot"] = snap.Ref
			outputs["snapshot_commit"] = snap.Commit
		}
	}
	out, err := g.def.run(ctx, g, x, r)
	for k, v := range out {
		outputs[k] = v
	}
	// Every action reports where HEAD is afterwards.
	if head, br, herr := r.HeadBranch(context.WithoutCancel(ctx)); herr == nil {
		outputs["head"], outputs["branch"] = head, br
	}
	code := 0
	if err != nil {
		code = 1
		var ce *git.CommandError
		if errors.As(err, &ce) {
			code = ce.ExitCode()
		}
	}
	return engine.Result{ExitCode: code, Outputs: outputs}, err
}

// checkArgs checks interpolated refs and paths before anything runs.
func (g *gitStep) checkArgs(x *engine.Exec) error {
	for _, f := range []string{"ref", "to", "from", "name", "range", "remote"} {
		if !g.args.Has(f) {
			continue
		}
		v, err := x.String(g.args, f)
		if err != nil {
			return err
		}
		if err := checkSecretName(g.name, f, x, v); err != nil {
			return err
		}
		if err := checkGitValue(g.name, f, v); err != nil {
			return err
		}
	}
	for _, f := range []string{"files", "paths", "commits"} {
		if !g.args.Has(f) {
			continue
		}
		l, err := x.Strings(g.args, f)
		if err != nil {
			return err
		}
		if len(l) == 0 && g.name == "restore_files" {
			// git checkout COMMIT -- with no paths would switch HEAD to COMMIT.
			return errors.New("with.files is empty: there is nothing to restore")
		}
		for _, p := range l {
			if f == "commits" {
				if err := checkGitValue(g.name, "commit", p); err != nil {
					return err
				}
				continue
			}
			if err := git.CheckPath(p); err != nil {
				return fmt.Errorf("with.%s: %w", f, err)
			}
		}
	}
	return nil
}

// snapshotRef names the snapshot of a step. A step that runs again in a
// later execution (retry, resume --from) gets a new one: the old one holds
// the state before its first run, the new one the state before this run.
func snapshotRef(runID, stepID string, n int) string {
	if n <= 1 {
		return git.KeptPrefix + runID + "/" + stepID
	}
	return fmt.Sprintf("%s%s/%s.%d", git.KeptPrefix, runID, stepID, n)
}

// protect takes the snapshot before a destructive action, or reuses the one
// this step took before it was interrupted (or before an earlier attempt):
// taking a new one then would save a half-changed tree as "before".
func protect(ctx context.Context, x *engine.Exec, r *git.Repo) (*git.Snapshot, error) {
	taken, err := stepSnapshots(ctx, x)
	if err != nil {
		return nil, err
	}
	reuse := x.Resumed || x.Attempt > 1
	n := len(taken) + 1
	if reuse && len(taken) > 0 {
		last := taken[len(taken)-1]
		snap, err := r.ReadSnapshot(ctx, last.Ref)
		if err == nil {
			fmt.Fprintf(x.Log, "reusing snapshot %s taken before this step was interrupted\n", last.Ref)
			return snap, nil
		}
	}
	ref := snapshotRef(x.RunID, x.StepID, n)
	if reuse {
		// Killed between taking the snapshot and recording it.
		if snap, err := r.ReadSnapshot(ctx, ref); err == nil {
			if err := recordSnapshot(ctx, x, snap); err != nil {
				return nil, err
			}
			fmt.Fprintf(x.Log, "reusing snapshot %s taken before this step was interrupted\n", ref)
			return snap, nil
		}
	}
	// Snapshots must finish even when Ctrl-C arrives: a half-written one is
	// worth nothing. A ref taken already (one this step kept but could not
	// record, and did not reuse) is never overwritten: the snapshot goes to
	// the next free one. Keeping the ref refuses atomically, so no lookup
	// comes first.
	var snap *git.Snapshot
	for tries := 0; ; tries++ {
		snap, err = r.Snapshot(context.WithoutCancel(ctx), ref, git.SnapshotOptions{IncludeIgnored: true, Message: fmt.Sprintf("before step %s of run %s", x.StepID, x.RunID)})
		if !errors.Is(err, git.ErrRefExists) || tries == 100 {
			break
		}
		n++
		ref = snapshotRef(x.RunID, x.StepID, n)
	}
	if err != nil {
		return nil, err
	}
	if err := recordSnapshot(ctx, x, snap); err != nil {
		return nil, err
	}
	fmt.Fprintf(x.Log, "saved snapshot %s (%s)%s\n", ref, snap.Commit[:12], skippedNote(snap))
	return snap, nil
}

// stepSnapshots returns the snapshots this step recorded before, oldest
// first.
func stepSnapshots(ctx context.Context, x *engine.Exec) ([]engine.Snapshot, error) {
	all, err := x.Snapshots().Snapshots(ctx, x.RunID)
	if err != nil {
		return nil, err
	}
	var mine []engine.Snapshot
	for _, s := range all {
		if s.StepID == x.StepID {
			mine = append(mine, s)
		}
	}
	return mine, nil
}

// recordSnapshot records a snapshot the step took. A destructive step whose
// snapshot cannot be recorded does not go ahead.
func recordSnapshot(ctx context.Context, x *engine.Exec, snap *git.Snapshot) error {
	var skipped []string
	for _, s := range snap.Skipped {
		skipped = append(skipped, fmt.Sprintf("%s (%s)", s.Path, s.Reason))
	}
	err := x.Snapshots().SaveSnapshot(context.WithoutCancel(ctx), engine.Snapshot{RunID: x.RunID, StepID: x.StepID, Ref: snap.Ref, Commit: snap.Commit, CreatedAt: time.Now(), Skipped: skipped})
	if err != nil {
		return fmt.Errorf("record snapshot %s: %w", snap.Ref, err)
	}
	return nil
}

func skippedNote(snap *git.Snapshot) string {
	if len(snap.Skipped) == 0 {
		return ""
	}
	var parts []string
	for i, s := range snap.Skipped {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(snap.Skipped)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", s.Path, s.Reason))
	}
	return "; not saved: " + strings.Join(parts, ", ")
}

// staleLockAge is how long a lock (index.lock, a ref's lock) must sit
// unchanged before a resumed step takes it for the leftover of a git that
// died with rbflow.
const staleLockAge = 10 * time.Second

// clearStaleLock handles the locks a git that died with rbflow left: the
// index's, and the refs' (HEAD.lock, refs/heads/main.lock...), which git
// cannot remove when it is SIGKILLed and without which it updates nothing.
// A live git gets time to finish; a lock unchanged for staleLockAge is
// removed, and the step's log says so.
func clearStaleLock(ctx context.Context, x *engine.Exec, r *git.Repo) error {
	for {
		traces, err := r.Traces(ctx)
		if err != nil {
			return err
		}
		var locks []git.Trace
		fresh := false
		for _, t := range traces {
			if t.Kind == git.TraceIndexLock || t.Kind == git.TraceRefLock {
				locks = append(locks, t)
				fresh = fresh || time.Since(t.ModTime) < staleLockAge
			}
		}
		if len(locks) == 0 {
			return nil
		}
		if !fresh {
			for _, t := range locks {
				removed, err := r.RemoveStaleLock(ctx, t, staleLockAge)
				if err != nil {
					return fmt.Errorf("a stale lock blocks git: %w", err)
				}
				if removed {
					fmt.Fprintf(x.Log, "removed %s, left by a git process that died with rbflow\n", t.Path)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// inProgress refuses to start when git is in the middle of another
// operation, with the command that finishes it.
func inProgress(ctx context.Context, r *git.Repo, allow ...git.TraceKind) error {
	traces, err := r.Traces(ctx)
	if err != nil {
		return err
	}
	for _, t := range traces {
		if t.Kind == git.TraceIndexLock || t.Kind == git.TraceRefLock || slices.Contains(allow, t.Kind) {
			continue
		}
		return engine.NeedPerson(t.Advice + "; then rbflow resume")
	}
	return nil
}

// resolve turns a user's revision into a commit id, so that destructive
// commands only ever get a checked 40-hex id.
func resolve(ctx context.Context, r *git.Repo, rev string) (string, error) {
	return r.ResolveCommit(ctx, rev)
}

// finish runs a git command that changes state; it is not cancelled by
// Ctrl-C (git would leave a lock or a half-written index behind).
func finish(ctx context.Context, r *git.Repo, args ...string) (string, error) {
	c, cancel := lasting(ctx)
	defer cancel()
	return r.Git(c, args...)
}

// lasting is the context of git commands that change state: Ctrl-C does
// not cut them off, a git that hangs does not hold the run forever.
func lasting(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
}

// message returns a message that git will keep (a commit's, a tag's, a
// stash's or a snapshot's) with secret values masked: git stores messages
// in clear and pushes them (SPEC §4.1).
func message(x *engine.Exec, msg string) string {
	masked := x.Mask(msg)
	if masked != msg {
		fmt.Fprintln(x.Log, "the message holds the value of a secret param: git gets *** in its place")
	}
	return masked
}

// checkSecretName refuses a ref name that holds the value of a secret
// param: git keeps ref names in clear, in refs, reflogs and every push
// (SPEC §4.1). The error names the argument, never the value.
func checkSecretName(action, field string, x *engine.Exec, v string) error {
	names := field == "name" && (action == "branch" || action == "tag") ||
		field == "ref" && (action == "checkout" || action == "switch")
	if !names || x.Mask(v) == v {
		return nil
	}
	return fmt.Errorf("with.%s holds the value of a secret param, and git keeps ref names in clear (refs, reflogs, pushes): name the ref without it (nothing was changed)", field)
}

func gitSnapshot(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	opt := git.SnapshotOptions{IncludeIgnored: true}
	if g.args.Has("include_ignored") {
		b, err := x.Bool(g.args, "include_ignored")
		if err != nil {
			return nil, err
		}
		opt.IncludeIgnored = b
	}
	var err error
	if opt.Exclude, err = x.Strings(g.args, "exclude"); err != nil {
		return nil, err
	}
	if g.args.Has("reinstallable") {
		if opt.Reinstallable, err = x.Strings(g.args, "reinstallable"); err != nil {
			return nil, err
		}
		if opt.Reinstallable == nil {
			opt.Reinstallable = []string{}
		}
	}
	if g.args.Has("max_file_size_mb") {
		mb, err := x.Int(g.args, "max_file_size_mb")
		if err != nil {
			return nil, err
		}
		opt.MaxFileSize = int64(mb) << 20
	}
	if opt.Message, err = x.String(g.args, "message"); err != nil {
		return nil, err
	}
	opt.Message = message(x, opt.Message)
	taken, err := stepSnapshots(ctx, x)
	if err != nil {
		return nil, err
	}
	if x.Resumed || x.Attempt > 1 {
		for _, s := range taken {
			if snap, err := r.ReadSnapshot(ctx, s.Ref); err == nil {
				return snapshotOutputs(snap), nil
			}
		}
	}
	n := len(taken) + 1
	ref := snapshotRef(x.RunID, x.StepID, n)
	for {
		exists, err := r.RefExists(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !exists {
			break
		}
		if x.Resumed {
			if snap, err := r.ReadSnapshot(ctx, ref); err == nil {
				return snapshotOutputs(snap), recordSnapshot(ctx, x, snap)
			}
		}
		n++
		ref = snapshotRef(x.RunID, x.StepID, n)
	}
	snap, err := r.Snapshot(context.WithoutCancel(ctx), ref, opt)
	if err != nil {
		return nil, err
	}
	if err := recordSnapshot(ctx, x, snap); err != nil {
		return nil, err
	}
	fmt.Fprintf(x.Log, "saved snapshot %s (%s)%s\n", ref, snap.Commit[:12], skippedNote(snap))
	return snapshotOutputs(snap), nil
}

func snapshotOutputs(snap *git.Snapshot) map[string]any {
	var skipped []any
	for _, s := range snap.Skipped {
		skipped = append(skipped, s.Path)
	}
	return map[string]any{"snapshot": snap.Ref, "snapshot_commit": snap.Commit, "skipped": skipped}
}

// overLocalEdits: a checkout or switch is destructive when it is told to
// discard changes or the tree has any.
func overLocalEdits(g *gitStep, x *engine.Exec, r *git.Repo) (bool, error) {
	discard, err := x.Bool(g.args, "discard_changes")
	if err != nil || discard {
		return true, err
	}
	return r.IsDirty(context.Background())
}

func gitCheckout(verb string) func(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	return func(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
		ref, err := x.String(g.args, "ref")
		if err != nil {
			return nil, err
		}
		create, err := x.Bool(g.args, "create")
		if err != nil {
			return nil, err
		}
		discard, err := x.Bool(g.args, "discard_changes")
		if err != nil {
			return nil, err
		}
		args := []string{"switch"}
		if discard {
			// The snapshot holds the operation in progress and the index
			// flags; without this git refuses to switch.
			if err := r.PrepareDiscard(ctx); err != nil {
				return nil, err
			}
			args = append(args, "--discard-changes")
		}
		if create {
			if err := git.CheckRef("refs/heads/" + ref); err != nil {
				return nil, fmt.Errorf("with.ref: %w", err)
			}
			exists, err := r.RefExists(ctx, "refs/heads/"+ref)
			if err != nil {
				return nil, err
			}
			if exists && x.Resumed {
				// Created before the interruption: switch to it.
				args = append(args, "--end-of-options", ref)
			} else {
				args = append(args, "-c", ref, "--end-of-options")
			}
		} else if isBranch, _ := r.RefExists(ctx, "refs/heads/"+ref); isBranch && git.CheckRef("refs/heads/"+ref) == nil {
			args = append(args, "--end-of-options", ref)
		} else {
			sha, err := resolve(ctx, r, ref)
			if err != nil {
				return nil, err
			}
			args = append(args, "--detach", "--end-of-options", sha)
		}
		_ = verb
		_, err = finish(ctx, r, args...)
		return nil, err
	}
}

func gitReset(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	arg := x.Read(g.args)
	to := arg.String("to")
	mode := arg.String("mode")
	if arg.Err != nil {
		return nil, arg.Err
	}
	sha, err := resolve(ctx, r, to)
	if err != nil {
		return nil, err
	}
	before, _ := r.Head(ctx)
	if mode == "hard" {
		if err := r.PrepareDiscard(ctx); err != nil {
			return nil, err
		}
	}
	if _, err := finish(ctx, r, "reset", "--"+mode, "-q", sha, "--"); err != nil {
		return nil, err
	}
	return map[string]any{"previous_head": before}, nil
}

func gitClean(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	dirs := true
	if g.args.Has("directories") {
		b, err := x.Bool(g.args, "directories")
		if err != nil {
			return nil, err
		}
		dirs = b
	}
	arg := x.Read(g.args)
	ignored := arg.Bool("ignored")
	paths := arg.Strings("paths")
	excludes := arg.Strings("exclude")
	if arg.Err != nil {
		return nil, arg.Err
	}
	args := []string{"clean", "-f"}
	if dirs {
		args = append(args, "-d")
	}
	if ignored {
		args = append(args, "-x")
	}
	for _, e := range excludes {
		args = append(args, "--exclude="+e)
	}
	// Two -f would also remove nested repositories; one does not: a nested
	// repository holds history a snapshot cannot save.
	dry := append(append([]string{}, args...), "-n", "--")
	dry = append(dry, paths...)
	list, err := r.Git(ctx, dry...)
	if err != nil {
		return nil, err
	}
	args = append(args, "-q", "--")
	args = append(args, paths...)
	if _, err := finish(ctx, r, args...); err != nil {
		return nil, err
	}
	var removed []any
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if p, ok := strings.CutPrefix(l, "Would remove "); ok {
			removed = append(removed, p)
		}
	}
	fmt.Fprintf(x.Log, "removed %d untracked paths\n", len(removed))
	return map[string]any{"files": removed, "count": len(removed)}, nil
}

func gitStash(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	action, err := x.String(g.args, "action")
	if err != nil {
		return nil, err
	}
	if action == "" {
		action = "push"
	}
	arg := x.Read(g.args)
	msg := arg.String("message")
	which := arg.String("stash")
	if arg.Err != nil {
		return nil, arg.Err
	}
	if which != "" && !regexp.MustCompile(`^stash@\{[0-9]+\}$`).MatchString(which) {
		return nil, fmt.Errorf("with.stash: %q: use stash@{N}", which)
	}
	switch action {
	case "push":
		// Always with untracked files: a stash without them is how the
		// seed's script lost work.
		args := []string{"stash", "push", "--include-untracked"}
		if msg != "" {
			args = append(args, "-m", message(x, msg))
		}
		_, err = finish(ctx, r, args...)
	case "apply":
		args := []string{"stash", "apply"}
		if which != "" {
			args = append(args, which)
		}
		_, err = finish(ctx, r, args...)
	case "drop":
		args := []string{"stash", "drop"}
		if which != "" {
			args = append(args, which)
		}
		_, err = finish(ctx, r, args...)
	}
	if err != nil {
		return nil, err
	}
	list, err := r.Git(ctx, "stash", "list")
	if err != nil {
		return nil, err
	}
	return map[string]any{"stashes": lines(list)}, nil
}

func gitBranch(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	arg := x.Read(g.args)
	name := arg.String("name")
	from := arg.String("from")
	del := arg.Bool("delete")
	force := arg.Bool("force")
	if arg.Err != nil {
		return nil, arg.Err
	}
	full := "refs/heads/" + name
	exists, err := r.RefExists(ctx, full)
	if err != nil {
		return nil, err
	}
	if del {
		flag := "-d"
		if force {
			flag = "-D"
		}
		return deleteRef(ctx, x, r, "heads", name, exists, "branch", flag)
	}
	return createRef(ctx, r, "branch", name, from, exists, force)
}

// deleteRef deletes a branch or tag (namespace heads or tags) with git
// VERB FLAG, keeping what it pointed at under the run's refs so that
// nothing it held becomes unreachable.
func deleteRef(ctx context.Context, x *engine.Exec, r *git.Repo, namespace, name string, exists bool, verb, flag string) (map[string]any, error) {
	if !exists {
		return map[string]any{"name": name, "deleted": false}, nil
	}
	obj, err := r.Git(ctx, "rev-parse", "--verify", "--end-of-options", "refs/"+namespace+"/"+name)
	if err != nil {
		return nil, err
	}
	obj = strings.TrimSpace(obj)
	keep := fmt.Sprintf("%s%s/%s.deleted/%s/%s", git.KeptPrefix, x.RunID, x.StepID, namespace, name)
	if err := r.Keep(ctx, keep, obj); err != nil && !errors.Is(err, git.ErrRefExists) {
		return nil, err // (a resumed step kept it already)
	}
	_, err = finish(ctx, r, verb, flag, "--", name)
	return map[string]any{"name": name, "deleted": err == nil, "object": obj, "kept_at": keep}, err
}

func gitTag(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	arg := x.Read(g.args)
	name := arg.String("name")
	ref := arg.String("ref")
	del := arg.Bool("delete")
	force := arg.Bool("force")
	msg := arg.String("message")
	if arg.Err != nil {
		return nil, arg.Err
	}
	full := "refs/tags/" + name
	exists, err := r.RefExists(ctx, full)
	if err != nil {
		return nil, err
	}
	if del {
		return deleteRef(ctx, x, r, "tags", name, exists, "tag", "-d")
	}
	var annotate []string
	if msg != "" {
		annotate = []string{"-a", "-m", message(x, msg)}
	}
	return createRef(ctx, r, "tag", name, ref, exists, force, annotate...)
}

// createRef points a branch or tag (git VERB) at target (HEAD when empty).
// One that already points there is left alone (a resumed step); one that
// points elsewhere moves only with force.
func createRef(ctx context.Context, r *git.Repo, verb, name, target string, exists, force bool, extra ...string) (map[string]any, error) {
	if target == "" {
		target = "HEAD"
	}
	sha, err := resolve(ctx, r, target)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"name": name, "commit": sha}
	if exists && !force {
		namespace := "refs/heads/"
		if verb == "tag" {
			namespace = "refs/tags/"
		}
		cur, err := resolve(ctx, r, namespace+name)
		if err != nil {
			return nil, err
		}
		if cur == sha {
			return out, nil
		}
		return nil, fmt.Errorf("%s %s already exists at %s; set with.force to move it (a snapshot is taken first)", verb, name, cur[:12])
	}
	args := []string{verb}
	if force {
		args = append(args, "-f")
	}
	args = append(append(args, extra...), "--", name, sha)
	_, err = finish(ctx, r, args...)
	return out, err
}

func gitCommit(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	if err := inProgress(ctx, r); err != nil {
		return nil, err
	}
	arg := x.Read(g.args)
	msg := arg.String("message")
	all := arg.Bool("all")
	empty := arg.Bool("allow_empty")
	if arg.Err != nil {
		return nil, arg.Err
	}
	var leftOut []string
	if all {
		// All means all: untracked files too, except ignored ones and
		// untracked ones that look like secrets (SPEC §12).
		c, cancel := lasting(ctx)
		var err error
		leftOut, err = r.AddAll(c)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, f := range leftOut {
			pattern, _ := git.SecretLike(f)
			fmt.Fprintf(x.Log, "left out of the commit: %q, untracked and named like a secret (%s); it stays in the work tree as it is (git add it first to commit it)\n", f, pattern)
		}
	}
	staged, err := r.Git(ctx, "diff", "--cached", "--name-only")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(staged) == "" && !empty {
		fmt.Fprintln(x.Log, "nothing to commit")
		return map[string]any{"committed": false, "left_out": toAny(leftOut)}, nil
	}
	args := []string{"commit", "-q", "--no-verify", "-m", message(x, msg)}
	if empty {
		args = append(args, "--allow-empty")
	}
	if _, err := finish(ctx, r, args...); err != nil {
		return nil, err
	}
	sha, _ := r.Head(ctx)
	return map[string]any{"committed": true, "commit": sha, "files": lines(staged), "left_out": toAny(leftOut)}, nil
}

func gitCherryPick(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	commits, err := x.Strings(g.args, "commits")
	if err != nil {
		return nil, err
	}
	mainline, err := x.Int(g.args, "mainline")
	if err != nil {
		return nil, err
	}
	// A cherry-pick stopped on a conflict: go on once it is resolved.
	traces, err := r.Traces(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range traces {
		if t.Kind != git.TraceCherryPick {
			continue
		}
		unmerged, err := r.Git(ctx, "diff", "--name-only", "--diff-filter=U")
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(unmerged) != "" {
			return nil, engine.NeedPerson(fmt.Sprintf("the cherry-pick stopped on conflicts in %s: resolve them and git add the files, then rbflow resume (or git cherry-pick --abort, then rbflow resume)", strings.Join(lines(unmerged), ", ")))
		}
		if _, err := finishEnv(ctx, r, []string{"GIT_EDITOR=true"}, "cherry-pick", "--continue"); err != nil {
			return nil, err
		}
		fmt.Fprintln(x.Log, "continued the cherry-pick that was stopped on a conflict")
	}
	if err := inProgress(ctx, r); err != nil {
		return nil, err
	}
	// Merges are checked before anything is applied: git refuses a merge
	// without -m half-way through the list.
	shas := make([]string, len(commits))
	parents := make([]int, len(commits))
	for i, c := range commits {
		if shas[i], err = resolve(ctx, r, c); err != nil {
			return nil, err
		}
		out, err := r.Git(ctx, "rev-list", "--no-walk", "--parents", "--end-of-options", shas[i], "--")
		if err != nil {
			return nil, err
		}
		parents[i] = len(strings.Fields(out)) - 1
		if err := checkMainline(shas[i], parents[i], mainline); err != nil {
			return nil, err
		}
	}
	var applied, skipped []any
	for i, sha := range shas {
		// A commit is already there when HEAD has a commit picked from it
		// (-x leaves "cherry picked from commit SHA", also after a conflict
		// was resolved) or git cherry finds the same change (-): picking is
		// re-runnable and never applies a commit twice.
		picked, err := r.Git(ctx, "log", "-n", "1", "--format=%H", "--fixed-strings", "--grep=(cherry picked from commit "+sha+")", "HEAD")
		if err != nil {
			return nil, err
		}
		out, err := r.Git(ctx, "cherry", "HEAD", sha, sha+"^")
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(picked) != "" || strings.HasPrefix(strings.TrimSpace(out), "-") {
			fmt.Fprintf(x.Log, "%s is already applied\n", sha[:12])
			skipped = append(skipped, sha)
			continue
		}
		pick := []string{"cherry-pick", "-x", "--allow-empty"}
		if parents[i] > 1 {
			pick = append(pick, "-m", strconv.Itoa(mainline))
		}
		if _, err := finishEnv(ctx, r, []string{"GIT_EDITOR=true"}, append(pick, sha)...); err != nil {
			unmerged, _ := r.Git(ctx, "diff", "--name-only", "--diff-filter=U")
			if strings.TrimSpace(unmerged) != "" {
				return map[string]any{"applied": applied, "skipped": skipped, "conflict": sha},
					engine.NeedPerson(fmt.Sprintf("cherry-pick of %s stopped on conflicts in %s: resolve them and git add the files, then rbflow resume (rbflow continues the cherry-pick and the commits after it)", sha[:12], strings.Join(lines(unmerged), ", ")))
			}
			return nil, err
		}
		fmt.Fprintf(x.Log, "applied %s\n", sha[:12])
		applied = append(applied, sha)
	}
	return map[string]any{"applied": applied, "skipped": skipped, "commits": append(append([]any{}, applied...), skipped...)}, nil
}

// checkMainline says why a commit with the given number of parents cannot
// be cherry-picked with mainline (0: none given), or nil when it can: a
// merge needs the parent whose side it is applied against, one it has.
func checkMainline(sha string, parents, mainline int) error {
	switch {
	case parents > 1 && mainline == 0:
		return fmt.Errorf("%s is a merge commit: cherry-picking it needs mainline, the parent whose side is kept (1 for the branch it was merged into, usually); leave it out, pick the commits it merged, or set mainline", sha[:12])
	case parents > 1 && mainline > parents:
		return fmt.Errorf("%s is a merge of %d parents: mainline %d is not one of them", sha[:12], parents, mainline)
	case mainline < 0:
		return fmt.Errorf("mainline %d: a parent's number starts at 1", mainline)
	}
	return nil
}

func finishEnv(ctx context.Context, r *git.Repo, env []string, args ...string) (string, error) {
	cp := *r
	cp.Env = append(append([]string{}, r.Env...), env...)
	return finish(ctx, &cp, args...)
}

func gitRestoreFiles(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	arg := x.Read(g.args)
	files := arg.Strings("files")
	from := arg.String("from")
	if arg.Err != nil {
		return nil, arg.Err
	}
	sha, err := resolve(ctx, r, from)
	if err != nil {
		return nil, err
	}
	var restored, missing []any
	for _, f := range files {
		if _, err := r.Git(ctx, "cat-file", "-e", sha+":"+strings.TrimPrefix(f, "./")); err != nil {
			missing = append(missing, f)
			continue
		}
		restored = append(restored, f)
	}
	if len(missing) > 0 {
		return map[string]any{"missing": missing}, fmt.Errorf("not in %s (nothing was changed): %v", from, missing)
	}
	args := []string{"--literal-pathspecs", "checkout", sha, "--"}
	args = append(args, files...)
	if _, err := finish(ctx, r, args...); err != nil {
		return nil, err
	}
	return map[string]any{"files": restored, "from": sha}, nil
}

func gitFetch(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	remote, err := x.String(g.args, "remote")
	if err != nil {
		return nil, err
	}
	if remote == "" {
		remote = "origin"
	}
	arg := x.Read(g.args)
	refs := arg.Strings("refs")
	prune := arg.Bool("prune")
	if arg.Err != nil {
		return nil, arg.Err
	}
	args := []string{"fetch", "-q"}
	if prune {
		args = append(args, "--prune")
	}
	args = append(args, "--end-of-options", remote)
	for _, ref := range refs {
		if strings.HasPrefix(ref, "-") {
			return nil, fmt.Errorf("with.refs: %q begins with '-'", ref)
		}
		args = append(args, ref)
	}
	_, err = r.Git(ctx, args...)
	return map[string]any{"remote": remote}, err
}

// rangeArgs builds the revision part of log and diff.
func rangeArgs(g *gitStep, x *engine.Exec) ([]string, error) {
	arg := x.Read(g.args)
	rng := arg.String("range")
	ref := arg.String("ref")
	if arg.Err != nil {
		return nil, arg.Err
	}
	var out []string
	for _, v := range []string{rng, ref} {
		if v == "" {
			continue
		}
		if strings.HasPrefix(v, "-") {
			return nil, fmt.Errorf("%q begins with '-'", v)
		}
		out = append(out, v)
	}
	return out, nil
}

func pathArgs(g *gitStep, x *engine.Exec) ([]string, error) {
	paths, err := x.Strings(g.args, "paths")
	if err != nil {
		return nil, err
	}
	return append([]string{"--"}, paths...), nil
}

func gitLog(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	revs, err := rangeArgs(g, x)
	if err != nil {
		return nil, err
	}
	paths, err := pathArgs(g, x)
	if err != nil {
		return nil, err
	}
	args := []string{"log", "--format=%H%x09%P%x09%s"}
	if n, err := x.Int(g.args, "max"); err != nil {
		return nil, err
	} else if n > 0 {
		args = append(args, "-n", strconv.Itoa(n))
	}
	args = append(args, "--end-of-options")
	args = append(args, revs...)
	args = append(args, paths...)
	out, err := r.Git(ctx, args...)
	if err != nil {
		return nil, err
	}
	commits, subjects, merges := []any{}, []any{}, []any{}
	for _, l := range lines(out) {
		sha, rest, _ := strings.Cut(l, "\t")
		parents, subj, _ := strings.Cut(rest, "\t")
		commits = append(commits, sha)
		subjects = append(subjects, subj)
		mark := ""
		if len(strings.Fields(parents)) > 1 {
			merges = append(merges, sha)
			mark = " (merge)"
		}
		fmt.Fprintf(x.Log, "%s %s%s\n", sha[:12], subj, mark)
	}
	return map[string]any{"commits": commits, "subjects": subjects, "merges": merges, "count": len(commits)}, nil
}

func gitDiff(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	revs, err := rangeArgs(g, x)
	if err != nil {
		return nil, err
	}
	paths, err := pathArgs(g, x)
	if err != nil {
		return nil, err
	}
	names, err := r.Git(ctx, append(append([]string{"diff", "--name-only", "--end-of-options"}, revs...), paths...)...)
	if err != nil {
		return nil, err
	}
	stat, err := r.Git(ctx, append(append([]string{"diff", "--stat", "--end-of-options"}, revs...), paths...)...)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(x.Log, stat)
	files := lines(names)
	return map[string]any{"files": toAny(files), "count": len(files), "stat": strings.TrimSpace(stat)}, nil
}

func gitExclude(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	patterns, err := x.Strings(g.args, "patterns")
	if err != nil {
		return nil, err
	}
	rel, err := r.Git(ctx, "rev-parse", "--git-path", "info/exclude")
	if err != nil {
		return nil, err
	}
	path := strings.TrimSpace(rel)
	if !filepath.IsAbs(path) {
		path = filepath.Join(r.Dir, path)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var add []string
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" || strings.ContainsAny(p, "\n\r") {
			return nil, fmt.Errorf("exclude pattern %q: want one non-empty line", p)
		}
		if !have[p] {
			have[p] = true
			add = append(add, p)
		}
	}
	if len(add) > 0 {
		text := string(old)
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "# kept by rbflow: its reports in the work tree\n" + strings.Join(add, "\n") + "\n"
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintf(x.Log, "added to %s: %s\n", path, strings.Join(add, ", "))
	} else {
		fmt.Fprintf(x.Log, "%s already excludes %s\n", path, strings.Join(patterns, ", "))
	}
	return map[string]any{"path": path, "added": toAny(add)}, nil
}

func gitStatus(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	out, err := r.Git(ctx, "status", "--porcelain=v1")
	if err != nil {
		return nil, err
	}
	fmt.Fprint(x.Log, out)
	var files []string
	untracked := 0
	for _, l := range lines(out) {
		if len(l) > 3 {
			files = append(files, l[3:])
			if strings.HasPrefix(l, "??") {
				untracked++
			}
		}
	}
	return map[string]any{"files": toAny(files), "dirty": len(files) > 0, "count": len(files), "untracked": untracked}, nil
}

func gitReflog(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	ref, err := x.String(g.args, "ref")
	if err != nil {
		return nil, err
	}
	args := []string{"reflog", "show", "--format=%H%x09%gs"}
	if n, err := x.Int(g.args, "max"); err != nil {
		return nil, err
	} else if n > 0 {
		args = append(args, "-n", strconv.Itoa(n))
	}
	if ref != "" {
		args = append(args, "--end-of-options", ref)
	}
	out, err := r.Git(ctx, args...)
	if err != nil {
		return nil, err
	}
	var entries []any
	for _, l := range lines(out) {
		entries = append(entries, l)
		fmt.Fprintln(x.Log, l)
	}
	return map[string]any{"entries": entries, "count": len(entries)}, nil
}

func gitRevParse(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	ref, err := x.String(g.args, "ref")
	if err != nil {
		return nil, err
	}
	sha, err := resolve(ctx, r, ref)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(x.Log, sha)
	return map[string]any{"commit": sha}, nil
}

func gitExec(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	args, err := x.Strings(g.args, "args")
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, errors.New("with.args is empty")
	}
	if err := checkExecArgs(g.args, args); err != nil {
		return nil, err
	}
	out, err := finish(ctx, r, args...)
	fmt.Fprint(x.Log, out)
	return map[string]any{"stdout": strings.TrimRight(out, "\n")}, err
}

// checkExecArgs refuses an option that a value gave: an argument that
// begins with '-' reaches git only when the procedure's author wrote that
// '-' (--upload-pack=... or --output=FILE from a param would run a command
// or write a file). After a literal "--" every argument is a path.
func checkExecArgs(a *engine.Args, args []string) error {
	for i, v := range args {
		written := a.WrittenPrefix("args", i, v)
		if written == "--" && v == "--" {
			return nil
		}
		if strings.HasPrefix(v, "-") && !strings.HasPrefix(written, "-") {
			return fmt.Errorf("with.args item %d is %q, an option that comes from a value: git exec takes options only as written in the procedure (put values that may begin with '-' after a literal \"--\")", i+1, v)
		}
		if strings.ContainsAny(v, "\x00") {
			return fmt.Errorf("with.args item %d holds a NUL byte", i+1)
		}
	}
	return nil
}

// gitRestoreSnapshot brings back the state before a run's first
// destructive step; it is what `rbflow undo` runs.
func gitRestoreSnapshot(ctx context.Context, g *gitStep, x *engine.Exec, r *git.Repo) (map[string]any, error) {
	arg := x.Read(g.args)
	runID := arg.String("run")
	force := arg.Bool("force")
	if arg.Err != nil {
		return nil, arg.Err
	}
	first, err := FirstSnapshot(ctx, x.Runs(), x.Snapshots(), runID)
	if err != nil {
		return nil, err
	}
	snap, err := r.ReadSnapshot(ctx, first.Ref)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", first.Ref, err)
	}
	opt := git.RestoreOptions{Force: force, Backup: snapshotRef(x.RunID, x.StepID, 1)}
	resumed, err := r.RefExists(ctx, opt.Backup)
	if err != nil {
		return nil, err
	}
	if resumed {
		// This undo was cut off after it saved the state it found: that
		// backup holds everything the restore may have overwritten since,
		// so finishing the restore over its own half-done work loses
		// nothing.
		fmt.Fprintf(x.Log, "finishing an undo that was cut off: the state before it is saved in %s\n", opt.Backup)
		opt.Backup, opt.Force = "", true
	}
	if after, err := r.ReadSnapshot(ctx, AfterRef(runID)); err == nil {
		opt.After = after
	} else if !opt.Force {
		return nil, fmt.Errorf("run %s has no record of the state it left (it was cut off before it ended): rbflow cannot tell your later changes from the run's; check git status, then undo with --force (the current state is saved first)", runID)
	}
	if err := r.Restore(context.WithoutCancel(ctx), snap, opt); err != nil {
		if errors.Is(err, git.ErrLaterChanges) {
			return nil, fmt.Errorf("%w\nto restore anyway (what is in the way is saved in a snapshot first): rbflow undo %s --force", err, runID)
		}
		return nil, err
	}
	if backup, err := r.ReadSnapshot(ctx, snapshotRef(x.RunID, x.StepID, 1)); err == nil && !snapshotRecorded(ctx, x, backup.Ref) {
		if err := recordSnapshot(ctx, x, backup); err != nil {
			fmt.Fprintf(x.Log, "warning: %v\n", err)
		}
	}
	fmt.Fprintf(x.Log, "restored the state saved in %s before step %s of run %s\n", first.Ref, first.StepID, runID)
	if err := markUndone(ctx, x, runID); err != nil {
		return nil, err
	}
	return map[string]any{"restored": first.Ref, "from_step": first.StepID, "backup": snapshotRef(x.RunID, x.StepID, 1)}, nil
}

// snapshotRecorded reports whether the store has the run's snapshot ref
// (a resumed step may have taken it and been cut off before recording it).
func snapshotRecorded(ctx context.Context, x *engine.Exec, ref string) bool {
	snaps, err := x.Snapshots().Snapshots(ctx, x.RunID)
	if err != nil {
		return false
	}
	for _, sn := range snaps {
		if sn.Ref == ref {
			return true
		}
	}
	return false
}

// markUndone records that this undo run undid runID, so that runID is shown
// undone and never resumed or retried over it. When runID was itself an
// undo, the run it undid has its changes back: it is no longer undone.
func markUndone(ctx context.Context, x *engine.Exec, runID string) error {
	ctx = context.WithoutCancel(ctx)
	runs := x.Runs()
	if err := runs.SetUndoneBy(ctx, runID, x.RunID); err != nil {
		return err
	}
	undone, err := runs.Run(ctx, runID)
	if err != nil {
		return err
	}
	if undone.SourcePath == procedures.BuiltinPrefix+"undo" {
		if target, ok := undone.Params["run"].(string); ok && target != "" {
			if err := runs.SetUndoneBy(ctx, target, ""); err != nil {
				return err
			}
			fmt.Fprintf(x.Log, "run %s has its changes back: it is no longer undone\n", target)
		}
	}
	return nil
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
