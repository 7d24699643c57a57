package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
)

// inProcess runs rbflow's Main in this process (faster than a new process
// for tests that run it hundreds of times).
func inProcess(t testing.TB, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &out)
	return out.String(), code
}

// manifest describes a work tree: every path (but .git and the trees a
// snapshot does not save) with its type, mode and content hash, plus the
// index, HEAD and branch.
func manifest(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if d.IsDir() && (d.Name() == ".git" || slices.Contains(git.DefaultReinstallable(), d.Name())) {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			lines = append(lines, fmt.Sprintf("L %q -> %q", rel, target))
		case fi.IsDir():
			// Git does not keep empty directories; files inside say enough.
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			lines = append(lines, fmt.Sprintf("F %q %o %s", rel, fi.Mode().Perm()&0o100, hex.EncodeToString(sum[:8])))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	lines = append(lines,
		"INDEX "+testkit.Git(t, dir, "diff", "--cached", "--binary", "HEAD"),
		"HEAD "+testkit.Git(t, dir, "rev-parse", "HEAD"),
		"BRANCH "+testkit.Git(t, dir, "branch", "--show-current"))
	return strings.Join(lines, "\n")
}

// dirtyTree makes a repository with a main and an other branch, then
// leaves main in a random dirty state: modified, staged, partly staged,
// deleted, renamed, untracked, ignored, binary, executable, symlinked files,
// names with spaces, unicode and leading dashes.
func dirtyTree(t testing.TB, rnd *rand.Rand) string {
	dir := t.TempDir()
	testkit.Git(t, dir, "init", "-q", "-b", "main")
	names := []string{"a.txt", "dir/b.py", "dir/sub/c.go", "with space.txt", "ünïcode.md", "-dash.txt", "bin.dat", "run.sh"}
	write := func(rel string, content []byte, exec bool) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(p)
		mode := os.FileMode(0o644)
		if exec {
			mode = 0o755
		}
		if err := os.WriteFile(p, content, mode); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(p, mode)
	}
	content := func() []byte {
		if rnd.Intn(4) == 0 {
			b := make([]byte, 64+rnd.Intn(200))
			rnd.Read(b)
			return b
		}
		return []byte(fmt.Sprintf("line %d\n%d\n", rnd.Int(), rnd.Int()))
	}
	for _, n := range names {
		write(n, content(), n == "run.sh")
	}
	write(".gitignore", []byte(".env\n*.log\nnode_modules/\nbuild/\n"), false)
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "base")
	testkit.Git(t, dir, "switch", "-q", "-c", "other")
	write("a.txt", []byte("other branch\n"), false)
	write("only-on-other.txt", []byte("x\n"), false)
	testkit.Git(t, dir, "add", "-A")
	testkit.Git(t, dir, "commit", "-q", "-m", "other")
	testkit.Git(t, dir, "switch", "-q", "main")

	ops := 3 + rnd.Intn(8)
	for i := 0; i < ops; i++ {
		n := names[rnd.Intn(len(names))]
		p := filepath.Join(dir, n)
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		switch rnd.Intn(10) {
		case 0: // modified
			write(n, content(), rnd.Intn(2) == 0)
		case 1: // staged
			write(n, content(), false)
			testkit.Git(t, dir, "add", "--", n)
		case 2: // partly staged
			write(n, content(), false)
			testkit.Git(t, dir, "add", "--", n)
			write(n, content(), false)
		case 3: // deleted, unstaged
			os.Remove(p)
		case 4: // deleted, staged
			testkit.Git(t, dir, "rm", "-q", "-f", "--", n)
		case 5: // renamed
			testkit.Git(t, dir, "mv", "--", n, n+".renamed")
		case 6: // untracked in new nested folders
			write(fmt.Sprintf("new/deep/%d/file %d.txt", i, i), content(), rnd.Intn(2) == 0)
		case 7: // ignored
			write(".env", []byte(fmt.Sprintf("TOKEN=%d\n", rnd.Int())), false)
			write(fmt.Sprintf("logs/out%d.log", i), content(), false)
			write(fmt.Sprintf("build/out%d.o", i), content(), false)
			write("node_modules/pkg/index.js", content(), false)
		case 8: // executable bit
			_ = os.Chmod(p, 0o755)
		case 9: // new symlink
			_ = os.Symlink(n, filepath.Join(dir, fmt.Sprintf("ln%d", i)))
		}
	}
	return dir
}

