package git

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

var (
	seedFlag  = flag.Int64("seed", 0, "seed for TestSnapshotRestoreRandom (0: from the clock)")
	treesFlag = flag.Int("trees", 0, "number of work trees for TestSnapshotRestoreRandom (0: 12, or 200 with RBFLOW_TEST_LONG=1)")
)

// names that work trees are made of: spaces, unicode, leading dashes, glob
// and pathspec characters, a newline, and names that are ignored.
var (
	trackedNames = []string{
		"a.txt", "b.md", "dir/c.txt", "dir/sub/d.txt", "with space.txt", "dir/with space/e f.txt",
		"ünïcödé/ファイル.txt", "-dash.txt", "dir/-rf", "--upload-pack=x", "star*.txt", "q?.txt",
		"[br].txt", ":colon.txt", "back\\slash.txt", "tab\there.txt", "new\nline.txt", "emoji-😀.bin",
		"run.sh", "deep/a/b/c/d.txt", "swap", "dist/out.txt",
	}
	untrackedNames = []string{
		"new.txt", "new dir/x.txt", "new dir/deeper/y.bin", "-new", "über/neu.txt", "n\nl", "x*y",
		"dist/keep.txt", "build.txt", "scratch.tmp",
	}
	ignoredNames = []string{
		".env", "app.log", "dir/debug.log", "logs/a.txt", "logs/deep/b.bin", "new dir/z.log", "cfg/.env",
	}
	reinstallableNames = []string{
		"node_modules/pkg/index.js", "node_modules/.bin/tool", "web/node_modules/lib/x.js",
		"py/__pycache__/m.pyc", "build/out.o", ".venv/bin/python",
	}
)

const randomGitignore = ".env\n*.log\nlogs/\nnode_modules/\n__pycache__/\n/build/\n.venv/\n"

// TestSnapshotRestoreRandom builds many dirty work trees, snapshots each,
// rolls it back the way a procedure would (checkout -f or reset --hard, then
// clean -fdx), restores, and checks that everything came back.
func TestSnapshotRestoreRandom(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	n := *treesFlag
	if n == 0 {
		n = 4 // from a new seed each run; make test-long checks 200 (TestExactRestoreRandom covers more kinds)
		if testkit.Long() {
			n = 200
		}
	}
	t.Logf("seed %d, %d work trees", seed, n)
	for i := 0; i < n; i++ {
		i := i
		t.Run(fmt.Sprintf("tree%03d", i), func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce: go test -run 'TestSnapshotRestoreRandom/tree%03d$' -seed %d ./engine/git", i, seed)
				}
			})
			randomRoundTrip(t, rand.New(rand.NewSource(seed+int64(i))))
		})
	}
}

type randTree struct {
	t   *testing.T
	rnd *rand.Rand
	dir string
}

func (w *randTree) content() string {
	switch w.rnd.Intn(4) {
	case 0: // binary, with NUL and invalid UTF-8
		b := make([]byte, 1+w.rnd.Intn(300))
		w.rnd.Read(b)
		return string(b)
	case 1:
		return ""
	case 2: // larger than the test's size cap sometimes
		return strings.Repeat(fmt.Sprintf("line %d\n", w.rnd.Int()), 1+w.rnd.Intn(400))
	}
	return fmt.Sprintf("text %d\r\nwith crlf and\nlf\n", w.rnd.Int())
}

func (w *randTree) mode() os.FileMode {
	if w.rnd.Intn(4) == 0 {
		return 0o755
	}
	return 0o644
}

// put writes a file or, sometimes, a symlink at rel.
func (w *randTree) put(rel string) {
	p := filepath.Join(w.dir, rel)
	os.RemoveAll(p)
	if w.rnd.Intn(8) == 0 {
		targets := []string{"a.txt", "../dir", "does/not/exist", "dir", "ünïcödé/ファイル.txt"}
		symlink(w.t, w.dir, rel, targets[w.rnd.Intn(len(targets))])
		return
	}
	writeFile(w.t, w.dir, rel, w.content(), w.mode())
}

func (w *randTree) pick(names []string, k int) []string {
	perm := w.rnd.Perm(len(names))
	if k > len(names) {
		k = len(names)
	}
	out := make([]string, k)
	for i := range out {
		out[i] = names[perm[i]]
	}
	return out
}

