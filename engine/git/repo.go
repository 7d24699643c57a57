package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
)

// Repo is a git work tree that rbflow operates on. Make one with Open, which
// also finds the git directories and the index.
type Repo struct {
	// Dir is the absolute top-level directory of the work tree. Every git
	// command runs there, so paths given to and read from git are relative
	// to it.
	Dir string
	// Env is appended to the environment of every git command, after the
	// process environment (later entries win).
	Env []string

	gitDir    string // per-worktree git directory
	commonDir string // shared git directory (objects, refs)
	indexFile string // the real index
	stored    string // the object directory new objects go to, when not the repository's (see storing)
	format    string // the object format: "sha1" or "sha256"
}

// CommandError is the error of a git command that failed. Its message
// includes git's standard error, which is usually what a person needs.
type CommandError struct {
	Args   []string // arguments after "git"
	Stderr string   // git's standard error, trimmed
	Err    error    // *exec.ExitError (exitStatus under a supervisor), or the context's error
}

// Error reports the command, how it failed and what git said.
func (e *CommandError) Error() string {
	msg := "git " + quoteArgs(e.Args) + ": " + e.Err.Error()
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Unwrap returns the *exec.ExitError or the context's error.
func (e *CommandError) Unwrap() error { return e.Err }

// ExitCode is git's exit status, or -1 if git did not exit normally.
func (e *CommandError) ExitCode() int {
	var ee interface{ ExitCode() int } // *exec.ExitError or exitStatus
	if errors.As(e.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func quoteArgs(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == '^' || r == '{' || r == '}' ||
				'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) < 0 {
			b.WriteString(a)
		} else {
			b.WriteString(strconv.Quote(a))
		}
	}
	return b.String()
}

// locationVars are variables that would point git at a repository, index or
// pathspec mode other than the one this Repo was opened for. They are
// dropped from the inherited environment (rbflow may itself run from a git
// hook, where GIT_DIR and GIT_INDEX_FILE are set); Repo.Env can still set them.
var locationVars = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR",
	"GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE", "GIT_PREFIX",
	"GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS", "GIT_ICASE_PATHSPECS",
}

type runOpts struct {
	dir   string // defaults to Repo.Dir
	env   []string
	stdin []byte
}

func (r *Repo) environ(extra []string) []string {
	env := make([]string, 0, len(os.Environ())+len(r.Env)+len(extra)+2)
outer:
	for _, kv := range os.Environ() {
		for _, v := range locationVars {
			if strings.HasPrefix(kv, v+"=") {
				continue outer
			}
		}
		env = append(env, kv)
	}
	env = append(env, r.Env...)
	// Never wait for a password, and never let a read-only command rewrite
	// the real index behind the user's back (git status does that otherwise).
	env = append(env, "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
	// Never reach into a submodule's files (submodule.recurse=true would
	// make reset --hard and switch discard them): snapshots save a
	// submodule's commit, not its files, so rbflow leaves those alone. The
	// setting goes after any the environment already gives.
	n := 0
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GIT_CONFIG_COUNT="); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=submodule.recurse", n), fmt.Sprintf("GIT_CONFIG_VALUE_%d=false", n), fmt.Sprintf("GIT_CONFIG_COUNT=%d", n+1))
	return append(env, extra...)
}