const rollbackYAML = `version: 1
name: rollback
steps:
  - id: reset
    git: reset
    with: {to: other, mode: hard}
  - id: clean
    git: clean
    with: {ignored: true}
`

// runRollback runs the procedure text on the repository at dir, checks
// that it exits with want, and returns the run's id.
func runRollback(t *testing.T, dir, text string, want int) string {
	t.Helper()
	procFile := filepath.Join(t.TempDir(), "rollback.yaml")
	testkit.WriteFile(t, procFile, text)
	if out, code := inProcess(t, "run", procFile, "--repo", dir, "-q"); code != want {
		t.Fatalf("run: exit %d, want %d\n%s", code, want, out)
	}
	return lastRunID(t, dir)
}

// TestUndoRestoresRandomTrees (issue 12): trees from testkit.DirtyTree
// (eol attributes, autocrlf, modes, empty directories, intent-to-add,
// skip-worktree, assume-unchanged, merge, cherry-pick and rebase conflicts,
// a dirty submodule, symlinks, odd names) go through the built-in emergency
// procedure and rbflow undo, and come back exactly as testkit.TreeManifest
// sees them: path, type, mode, bytes, index entries with their flags,
// status, HEAD, branch, operation in progress, branches and tags. make test
// takes 1 tree of a rotating kind, make test-long 60, make test-undo 240;
// engine/git's TestExactRestoreRandom checks every kind on each make test.
func TestUndoRestoresRandomTrees(t *testing.T) {
	t.Parallel()
	n := *treesFlag
	if n == 0 {
		n = 1
		if testkit.Long() {
			n = 4 * len(testkit.TreeKinds)
		}
	}
	seed := time.Now().UnixNano()
	first := rand.New(rand.NewSource(seed)).Intn(len(testkit.TreeKinds))
	t.Logf("seed %d, %d trees from kind %d", seed, n, first)
	var mu sync.Mutex
	covered := map[string]int{}
	for i := 0; i < n; i++ {
		i := i
		t.Run(fmt.Sprintf("tree%03d", i), func(t *testing.T) {
			t.Parallel()
			dir, kinds := testkit.DirtyTree(t, rand.New(rand.NewSource(seed+int64(i))), first+i)
			mu.Lock()
			for _, k := range kinds {
				covered[k]++
			}
			mu.Unlock()
			before := testkit.TreeManifest(t, dir)
			if out, code := inProcess(t, "run", "emergency", "--repo", dir, "-q", "--set", "verify_tests=false", "--set", "reason=tree test"); code != 0 {
				t.Fatalf("seed %d, kinds %v: emergency exit %d\n%s", seed, kinds, code, out)
			}
			if testkit.TreeManifest(t, dir) == before {
				t.Fatalf("the rollback changed nothing")
			}
			id := lastRunID(t, dir)
			if out, code := inProcess(t, "undo", id, "--repo", dir, "-q"); code != 0 {
				t.Fatalf("seed %d, kinds %v: undo exit %d\n%s", seed, kinds, code, out)
			}
			if got := testkit.TreeManifest(t, dir); got != before {
				t.Fatalf("seed %d, kinds %v: after undo the tree differs\n%s", seed, kinds, testkit.LineDiff(before, got))
			}
		})
	}
	t.Cleanup(func() { t.Logf("trees per kind: %v", covered) })
}

// treesFlag sets the number of trees of TestUndoRestoresRandomTrees (make
// test-undo: 240).
var treesFlag = flag.Int("trees", 0, "number of trees for TestUndoRestoresRandomTrees (0: 1, or 60 with RBFLOW_TEST_LONG=1)")