// stage records paths in the index as git add and git rm would (literal
// names, so none of them is read as an option or a pathspec).
func (w *randTree) stage(paths []string, flags ...string) {
	if len(paths) == 0 {
		return
	}
	in := strings.Join(paths, "\x00") + "\x00"
	testkit.GitInput(w.t, w.dir, []byte(in), append(append([]string{"update-index", "-z", "--add", "--remove", "--replace"}, flags...), "--stdin")...)
}

func (w *randTree) tracked() []string {
	out := splitZ([]byte(testkit.Git(w.t, w.dir, "ls-files", "-z")))
	var files []string
	for _, p := range out {
		if p != ".gitignore" {
			files = append(files, p)
		}
	}
	return files
}

func randomRoundTrip(t *testing.T, rnd *rand.Rand) {
	r, dir := newRepo(t)
	w := &randTree{t: t, rnd: rnd, dir: dir}

	// History: two commits on main, one on other (which branches from the
	// first), so that the rollback changes files, adds and removes some.
	writeFile(t, dir, ".gitignore", randomGitignore, 0o644)
	for _, p := range w.pick(trackedNames, 6+rnd.Intn(12)) {
		w.put(p)
	}
	commitAll(t, dir, "one")
	for _, p := range w.pick(trackedNames, 3+rnd.Intn(6)) {
		w.put(p)
	}
	if rnd.Intn(3) == 0 { // a tracked file that is also ignored
		writeFile(t, dir, "forced.log", "tracked although ignored\n", 0o644)
		testkit.Git(t, dir, "add", "-f", "forced.log")
	}
	commitAll(t, dir, "two")
	testkit.Git(t, dir, "branch", "other", "HEAD~1")
	if rnd.Intn(2) == 0 {
		testkit.Git(t, dir, "checkout", "-q", "other")
		for _, p := range w.pick(trackedNames, 2+rnd.Intn(5)) {
			w.put(p)
		}
		if tr := w.tracked(); len(tr) > 0 {
			os.Remove(filepath.Join(dir, tr[rnd.Intn(len(tr))]))
		}
		if rnd.Intn(3) == 0 { // file on main, directory on other
			os.RemoveAll(filepath.Join(dir, "swap"))
			writeFile(t, dir, "swap/inner.txt", "dir on other\n", 0o644)
		}
		commitAll(t, dir, "other")
		testkit.Git(t, dir, "checkout", "-q", "main")
	}

	// The dirty work tree.
	tracked := w.tracked()
	var staged, forget, later []string
	for _, p := range tracked {
		switch rnd.Intn(12) {
		case 0: // modified, unstaged
			w.put(p)
		case 1: // modified and staged
			w.put(p)
			staged = append(staged, p)
		case 2: // partly staged: modified again after staging
			w.put(p)
			staged = append(staged, p)
			later = append(later, p)
		case 3: // deleted, unstaged
			os.Remove(filepath.Join(dir, p))
		case 4: // deleted and staged
			os.Remove(filepath.Join(dir, p))
			staged = append(staged, p)
		case 5: // removed from the index only: now untracked
			forget = append(forget, p)
		case 6: // renamed, staged or not
			to := p + ".renamed"
			if err := os.Rename(filepath.Join(dir, p), filepath.Join(dir, to)); err == nil && rnd.Intn(2) == 0 {
				staged = append(staged, p, to)
			}
		case 7: // executable bit flipped
			if fi, err := os.Lstat(filepath.Join(dir, p)); err == nil && fi.Mode().IsRegular() {
				os.Chmod(filepath.Join(dir, p), fi.Mode()^0o111)
				if rnd.Intn(2) == 0 {
					staged = append(staged, p)
				}
			}
		case 8: // file replaced by a directory
			os.Remove(filepath.Join(dir, p))
			writeFile(t, dir, p+"/now-a-dir.txt", "was a file\n", 0o644)
		}
	}
	for _, p := range w.pick(untrackedNames, rnd.Intn(len(untrackedNames))) {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			continue
		}
		w.put(p)
		if rnd.Intn(3) == 0 { // a new file, staged
			staged = append(staged, p)
			if rnd.Intn(2) == 0 {
				later = append(later, p) // and changed again
			}
		}
	}
	for _, p := range w.pick(ignoredNames, rnd.Intn(len(ignoredNames)+1)) {
		w.put(p)
	}
	for _, p := range w.pick(reinstallableNames, 1+rnd.Intn(len(reinstallableNames))) {
		w.put(p)
	}
	w.stage(staged)
	w.stage(forget, "--force-remove")
	for _, p := range later {
		w.put(p)
	}

	opt := SnapshotOptions{IncludeIgnored: true}
	if rnd.Intn(3) == 0 {
		opt.MaxFileSize = 2000
	}
	if rnd.Intn(3) == 0 {
		opt.Exclude = []string{"*.tmp"}
	}
	checkRoundTrip(t, r, dir, rnd, opt)
}