// run runs git with args and returns its standard output. Within a run
// (a context with a proc.Supervisor) git starts through the run's
// supervisor, so that it never outlives a killed rbflow.
func (r *Repo) run(ctx context.Context, o runOpts, args ...string) ([]byte, error) {
	if sup := proc.SupervisorOf(ctx); sup != nil {
		return r.runSupervised(ctx, sup, o, args)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.Dir
	if o.dir != "" {
		cmd.Dir = o.dir
	}
	cmd.Env = r.environ(o.env)
	if o.stdin != nil {
		cmd.Stdin = bytes.NewReader(o.stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	// SIGTERM lets git remove its lock files; SIGKILL would leave a stale
	// index.lock behind.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return stdout.Bytes(), &CommandError{Args: args, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return stdout.Bytes(), nil
}

func (r *Repo) runSupervised(ctx context.Context, sup *proc.Supervisor, o runOpts, args []string) ([]byte, error) {
	dir := r.Dir
	if o.dir != "" {
		dir = o.dir
	}
	var stdout, stderr bytes.Buffer
	c := proc.Command{Path: "git", Args: args, Dir: dir, Env: r.environ(o.env), Stdout: &stdout, Stderr: &stderr,
		Grace: 5 * time.Second, Supervisor: sup}
	if o.stdin != nil {
		c.Stdin = bytes.NewReader(o.stdin)
	}
	// SIGTERM first lets git remove its lock files.
	code, err := proc.Run(ctx, c, nil)
	if err == nil && code != 0 {
		err = exitStatus(code)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return stdout.Bytes(), &CommandError{Args: args, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return stdout.Bytes(), nil
}

// exitStatus is the error of a git that exited with a non-zero status
// under the supervisor.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// ExitCode returns the status.
func (e exitStatus) ExitCode() int { return int(e) }

// exitCode reports git's exit status if err is a CommandError for a git that
// ran and exited, else -1.
func exitCode(err error) int {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.ExitCode()
	}
	return -1
}

// Open finds the git work tree that contains dir: from the files where
// they tell for sure (see discover), else with git rev-parse.
func Open(ctx context.Context, dir string) (*Repo, error) {
	if r := opened.get(dir); r != nil {
		return r, nil
	}
	if r, ok := discover(dir); ok {
		opened.put(dir, r)
		return r, nil
	}
	r := &Repo{}
	out, err := r.run(ctx, runOpts{dir: dir}, "rev-parse", "--path-format=absolute",
		"--show-toplevel", "--absolute-git-dir", "--git-common-dir", "--git-path", "index", "--show-object-format")
	if err != nil {
		return nil, fmt.Errorf("open git work tree at %s: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 5 {
		return nil, fmt.Errorf("open git work tree at %s: unexpected rev-parse output %q", dir, out)
	}
	r.Dir, r.gitDir, r.commonDir, r.indexFile, r.format = lines[0], lines[1], lines[2], lines[3], lines[4]
	opened.put(dir, r)
	return r, nil
}

// opened remembers what Open found, for the life of the process: a run
// opens its repository at every git step and probe, and each git rev-parse
// costs a process. An entry is used only while it still holds: the git
// directories exist, the top still has its .git, and no .git has appeared
// between dir and the top (a git init in a subdirectory makes a new
// repository there).
var opened = &openCache{m: map[string]Repo{}}

type openCache struct {
	mu sync.Mutex
	m  map[string]Repo
}

func (c *openCache) get(dir string) *Repo {
	abs, err := realDir(dir)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	r, ok := c.m[abs]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	for _, p := range []string{r.gitDir, r.commonDir, filepath.Join(r.Dir, ".git")} {
		if _, err := os.Lstat(p); err != nil {
			return nil
		}
	}
	for d := abs; d != r.Dir; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil || d == filepath.Dir(d) {
			return nil
		}
	}
	return &r
}

func (c *openCache) put(dir string, r *Repo) {
	abs, err := realDir(dir)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.m[abs] = *r
	c.mu.Unlock()
}

// realDir is dir made absolute with symbolic links resolved, as git
// prints the top directory.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// Git runs git with args in the work tree and returns its standard output.
// Arguments are passed as an argv, never through a shell; values from users
// must still be checked (CheckRef, CheckPath) or placed after "--" or
// "--end-of-options" so that git does not read them as options. A failure is
// a *CommandError that carries git's standard error. Git never prompts
// (GIT_TERMINAL_PROMPT=0), and read-only commands such as status do not
// rewrite the index (GIT_OPTIONAL_LOCKS=0). When ctx ends, git gets SIGTERM,
// which lets it remove its lock files, and SIGKILL 5 seconds later.
func (r *Repo) Git(ctx context.Context, args ...string) (string, error) {
	out, err := r.run(ctx, runOpts{}, args...)
	return string(out), err
}

// GitDir is the absolute git directory of this work tree (for a linked
// worktree, its own directory under the common one).
func (r *Repo) GitDir() string { return r.gitDir }

// CommonDir is the absolute git directory shared by all worktrees of the
// repository: objects, refs and rbflow's state live there.
func (r *Repo) CommonDir() string { return r.commonDir }

// Head returns the commit HEAD points at, or "" when HEAD is unborn (a new
// repository, or an orphan branch with no commit yet).
func (r *Repo) Head(ctx context.Context) (string, error) {
	if head, _, ok := r.headFromFiles(); ok {
		return head, nil
	}
	out, err := r.run(ctx, runOpts{}, "rev-parse", "-q", "--verify", "HEAD^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Branch returns the short name of the branch HEAD is on ("main"), or ""
// when HEAD is detached. On an unborn branch it returns that branch.
func (r *Repo) Branch(ctx context.Context) (string, error) {
	out, err := r.run(ctx, runOpts{}, "symbolic-ref", "-q", "HEAD")
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", fmt.Errorf("read current branch: %w", err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "refs/heads/"), nil
}

// HeadBranch returns Head and Branch together: read from the git
// directory's files where they tell for sure (headFromFiles), else with
// one git command where HEAD has a commit (two on an unborn branch).
func (r *Repo) HeadBranch(ctx context.Context) (head, branch string, err error) {
	if head, branch, ok := r.headFromFiles(); ok {
		return head, branch, nil
	}
	// The trailing -- makes both HEADs revisions, even beside a file named
	// HEAD; --symbolic-full-name prints "HEAD" itself when detached (no
	// branch may be called HEAD).
	out, err := r.run(ctx, runOpts{}, "rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD", "--")
	if f := strings.Split(strings.TrimSpace(string(out)), "\n"); err == nil && len(f) == 3 && f[2] == "--" {
		head = f[0]
		if f[1] != "HEAD" {
			branch = strings.TrimPrefix(f[1], "refs/heads/")
		}
		return head, branch, nil
	}
	if head, err = r.Head(ctx); err != nil {
		return "", "", err
	}
	branch, err = r.Branch(ctx)
	return head, branch, err
}

// headFromFiles reads HEAD and its branch from the files git keeps them
// in: HEAD, the branch's loose ref, packed-refs. Every git step reports
// them, and a git process for that cost more than reading two small
// files. ok is false wherever the files do not tell for sure (a reftable
// store, HEAD on something other than a branch, a branch that is a
// symbolic ref, one found in neither place): git is asked then.
func (r *Repo) headFromFiles() (head, branch string, ok bool) {
	if usesReftable(r.commonDir) {
		return "", "", false
	}
	b, err := os.ReadFile(filepath.Join(r.gitDir, "HEAD"))
	if err != nil {
		return "", "", false
	}
	line, rest, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(rest) != "" {
		return "", "", false
	}
	target, symbolic := strings.CutPrefix(line, "ref: ")
	if !symbolic {
		return line, "", isObjectID(line) // detached
	}
	name, isBranch := strings.CutPrefix(target, "refs/heads/")
	if !isBranch || CheckRef(target) != nil {
		return "", "", false
	}
	id, found, ok := refInFiles(r.commonDir, target)
	return id, name, ok && found // unborn, or packed as we read: git tells
}

// usesReftable reports whether the repository whose common directory is
// dir may keep its refs in a reftable, which refInFiles cannot read.
func usesReftable(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "reftable"))
	return !errors.Is(err, fs.ErrNotExist)
}

// refInFiles looks the full ref name up in the files of the git directory
// dir: its loose ref, then packed-refs. found says whether it exists; ok
// is false where the files do not tell for sure (a symbolic ref, a file
// that does not hold an object id, one that cannot be read), and git must
// be asked.
func refInFiles(dir, full string) (id string, found, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(full)))
	switch {
	case err == nil:
		id = strings.TrimSuffix(string(b), "\n")
		return id, true, isObjectID(id)
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return "", false, false
	}
	packed, err := os.ReadFile(filepath.Join(dir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, true
	} else if err != nil {
		return "", false, false
	}
	for _, l := range strings.Split(string(packed), "\n") {
		if id, ref, cut := strings.Cut(l, " "); cut && ref == full {
			return id, true, isObjectID(id)
		}
	}
	return "", false, true
}

// keptRefFromFiles is what git rev-parse --verify would print for the kept
// ref ref in the git directory dir, read from the files: "" when neither
// ref nor any name git would also try for it (refs/<ref>, refs/tags/<ref>
// and so on) exists. ok is false where the files do not tell for sure.
func keptRefFromFiles(dir, ref string) (id string, ok bool) {
	if !IsKept(ref) || CheckRef(ref) != nil || usesReftable(dir) {
		return "", false
	}
	for _, rule := range []string{"%s", "refs/%s", "refs/tags/%s", "refs/heads/%s", "refs/remotes/%s", "refs/remotes/%s/HEAD"} {
		id, found, ok := refInFiles(dir, fmt.Sprintf(rule, ref))
		if !ok || found {
			return id, ok
		}
	}
	return "", true
}

// RefExists reports whether ref names an existing ref: a full name such as
// refs/rbflow/x or a short one that git resolves, such as main or v1.0.
// Commit ids and revision expressions are not refs. A ref that fails
// CheckRef is an error.
func (r *Repo) RefExists(ctx context.Context, ref string) (bool, error) {
	if err := CheckRef(ref); err != nil {
		return false, err
	}
	if IsKept(ref) {
		return r.keptExists(ctx, ref)
	}
	out, err := r.run(ctx, runOpts{}, "rev-parse", "-q", "--verify", "--symbolic-full-name", "--end-of-options", ref)
	if err != nil {
		if exitCode(err) == 1 {
			return false, nil
		}
		return false, fmt.Errorf("look up ref %s: %w", ref, err)
	}
	return strings.TrimSpace(string(out)) != "", nil
}

// ResolveCommit returns the commit id that rev (a ref, a commit id or an
// expression such as HEAD~2) names. rev is checked like a user value: it
// must not be empty, begin with '-' or contain control characters.
func (r *Repo) ResolveCommit(ctx context.Context, rev string) (string, error) {
	if err := checkRev(rev); err != nil {
		return "", err
	}
	out, err := r.run(ctx, runOpts{}, "rev-parse", "-q", "--verify", "--end-of-options", rev+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", fmt.Errorf("resolve %q: no such commit in %s", rev, r.Dir)
		}
		return "", fmt.Errorf("resolve %q: %w", rev, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// IsDirty reports whether the work tree has staged or unstaged changes to
// tracked files (submodules included) or untracked files that are not
// ignored. It does not write the index.
func (r *Repo) IsDirty(ctx context.Context) (bool, error) {
	out, err := r.run(ctx, runOpts{}, "status", "--porcelain=v1", "-z", "--untracked-files=normal")
	if err != nil {
		return false, fmt.Errorf("check for changes: %w", err)
	}
	return len(out) > 0, nil
}

// ChangedFiles returns, relative to the top of the work tree and sorted,
// every path that differs from base: tracked files whose content in the
// work tree differs from base (committed since, staged or not), and
// untracked files that are not ignored. Renames count as a deletion and an
// addition, and names are read NUL-separated, so a non-ASCII or odd name
// comes back as it is on disk. base is resolved with ResolveCommit. It is
// what changed_files(), `select: changed` and the reports all mean by
// "changed since the baseline".
func (r *Repo) ChangedFiles(ctx context.Context, base string) ([]string, error) {
	sha, err := r.ResolveCommit(ctx, base)
	if err != nil {
		return nil, err
	}
	diff, err := r.run(ctx, runOpts{}, "diff", "--no-renames", "--no-ext-diff", "--name-only", "-z", sha, "--")
	if err != nil {
		return nil, fmt.Errorf("list files changed since %s: %w", base, err)
	}
	untracked, err := r.Untracked(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range append(splitZ(diff), untracked...) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// splitZ splits NUL-terminated records.
func splitZ(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// copyFile copies src to dst (created 0600) and gives dst src's mtime. It
// reports false if src does not exist.
func copyFile(src, dst string) (bool, error) {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return false, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return false, err
	}
	if err := out.Close(); err != nil {
		return false, err
	}
	return true, os.Chtimes(dst, st.ModTime(), st.ModTime())
}

// DiffText returns a unified diff from old to new text, labelled with
// name, as git diff --no-index shows it ("" when they are equal). It needs
// no repository.
func DiffText(ctx context.Context, name string, old, new []byte) (string, error) {
	dir, err := os.MkdirTemp("", "rbflow-diff-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, old, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(b, new, 0o600); err != nil {
		return "", err
	}
	r := &Repo{Dir: dir}
	out, err := r.run(ctx, runOpts{}, "diff", "--no-index", "--no-color", "--no-ext-diff", "--", "a", "b")
	if err != nil && exitCode(err) != 1 { // 1: they differ
		return "", fmt.Errorf("diff %s: %w", name, err)
	}
	text := string(out)
	// Name the file, not the temporary copies.
	text = strings.Replace(text, "--- a/a\n", "--- "+name+" (approved)\n", 1)
	text = strings.Replace(text, "+++ b/b\n", "+++ "+name+" (now)\n", 1)
	if i := strings.Index(text, "--- "); i > 0 {
		text = text[i:]
	}
	return text, nil
}