// TestUndoRefusesLaterChanges: undo does not overwrite what was changed
// after the run, unless --force, which saves it first (and the forced undo
// can itself be undone).
func TestUndoRefusesLaterChanges(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewSource(1))
	dir := dirtyTree(t, rnd)
	before := manifest(t, dir)
	id := runRollback(t, dir, rollbackYAML, 0)
	testkit.WriteFile(t, filepath.Join(dir, "later.txt"), "made after the rollback\n")
	testkit.WriteFile(t, filepath.Join(dir, "a.txt"), "edited after the rollback\n")
	edited := manifest(t, dir)

	out, _ := inProcess(t, "undo", id, "--dry-run", "--repo", dir)
	if !strings.Contains(out, "a.txt") || !strings.Contains(out, "in the way") {
		t.Errorf("undo --dry-run does not list the later change:\n%s", out)
	}
	out, code := inProcess(t, "undo", id, "--repo", dir, "-q")
	if code != 1 || !strings.Contains(out, `"a.txt": modified after the run`) || !strings.Contains(out, "--force") {
		t.Fatalf("undo over a later change: exit %d, want 1 naming a.txt and --force\n%s", code, out)
	}
	if got := manifest(t, dir); got != edited {
		t.Fatalf("a refused undo changed the tree")
	}
	if out, code := inProcess(t, "undo", id, "--force", "--repo", dir, "-q"); code != 0 {
		t.Fatalf("undo --force: %d\n%s", code, out)
	}
	got := manifest(t, dir)
	// later.txt is untracked and new: the restore removes it (it is in the
	// backup snapshot), so the tree is exactly the one before the run.
	if got != before {
		t.Fatalf("undo --force did not restore the state before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
	// The forced undo saved the edits: undoing the undo brings them back.
	undoID := lastRunID(t, dir)
	if out, code := inProcess(t, "undo", undoID, "--repo", dir, "-q"); code != 0 {
		t.Fatalf("undo of the undo: %d\n%s", code, out)
	}
	if got := manifest(t, dir); got != edited {
		t.Fatalf("undoing the forced undo did not bring the later edits back\n--- want\n%s\n--- got\n%s", edited, got)
	}
}

// TestHostileParamsAreInert: refs and paths from params that look like
// options, shell code, newlines or escapes are rejected with a clear error
// naming the argument, or taken literally; nothing outside the repository
// changes.
func TestHostileParamsAreInert(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, nil)
	testkit.WriteFile(t, filepath.Join(dir, "f.txt"), "tracked\n")
	testkit.Git(t, dir, "add", "f.txt")
	testkit.Git(t, dir, "commit", "-q", "-m", "f")
	testkit.Git(t, dir, "branch", "baseline")
	canary := filepath.Join(t.TempDir(), "canary")
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, `version: 1
name: hostile
params:
  ref: {type: string}
  files: {type: list}
steps:
  - id: show
    run: echo ${{ params.ref }} ${{ params.files }}
  - id: reset
    git: reset
    with: {to: "${{ params.ref }}", mode: hard}
  - id: restore
    needs: []
    git: restore_files
    with: {files: "${{ params.files }}", from: baseline}
`)
	for _, v := range []string{
		"--upload-pack=touch " + canary, "-f", "; touch " + canary, "$(touch " + canary + ")",
		"`touch " + canary + "`", "main\ntouch " + canary, "../../etc/passwd",
	} {
		out, code := inProcess(t, "run", procFile, "--repo", dir, "--set", "ref="+v, "--set", "files="+v)
		if code == 0 {
			t.Errorf("hostile value %q: the run succeeded\n%s", v, out)
		}
		if _, err := os.Stat(canary); err == nil {
			t.Fatalf("hostile value %q ran a command", v)
		}
		if !strings.Contains(out, "with.to") && !strings.Contains(out, "no such commit") && !strings.Contains(out, "invalid") &&
			!strings.Contains(out, "param files: value holds a newline") {
			t.Errorf("hostile value %q: the error does not say what was wrong:\n%s", v, out)
		}
		if strings.Contains(out, "echo |") {
			t.Errorf("value spliced into the shell: %s", out)
		}
	}
	if got := strings.TrimSpace(testkit.Git(t, dir, "status", "--porcelain")); got != "" {
		t.Errorf("the repository changed: %s", got)
	}
}

// killedProcedure is a procedure of destructive git steps, for
// TestKillDuringDestructiveGitSteps.
const killedProcedure = `version: 1
name: killed
steps:
  - id: save
    git: snapshot
  - id: reset
    git: reset
    with: {to: other, mode: hard}
  - id: clean
    git: clean
    with: {ignored: true}
  - id: back
    git: switch
    with: {ref: main, discard_changes: true}
  - id: reset_again
    git: reset
    with: {to: other, mode: hard}
`