// checkRoundTrip snapshots the work tree in dir, rolls it back, restores it
// and checks that everything came back.
func checkRoundTrip(t *testing.T, r *Repo, dir string, rnd *rand.Rand, opt SnapshotOptions) {
	t.Helper()
	ctx := context.Background()
	idx := filepath.Join(dir, ".git", "index")
	idxBytes, idxTime := fileBytes(t, idx), mtime(t, idx)
	before, st := manifest(t, dir), readState(t, dir)

	snap, err := r.Snapshot(ctx, "refs/rbflow/test/before", opt)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffManifests(before, manifest(t, dir), true, nil); d != "" {
		t.Fatalf("Snapshot changed the work tree:\n%s", d)
	}
	// With the index file and the work tree unchanged, status shows that
	// HEAD and the branch are too.
	if string(fileBytes(t, idx)) != string(idxBytes) || !mtime(t, idx).Equal(idxTime) {
		t.Fatal("Snapshot rewrote the index")
	}
	if got := readStatus(t, dir); got != st.Status {
		t.Fatalf("Snapshot changed the repository:\n got %q\nwant %q", got, st.Status)
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git", "refs", "stash")); err == nil {
		t.Fatal("Snapshot made a stash")
	}
	read, err := r.ReadSnapshot(ctx, snap.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(read) != fmt.Sprint(snap) {
		t.Fatalf("ReadSnapshot =\n%+v\nwant\n%+v", read, snap)
	}

	// The rollback.
	switch rnd.Intn(3) {
	case 0:
		testkit.Git(t, dir, "checkout", "-q", "-f", "other")
	case 1:
		testkit.Git(t, dir, "reset", "-q", "--hard", "other")
	case 2:
		testkit.Git(t, dir, "checkout", "-q", "-f", "--detach", "other")
	}
	testkit.Git(t, dir, "clean", "-q", "-fdx")
	if rnd.Intn(2) == 0 { // something the run itself wrote
		writeFile(t, dir, "rollback-report.txt", "report\n", 0o644)
	}
	after, err := r.Snapshot(ctx, "refs/rbflow/test/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}

	if err := r.Restore(ctx, snap, RestoreOptions{After: after}); err != nil {
		t.Fatal(err)
	}
	skipped := func(p string) bool {
		for _, sp := range snap.Skipped {
			if p == sp.Path || strings.HasSuffix(sp.Path, "/") && strings.HasPrefix(p, sp.Path) {
				return true
			}
		}
		return false
	}
	got := manifest(t, dir)
	if d := diffManifests(before, got, false, skipped); d != "" {
		t.Errorf("Restore did not bring back the work tree (skipped: %+v):\n%s", snap.Skipped, d)
	}
	for p := range got {
		if skipped(p) {
			t.Errorf("%q was skipped by the snapshot and removed by clean -fdx, but exists after Restore", p)
		}
	}
	now, was := readState(t, dir), st
	now.Status, was.Status = dropStatus(now.Status, skipped), dropStatus(was.Status, skipped)
	if now != was {
		t.Errorf("Restore did not bring back the repository:\n got %q\nwant %q", now, was)
	}
}

// dropStatus removes from `git status --porcelain=v2 -z` output the
// untracked entries for which skip is true, and sorts the rest.
func dropStatus(status string, skip func(string) bool) string {
	var keep []string
	for _, rec := range splitZ([]byte(status)) {
		if p, ok := strings.CutPrefix(rec, "? "); ok && skip(p) {
			continue
		}
		keep = append(keep, rec)
	}
	sort.Strings(keep)
	return strings.Join(keep, "\x00")
}