// TestKillDuringDestructiveGitSteps kills rbflow with SIGKILL at random
// points of a procedure of destructive git steps and resumes (--yes) after
// each kill, up to six kills; a resume left alone then finishes the run,
// and undo gives back the tree from before the run.
//
// The kill points are spread over the first half of the time an unkilled
// run of such a tree takes on this machine now (a resumed attempt has less
// left to do): fixed delays land before rbflow has even started on a busy
// machine, and the run never gets anywhere.
func TestKillDuringDestructiveGitSteps(t *testing.T) {
	t.Parallel()
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, killedProcedure)
	began := time.Now()
	if o, e, code := rbflow(t, dirtyTree(t, rand.New(rand.NewSource(3))), "run", procFile); code != 0 {
		t.Fatalf("unkilled run: exit %d\n%s%s", code, o, e)
	}
	full := time.Since(began)
	t.Logf("an unkilled run took %s", full.Round(time.Millisecond))

	var inStep atomic.Int32 // kills that left a step running
	seeds := []int64{3, 4}
	if testkit.Long() {
		seeds = []int64{3, 4, 5, 6, 7}
	}
	t.Run("seeds", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				killAndResumeGitSteps(t, procFile, seed, full, &inStep)
			})
		}
	})
	if n := inStep.Load(); n == 0 && !t.Failed() {
		t.Errorf("no kill landed while a step was running: the kills should reach into the git steps")
	} else {
		t.Logf("%d kills left a step running", n)
	}
}

// killAndResumeGitSteps kills the run of procFile on the tree of seed up to
// six times (the first once a step runs, the others at most full/2 after
// each start), then lets it finish.
func killAndResumeGitSteps(t *testing.T, procFile string, seed int64, full time.Duration, inStep *atomic.Int32) {
	rnd := rand.New(rand.NewSource(seed))
	dir := dirtyTree(t, rnd)
	before := manifest(t, dir)
	stepRunning := func() bool {
		_, recs := stepRecords(t, filepath.Join(dir, ".git", "rbflow"))
		for _, rec := range recs {
			if rec.Status == engine.StepRunning {
				return true
			}
		}
		return false
	}
	out, code := killAndResume(t, dir, killer{
		kills: sweep(6),
		// The first kill lands inside a step however slow the machine is
		// (a busy one spends most of a short run starting processes); the
		// others at random.
		first: stepRunning,
		delay: func() time.Duration { return time.Duration(rnd.Int63n(int64(full / 2))) },
		after: func() {
			if stepRunning() {
				inStep.Add(1)
			}
		},
	}, "run", procFile)
	if code != 0 {
		t.Fatalf("the resumed run: exit %d, want 0\n%s", code, out)
	}
	runs, _, _ := query(t, dir, "runs", "--json")
	id := between(runs, `"id":"`, `"`)
	if o, e, code := rbflow(t, dir, "undo", id, "--force"); code != 0 {
		t.Fatalf("undo: %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Fatalf("after undo the tree differs from before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
}

// markInterrupted rewrites a finished run's records into what a SIGKILL
// inside step leaves: the step "running", the steps after it not started,
// the run "running" with a dead owner.
func markInterrupted(t *testing.T, dir, step string, later ...string) *engine.Run {
	t.Helper()
	stateDir := filepath.Join(dir, ".git", "rbflow")
	run, recs := stepRecords(t, stateDir)
	st, err := store.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	rec := recs[step]
	rec.Status, rec.Outcome, rec.Conclusion, rec.EndedAt = engine.StepRunning, "", "", time.Time{}
	if err := st.SaveStep(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, id := range later {
		if err := st.DeleteStep(ctx, run.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	run.Status, run.EndedAt, run.OwnerPID = engine.RunRunning, time.Time{}, 0
	if err := st.UpdateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestResumedResetReusesItsSnapshot puts the store in the state a SIGKILL
// leaves when it lands after `git reset --hard` finished but before its
// result was recorded: resume asks, then reuses the snapshot taken before
// the step instead of saving the half-changed tree as "before".
func TestResumedResetReusesItsSnapshot(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewSource(11))
	dir := dirtyTree(t, rnd)
	before := manifest(t, dir)
	procFile := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, procFile, rollbackYAML)
	if o, e, code := rbflow(t, dir, "run", procFile); code != 0 {
		t.Fatalf("run: %d\n%s%s", code, o, e)
	}
	run := markInterrupted(t, dir, "reset", "clean")
	refs := testkit.KeptGit(t, dir, "for-each-ref", "--format=%(refname) %(objectname)", "refs/rbflow/"+run.ID+"/reset")

	o, e, code := rbflow(t, dir, "resume")
	if code != 4 || !strings.Contains(e, "rbflow resume "+run.ID+" --yes") {
		t.Fatalf("resume of an interrupted reset: exit %d, want 4 naming --yes\n%s%s", code, o, e)
	}
	o, e, code = rbflow(t, dir, "resume", "--yes")
	if code != 0 || !strings.Contains(o, "reusing snapshot refs/rbflow/"+run.ID+"/reset") {
		t.Fatalf("resume --yes: exit %d, want 0 and the reset reusing its snapshot\n%s%s", code, o, e)
	}
	if got := testkit.KeptGit(t, dir, "for-each-ref", "--format=%(refname) %(objectname)", "refs/rbflow/"+run.ID+"/reset"); got != refs {
		t.Errorf("the snapshot ref changed: %q, was %q", got, refs)
	}
	if o, e, code := rbflow(t, dir, "undo", run.ID); code != 0 {
		t.Fatalf("undo: %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Fatalf("after resume and undo the tree differs from before the run")
	}
}

// TestUndoneRunStaysUndone (issue 12): a run that failed after a
// destructive step is undone; it is shown undone, and resume and retry
// refuse it naming the undo, so nothing it would do lands on the restored
// tree. A second undo of it changes nothing. Undoing the undo gives it its
// changes back: it is no longer undone.
func TestUndoneRunStaysUndone(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewSource(2))
	dir := dirtyTree(t, rnd)
	before := manifest(t, dir)
	id := runRollback(t, dir, rollbackYAML+`  - id: tests
    run: exit 1
`, 1)
	rolledBack := manifest(t, dir)
	if out, code := inProcess(t, "undo", id, "--repo", dir, "-q"); code != 0 {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	if got := manifest(t, dir); got != before {
		t.Fatalf("undo did not restore the tree")
	}
	undoID := lastRunID(t, dir)
	if status, _ := inProcess(t, "status", id, "--repo", dir); !strings.Contains(status, "undone") {
		t.Errorf("status of the undone run does not say undone:\n%s", status)
	}
	if runs, _ := inProcess(t, "runs", "--repo", dir); !strings.Contains(runs, "undone") {
		t.Errorf("runs does not show the undone run as undone:\n%s", runs)
	}
	if cl, _ := inProcess(t, "checklist", id, "--repo", dir); !strings.Contains(cl, "undone by run "+undoID) {
		t.Errorf("checklist of the undone run does not say it was undone:\n%s", cl)
	}
	if cl, _ := inProcess(t, "checklist", id, "--repo", dir, "--json"); !strings.Contains(cl, `"undone_by": "`+undoID+`"`) {
		t.Errorf("checklist --json of the undone run has no undone_by:\n%s", cl)
	}
	for _, cmd := range []string{"resume", "retry"} {
		out, code := inProcess(t, cmd, id, "--repo", dir, "-q")
		if code != 2 || !strings.Contains(out, "was undone by run "+undoID) {
			t.Errorf("%s of the undone run: exit %d, want 2 naming the undo\n%s", cmd, code, out)
		}
		if got := manifest(t, dir); got != before {
			t.Fatalf("%s of the undone run changed the tree", cmd)
		}
	}
	out, code := inProcess(t, "undo", id, "--repo", dir, "-q")
	if code != 0 || !strings.Contains(out, "undone already (by run "+undoID+")") {
		t.Errorf("a second undo: exit %d, want 0 saying it is undone already\n%s", code, out)
	}
	if got := manifest(t, dir); got != before {
		t.Fatalf("a second undo changed the tree")
	}
	if out, code := inProcess(t, "undo", undoID, "--repo", dir, "-q"); code != 0 {
		t.Fatalf("undo of the undo: exit %d\n%s", code, out)
	}
	if got := manifest(t, dir); got != rolledBack {
		t.Fatalf("undoing the undo did not bring the run's changes back")
	}
	if status, _ := inProcess(t, "status", id, "--repo", dir); strings.Contains(status, "undone") || !strings.Contains(status, "failed") {
		t.Errorf("after its undo was undone, the run is still shown undone:\n%s", status)
	}
}

// TestUndoKilledThenFinished (issue 12): rbflow undo is SIGKILLed at a
// random moment, once or several times; rbflow resume (or undo again, when
// the kill came before the undo run was recorded) finishes it, and the
// tree, index, HEAD and branch are exactly those before the rollback, every
// time. make test takes 2 trees, make test-long 13.
func TestUndoKilledThenFinished(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	trees, kills := 1, 0
	if testkit.Long() {
		trees = 2 * len(testkit.TreeKinds)
	}
	first := rnd.Intn(len(testkit.TreeKinds))
	for i := 0; i < trees; i++ {
		dir, kinds := testkit.DirtyTree(t, rnd, first+i)
		before := testkit.TreeManifest(t, dir)
		if out, code := inProcess(t, "run", "emergency", "--repo", dir, "-q", "--set", "verify_tests=false"); code != 0 {
			t.Fatalf("tree %d (kinds %v): run: %d\n%s", i, kinds, code, out)
		}
		target, _ := stepRecords(t, filepath.Join(dir, ".git", "rbflow"))
		killsHere := 1 + rnd.Intn(3)
		for attempt := 0; ; attempt++ {
			if attempt > 20 {
				t.Fatalf("tree %d: the undo did not finish", i)
			}
			args := []string{"undo", target.ID, "-q"}
			if newest, _ := stepRecords(t, filepath.Join(dir, ".git", "rbflow")); newest.ID != target.ID {
				if newest.Status == engine.RunSucceeded {
					break
				}
				args = []string{"resume", newest.ID, "-q"}
			}
			cmd := rbflowCmd(t, dir, args...)
			out, err := func() ([]byte, error) {
				if attempt >= killsHere {
					return cmd.CombinedOutput()
				}
				var buf syncBuffer
				cmd.Stdout, cmd.Stderr = &buf, &buf
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				timer := time.AfterFunc(time.Duration(rnd.Intn(400))*time.Millisecond, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
				err := cmd.Wait()
				if !timer.Stop() {
					kills++
				}
				return []byte(buf.String()), err
			}()
			if err != nil && attempt >= killsHere {
				t.Fatalf("tree %d: %v after %d kills: %v\n%s", i, args, attempt, err, out)
			}
		}
		if got := testkit.TreeManifest(t, dir); got != before {
			t.Fatalf("tree %d (seed %d, kinds %v): after a killed undo was finished the tree differs\n%s", i, seed, kinds, testkit.LineDiff(before, got))
		}
		os.RemoveAll(dir)
	}
	t.Logf("%d trees, %d kills during undo", trees, kills)
}

// TestGcKeepsStoreAndRefsInAgreement (issue 12): rbflow gc --dry-run lists
// the snapshot refs it would delete and deletes nothing; rbflow gc deletes
// the refs and the store's records of them, so rbflow snapshots no longer
// lists them and undo says why it cannot, changing nothing.
func TestGcKeepsStoreAndRefsInAgreement(t *testing.T) {
	t.Parallel()
	dir := dirtyTree(t, rand.New(rand.NewSource(3)))
	id := runRollback(t, dir, rollbackYAML, 0)
	kept := keptRefs(t, dir, "--format=%(refname)")
	if !strings.Contains(kept, "refs/rbflow/"+id+"/reset") || !strings.Contains(kept, "/_after") {
		t.Fatalf("the run kept no snapshots:\n%s", kept)
	}
	out, code := inProcess(t, "gc", "--older-than", "0s", "--dry-run", "--repo", dir)
	if code != 0 || !strings.Contains(out, "would delete refs/rbflow/"+id+"/reset") || keptRefs(t, dir, "--format=%(refname)") != kept {
		t.Fatalf("gc --dry-run: exit %d, or it deleted something\n%s", code, out)
	}
	if out, code = inProcess(t, "gc", "--older-than", "0s", "--repo", dir); code != 0 || !strings.Contains(out, "deleted 3 snapshot refs") {
		t.Fatalf("gc: exit %d\n%s", code, out)
	}
	if left := keptRefs(t, dir); left != "" {
		t.Errorf("gc left kept refs:\n%s", left)
	}
	if out, _ := inProcess(t, "snapshots", "--repo", dir); !strings.Contains(out, "no snapshots") {
		t.Errorf("rbflow snapshots after gc still lists some:\n%s", out)
	}
	tree := manifest(t, dir)
	if out, code = inProcess(t, "undo", id, "--repo", dir, "-q"); code == 0 || !strings.Contains(out, "rbflow gc deleted its snapshots") {
		t.Errorf("undo after gc: exit %d, want a failure that says why\n%s", code, out)
	}
	if manifest(t, dir) != tree {
		t.Error("undo after gc changed the tree")
	}
}

// TestUndoDeletesRefsTheRunMade (issue 12): undo deletes the branches and
// tags the run created and puts back the ones it moved or deleted; undoing
// the undo brings the created ones back.
func TestUndoDeletesRefsTheRunMade(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, map[string]string{"a.txt": "one\n"})
	testkit.Commit(t, dir, "two", map[string]string{"a.txt": "two\n"})
	testkit.Git(t, dir, "branch", "doomed")
	testkit.Git(t, dir, "tag", "moved", "HEAD~1")
	refs := func() string {
		return testkit.Git(t, dir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags")
	}
	before, beforeTree := refs(), testkit.TreeManifest(t, dir)
	id := runRollback(t, dir, `version: 1
name: refs
steps:
  - id: backup
    git: branch
    with: {name: "backup/before-rollback"}
  - id: mark
    git: tag
    with: {name: rollback-mark, message: "rolled back here"}
  - id: drop
    git: branch
    with: {name: doomed, delete: true, force: true}
  - id: move
    git: tag
    with: {name: moved, force: true}
  - id: back
    git: reset
    with: {to: HEAD~1, mode: hard}
`, 0)
	made := refs()
	for _, want := range []string{"refs/heads/backup/before-rollback", "refs/tags/rollback-mark"} {
		if !strings.Contains(made, want) {
			t.Fatalf("the run did not make %s:\n%s", want, made)
		}
	}
	if out, code := inProcess(t, "undo", id, "--repo", dir, "-q"); code != 0 {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	if got := refs(); got != before {
		t.Errorf("after undo the refs are\n%s\nwant\n%s", got, before)
	}
	if got := testkit.TreeManifest(t, dir); got != beforeTree {
		t.Errorf("after undo the repository differs:\n%s", testkit.LineDiff(beforeTree, got))
	}
	undoID := lastRunID(t, dir)
	if out, code := inProcess(t, "undo", undoID, "--repo", dir, "-q"); code != 0 {
		t.Fatalf("undo of the undo: exit %d\n%s", code, out)
	}
	if got := refs(); got != made {
		t.Errorf("after undoing the undo the refs are\n%s\nwant\n%s", got, made)
	}
}

// TestResumeNeverOverlapsKilledStep (issue 13): rbflow is killed by SIGKILL
// while a step that ignores SIGTERM runs; a resume started at once runs the
// step again only once the killed copy is gone (the run's supervisor holds
// the lock until it has ended every process of the run).
func TestResumeNeverOverlapsKilledStep(t *testing.T) {
	t.Parallel()
	dir := testkit.GitRepo(t, map[string]string{"a.txt": "a\n"})
	mark := filepath.Join(t.TempDir(), "mark")
	proc := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, proc, `version: 1
name: overlap
steps:
  - id: slow
    run: |
      if [ -s "$MARK" ]; then
        first=$(head -n 1 "$MARK")
        if kill -0 "$first" 2>/dev/null; then echo "overlap with $first" >> "$MARK"; fi
        echo "$$" >> "$MARK"
        exit 0
      fi
      echo "$$" >> "$MARK"
      trap '' TERM
      while :; do sleep 0.05; done
`)
	for round := 0; round < 2; round++ {
		os.Remove(mark)
		cmd := rbflowCmd(t, dir, "run", proc, "-q")
		cmd.Env = append(cmd.Env, "MARK="+mark)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, 10*time.Second, "the step to start", func() bool {
			b, _ := os.ReadFile(mark)
			return len(b) > 0
		})
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		resume := rbflowCmd(t, dir, "resume", "-q")
		resume.Env = append(resume.Env, "MARK="+mark)
		if out, err := resume.CombinedOutput(); err != nil {
			t.Fatalf("round %d: resume: %v\n%s", round, err, out)
		}
		b, _ := os.ReadFile(mark)
		lines := strings.Fields(string(b))
		if strings.Contains(string(b), "overlap") || len(lines) != 2 {
			t.Fatalf("round %d: the resumed step overlapped the killed one, or did not run once:\n%s", round, b)
		}
		first, _ := strconv.Atoi(lines[0])
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", first)); err == nil {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", first)); err == nil && !strings.Contains(string(st), ") Z") {
				t.Fatalf("round %d: the killed step (pid %d) still runs", round, first)
			}
		}
	}
}
