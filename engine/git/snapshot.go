package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultMaxFileSize is the size above which ignored files are not saved in
// a snapshot unless SnapshotOptions.MaxFileSize says otherwise.
const DefaultMaxFileSize int64 = 50 << 20

// DefaultReinstallable returns the names of directories that a snapshot does
// not save when git ignores them: trees that a package manager or build
// recreates.
func DefaultReinstallable() []string {
	return []string{"node_modules", ".venv", "venv", "__pycache__", ".pytest_cache", ".tox", "dist", "build", "target"}
}

// SnapshotOptions say what a snapshot saves besides HEAD, the index and
// tracked files, which it always saves, and untracked files, which it saves
// unless Exclude says otherwise.
type SnapshotOptions struct {
	// IncludeIgnored saves ignored files too (rbflow's default is true).
	IncludeIgnored bool
	// Reinstallable lists directory names (path.Match patterns) that are
	// not saved, at any depth, when git ignores them. Nil means
	// DefaultReinstallable; an empty non-nil slice means none. A directory
	// of that name that git does not ignore is saved: it may be someone's
	// source code.
	Reinstallable []string
	// Exclude lists more path.Match patterns whose matches are not saved,
	// ignored or not. A pattern without '/' is matched against each name
	// in a path ("*.sqlite", "tmp"); one with '/' against the leading part
	// of the path ("data/*.csv"); a trailing '/' matches directories only.
	Exclude []string
	// MaxFileSize is the size in bytes above which an ignored file is not
	// saved. Zero means DefaultMaxFileSize, a negative value no limit.
	// Tracked and untracked files are saved whatever their size.
	MaxFileSize int64
	// Message is added to the snapshot commit's message.
	Message string
}

func (o SnapshotOptions) normalize() (SnapshotOptions, error) {
	if o.Reinstallable == nil {
		o.Reinstallable = DefaultReinstallable()
	}
	if o.MaxFileSize == 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	for _, list := range [][]string{o.Reinstallable, o.Exclude} {
		for _, p := range list {
			if _, err := path.Match(strings.TrimSuffix(p, "/"), ""); err != nil || strings.Trim(p, "/") == "" {
				return o, fmt.Errorf("invalid snapshot exclude pattern %q: use path.Match syntax, for example \"*.sqlite\" or \"data/cache/\"", p)
			}
			if checkControl(p) != nil {
				return o, fmt.Errorf("invalid snapshot exclude pattern %q: it contains control characters", p)
			}
		}
	}
	o.Message = strings.ReplaceAll(o.Message, "\x00", "")
	return o, nil
}

// SkipReason says why a path was not saved in a snapshot.
type SkipReason string

// Reasons for SkippedPath.
const (
	SkipReinstallable SkipReason = "reinstallable" // ignored directory named in Reinstallable
	SkipExcluded      SkipReason = "excluded"      // matched SnapshotOptions.Exclude
	SkipTooLarge      SkipReason = "too-large"     // ignored file over MaxFileSize
	SkipNestedRepo    SkipReason = "nested-repo"   // untracked directory with its own .git
	SkipSubmodule     SkipReason = "submodule"     // only the submodule's commit is saved, not its files
	SkipSpecial       SkipReason = "special-file"  // socket, FIFO or device: git cannot store it
	SkipUnmerged      SkipReason = "unmerged"      // conflict stages not saved (split index only); the index keeps HEAD's side
)

// SkippedPath is a path that a snapshot did not save (or, for submodules
// and unmerged entries, did not save completely). Directories end in '/'.
type SkippedPath struct {
	Path   string
	Reason SkipReason
	Size   int64 // for SkipTooLarge
}

// Snapshot is a saved state of a work tree; see the package documentation
// for how it is stored.
type Snapshot struct {
	Commit      string // the snapshot commit
	Ref         string // where it is stored, if known
	Head        string // the commit HEAD pointed at, "" if HEAD was unborn
	Branch      string // the branch HEAD was on (short name), "" if detached
	IndexTree   string // the tree of the index
	IndexCommit string // the commit holding IndexTree
	WorkTree    string // the tree of the work tree
	Meta        string // the commit with the index file, modes, refs and operation state; "" in older snapshots
	Message     string // the caller's message

	// The options it was taken with; Restore uses them to judge the
	// current state the same way.
	IncludeIgnored bool
	Reinstallable  []string
	Exclude        []string
	MaxFileSize    int64

	Skipped []SkippedPath
}

// Options returns the options s was taken with.
func (s *Snapshot) Options() SnapshotOptions {
	return SnapshotOptions{
		IncludeIgnored: s.IncludeIgnored,
		Reinstallable:  append([]string{}, s.Reinstallable...),
		Exclude:        append([]string(nil), s.Exclude...),
		MaxFileSize:    s.MaxFileSize,
	}
}

var (
	// ErrRefExists means a snapshot was asked to overwrite an existing ref.
	// Snapshots never replace one another: the older one may be the only
	// copy of someone's work.
	ErrRefExists = errors.New("git: ref already exists")
	// ErrNotSnapshot means a commit is not an rbflow snapshot.
	ErrNotSnapshot = errors.New("git: not an rbflow snapshot")
)

// Snapshot saves HEAD, the index and the work tree in a new commit stored at
// ref, which must be a full ref name (refs/rbflow/<run>/<step>) that does not
// exist yet (else the error wraps ErrRefExists). It changes nothing in the
// work tree, the index, the stash or HEAD. What it did not save is listed in
// Snapshot.Skipped.
func (r *Repo) Snapshot(ctx context.Context, ref string, opt SnapshotOptions) (*Snapshot, error) {
	if err := checkSnapshotRef(ref); err != nil {
		return nil, err
	}
	opt, err := opt.normalize()
	if err != nil {
		return nil, err
	}
	// The snapshot's new objects are written straight into rbflow's store
	// (see keepDir), so keeping them costs no copy.
	w, err := r.storing(ctx)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	c, cleanup, err := w.capture(ctx, opt, nil)
	defer cleanup()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	return w.store(ctx, ref, c, opt)
}

func checkSnapshotRef(ref string) error {
	if err := CheckRef(ref); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if !IsKept(ref) {
		return fmt.Errorf("snapshot: ref %q must be a full name under %s, for example %s<run>/<step>", ref, KeptPrefix, KeptPrefix)
	}
	return nil
}

// state is the state of the work tree as capture found it.
type state struct {
	head, branch string
	indexTree    string // the real index
	workTree     string // the work tree, as saved
	skipped      []SkippedPath
	index        string // temporary index file that holds workTree
	dir          string // the temporary directory
	meta         *meta  // what trees cannot hold
	stages       []string
	dirs         map[string]fs.FileMode
	// staged are the index's blobs that HEAD does not hold, by path (git
	// status tells them); needs, when known, the objects of the
	// repository the snapshot holds that its refs may not reach: those
	// blobs and the cache-tree trees above them (see Keep).
	staged     map[string]string
	needs      []string
	needsKnown bool
}

// capture records the index and the work tree as trees, using a temporary
// index that starts as a copy of the real one so that git's stat data spares
// rehashing unchanged files. keep lists paths to leave out silently (the
// skipped paths of a snapshot being restored). The cleanup function must be
// called even on error.
func (r *Repo) capture(ctx context.Context, opt SnapshotOptions, keep []string) (*state, func(), error) {
	dir, err := os.MkdirTemp("", "rbflow-index-")
	if err != nil {
		return nil, func() {}, fmt.Errorf("temporary index: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	s := &state{index: filepath.Join(dir, "index"), dir: dir, staged: map[string]string{}}
	// The copy keeps the index's mtime: git treats entries changed in the
	// same instant as the index was written as "racily clean" and compares
	// their content, and a newer mtime would hide those changes.
	if _, err := copyFile(r.indexFile, s.index); err != nil {
		return nil, cleanup, fmt.Errorf("copy index: %w", err)
	}
	orig := filepath.Join(dir, "index.orig") // the index file as it was, kept whole
	if _, err := copyFile(s.index, orig); err != nil {
		return nil, cleanup, fmt.Errorf("copy index: %w", err)
	}
	tmp := runOpts{env: []string{"GIT_INDEX_FILE=" + s.index}}

	ignored := "--ignored=no"
	if opt.IncludeIgnored {
		// "matching" reports an ignored directory once, without reading
		// it, so a big node_modules costs nothing.
		ignored = "--ignored=matching"
	}
	var (
		unmerged []SkippedPath
		flagged  []string // skip-worktree and assume-unchanged entries
		config   []byte   // for filtersMayApply
		treeErr  error
		done     = make(chan struct{})
	)
	// In a snapshot, trees and blobs are written into one pack in the
	// store when the index allows (see workTreeInGo).
	var (
		p   *pack
		idx *indexFile
	)
	if o, err := r.objects(); err == nil {
		p = o.pack()
	}
	// Alongside git status, which takes longest.
	go func() {
		defer close(done)
		if config, treeErr = r.filterConfig(ctx); treeErr != nil {
			return
		}
		read, known := r.readIndex(s.index)
		if p != nil && known && read.usable() {
			idx = read
			s.indexTree, treeErr = indexTreeInGo(idx, p)
			return // no flags, no conflicts
		}
		s.indexTree, unmerged, s.stages, treeErr = r.writeIndexTree(ctx, tmp)
		if treeErr == nil && !(known && !read.flagged) {
			flagged, treeErr = r.unflag(ctx, tmp)
		}
	}()
	// The modes are read alongside too; what turns out skipped is settled
	// after (finishWalk).
	var (
		walk    *modeWalk
		walkErr error
	)
	walkDone := make(chan struct{})
	go func() {
		defer close(walkDone)
		early := &skipper{opt: opt, keep: keep, seen: map[string]bool{}, reinst: reinstallable(opt)}
		walk, walkErr = walkFrom(r.Dir, early, []string{""}, true)
	}()
	var metaErr error
	metaDone := make(chan struct{})
	go func() {
		defer close(metaDone)
		s.meta, metaErr = r.readMetaNow(ctx, orig)
	}()
	// One status gives HEAD, the branch and every change, all read at once.
	status, err := r.run(ctx, runOpts{}, "status", "--porcelain=v2", "--branch", "--no-ahead-behind", "-z",
		"--untracked-files=all", "--no-renames", "--ignore-submodules=dirty", ignored)
	<-done
	<-metaDone
	<-walkDone
	if err != nil {
		return nil, cleanup, fmt.Errorf("list changes: %w", err)
	}
	if err := errors.Join(treeErr, metaErr, walkErr); err != nil {
		return nil, cleanup, err
	}

	sk := &skipper{opt: opt, keep: keep, seen: map[string]bool{}, reinst: reinstallable(opt)}
	if s.meta.index == nil && len(unmerged) > 0 {
		sk.skipped = append(sk.skipped, unmerged...)
	}
	if s.meta.index == nil && fileExists(r.indexFile) {
		sk.skip("(index flags and conflict stages)", SkipSplitIndex, 0)
	}
	update, err := sk.classify(r.Dir, status, s)
	if err != nil {
		return nil, cleanup, err
	}
	// git status does not look at skip-worktree and assume-unchanged
	// files: what they hold on disk is read here.
	update = append(update, flagged...)
	if s.branch == "(detached)" {
		// A branch may really be called that; ask the unambiguous way.
		if s.branch, err = r.Branch(ctx); err != nil {
			return nil, cleanup, err
		}
	}
	if opt.IncludeIgnored && len(sk.replaced) > 0 {
		more, err := r.ignoredReplacements(ctx, sk)
		if err != nil {
			return nil, cleanup, err
		}
		update = append(update, more...)
	}
	if err := r.skipSubmodules(ctx, tmp, idx, sk); err != nil {
		return nil, cleanup, err
	}
	s.skipped = sk.sorted()
	if walk, err = finishWalk(r.Dir, walk, sk); err != nil {
		return nil, cleanup, err
	}
	s.meta.files, s.dirs = walk.files, walk.dirs
	attrs := walk.attrs
	s.meta.dirs = s.dirs
	filters, all, raw := r.filtersMayApply(config, attrs)

	s.workTree = s.indexTree
	inGo := false
	if len(update) > 0 && idx != nil && raw && !filters {
		if s.workTree, inGo, err = r.workTreeInGo(idx, update, p); err != nil {
			return nil, cleanup, fmt.Errorf("record work tree: %w", err)
		}
	}
	if len(update) > 0 && !inGo {
		if s.workTree, err = r.updateTree(ctx, tmp, update, raw, len(s.indexTree)); err != nil {
			return nil, cleanup, err
		}
	}
	if p != nil {
		if err := p.write(); err != nil {
			return nil, cleanup, fmt.Errorf("record work tree: %w", err)
		}
	}
	if idx != nil {
		s.needs, s.needsKnown = needs(idx, s.staged), true
	}
	if filters {
		// Snapshots hold the bytes on disk: what git's filters and line
		// ending rules would make of them is not what undo must bring back.
		if s.workTree, err = r.rawTree(ctx, tmp, s.workTree, all); err != nil {
			return nil, cleanup, err
		}
	}
	return s, cleanup, nil
}

// updateTree records the work tree state of the paths update in the
// temporary index tmp and returns the tree it then holds. With raw (see
// filtersMayApply) and enough files, it writes their blobs in one pack
// (writeBlobs) rather than one loose object per file, which on a slow
// disk costs more than the reset the snapshot protects; idLen is the
// length of an object id in the repository.
func (r *Repo) updateTree(ctx context.Context, tmp runOpts, update []string, raw bool, idLen int) (string, error) {
	var info bytes.Buffer
	slow := update
	if raw && len(update) >= packedBlobsMin {
		var err error
		if slow, err = r.writeBlobs(ctx, update, &info, idLen); err != nil {
			return "", fmt.Errorf("record work tree: %w", err)
		}
	}
	if len(slow) > 0 {
		in := []byte(strings.Join(slow, "\x00") + "\x00")
		// --remove drops what vanished, --replace lets a file replace a
		// directory of the same name (and back); paths arrive
		// NUL-separated on stdin, so no name is ever read as an option or
		// a pathspec.
		if _, err := r.run(ctx, runOpts{env: tmp.env, stdin: in}, "update-index", "-z", "--add", "--remove", "--replace", "--stdin"); err != nil {
			return "", fmt.Errorf("record work tree: %w", err)
		}
	}
	if info.Len() > 0 {
		if _, err := r.run(ctx, runOpts{env: tmp.env, stdin: info.Bytes()}, "update-index", "-z", "--add", "--replace", "--index-info"); err != nil {
			return "", fmt.Errorf("record work tree: %w", err)
		}
	}
	out, err := r.run(ctx, tmp, "write-tree")
	if err != nil {
		return "", fmt.Errorf("record work tree: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// unflag clears the skip-worktree and assume-unchanged bits in the
// temporary index tmp, so that git reads those files from disk, and
// returns their paths. capture calls it only for an index whose flags it
// could not read, or that has some.
func (r *Repo) unflag(ctx context.Context, tmp runOpts) ([]string, error) {
	out, err := r.run(ctx, tmp, "ls-files", "-z", "-v", "--stage")
	if err != nil {
		return nil, fmt.Errorf("list index flags: %w", err)
	}
	var info strings.Builder
	var paths []string
	for _, rec := range splitZ(out) {
		// "T mode sha stage\tpath"; S is skip-worktree, a lower-case tag
		// assume-unchanged.
		if len(rec) < 2 || rec[0] != 'S' && !('a' <= rec[0] && rec[0] <= 'z') {
			continue
		}
		meta, p, ok := strings.Cut(rec[2:], "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 || f[2] != "0" {
			continue
		}
		fmt.Fprintf(&info, "%s %s\t%s\x00", f[0], f[1], p)
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return nil, nil
	}
	if _, err := r.run(ctx, runOpts{env: tmp.env, stdin: []byte(info.String())}, "update-index", "-z", "--index-info"); err != nil {
		return nil, fmt.Errorf("read flagged entries: %w", err)
	}
	return paths, nil
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// writeIndexTree writes the tree of the index in tmp. An index with
// conflicts has no tree; then each conflicted path gets HEAD's side ("ours",
// stage 2, or nothing if ours deleted it) and is reported as unmerged.
// It also returns the blobs of all conflict stages, which the snapshot
// keeps alive.
func (r *Repo) writeIndexTree(ctx context.Context, tmp runOpts) (string, []SkippedPath, []string, error) {
	out, err := r.run(ctx, tmp, "write-tree")
	if err == nil {
		return strings.TrimSpace(string(out)), nil, nil, nil
	}
	ls, lerr := r.run(ctx, tmp, "ls-files", "-z", "--unmerged")
	if lerr != nil || len(ls) == 0 {
		return "", nil, nil, fmt.Errorf("record index: %w", err)
	}
	var info strings.Builder
	var skipped []SkippedPath
	var stages []string
	seen := map[string]bool{}
	for _, rec := range splitZ(ls) {
		// "mode sha stage\tpath"
		meta, p, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return "", nil, nil, fmt.Errorf("record index: unexpected ls-files output %q", rec)
		}
		if f[0] != "160000" {
			stages = append(stages, f[1])
		}
		if !seen[p] {
			seen[p] = true
			skipped = append(skipped, SkippedPath{Path: p, Reason: SkipUnmerged})
			fmt.Fprintf(&info, "0 %s\t%s\x00", strings.Repeat("0", len(f[1])), p)
		}
		if f[2] == "2" {
			fmt.Fprintf(&info, "%s %s\t%s\x00", f[0], f[1], p)
		}
	}
	if _, err := r.run(ctx, runOpts{env: tmp.env, stdin: []byte(info.String())}, "update-index", "-z", "--index-info"); err != nil {
		return "", nil, nil, fmt.Errorf("record index with conflicts: %w", err)
	}
	out, err = r.run(ctx, tmp, "write-tree")
	if err != nil {
		return "", nil, nil, fmt.Errorf("record index with conflicts: %w", err)
	}
	return strings.TrimSpace(string(out)), skipped, stages, nil
}

// ignoredReplacements returns the files to save in directories that took
// the place of a tracked file (sk.replaced). git status --ignored=matching
// does not report such a directory when it is ignored, so ask git which of
// them are, and read those like any ignored directory.
func (r *Repo) ignoredReplacements(ctx context.Context, sk *skipper) ([]string, error) {
	in := strings.Join(sk.replaced, "/\x00") + "/\x00"
	out, err := r.run(ctx, runOpts{stdin: []byte(in)}, "check-ignore", "-z", "--no-index", "--stdin")
	if err != nil && exitCode(err) != 1 { // 1: none is ignored
		return nil, fmt.Errorf("list ignored files: %w", err)
	}
	var files []string
	for _, p := range splitZ(out) {
		f, err := sk.ignored(r.Dir, strings.TrimSuffix(p, "/")+"/")
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
	}
	return files, nil
}

// skipSubmodules reports each submodule: its commit is saved, its files not.
func (r *Repo) skipSubmodules(ctx context.Context, tmp runOpts, idx *indexFile, sk *skipper) error {
	if _, err := os.Lstat(filepath.Join(r.Dir, ".gitmodules")); err != nil {
		return nil // gitlinks without .gitmodules are rare enough not to list
	}
	if idx != nil {
		for _, e := range idx.entries {
			if e.mode == 0o160000 {
				sk.skip(e.path+"/", SkipSubmodule, 0)
			}
		}
		return nil
	}
	out, err := r.run(ctx, tmp, "ls-files", "-z", "--stage")
	if err != nil {
		return fmt.Errorf("list submodules: %w", err)
	}
	for _, rec := range splitZ(out) {
		if strings.HasPrefix(rec, "160000 ") {
			if _, p, ok := strings.Cut(rec, "\t"); ok {
				sk.skip(p+"/", SkipSubmodule, 0)
			}
		}
	}
	return nil
}

// reinstallable returns opt.Reinstallable made to match directories only.
func reinstallable(opt SnapshotOptions) []string {
	var list []string
	for _, p := range opt.Reinstallable {
		list = append(list, strings.TrimSuffix(p, "/")+"/")
	}
	return list
}

// skipper decides which untracked and ignored paths a snapshot saves.
type skipper struct {
	opt     SnapshotOptions
	reinst  []string // opt.Reinstallable, made to match directories only
	keep    []string
	skipped []SkippedPath
	seen    map[string]bool
	// replaced lists tracked files that are now directories.
	replaced []string
}

func (sk *skipper) skip(p string, why SkipReason, size int64) {
	if sk.kept(p) || sk.seen[p] {
		return
	}
	sk.seen[p] = true
	sk.skipped = append(sk.skipped, SkippedPath{Path: p, Reason: why, Size: size})
}

func (sk *skipper) sorted() []SkippedPath {
	sort.Slice(sk.skipped, func(i, j int) bool { return sk.skipped[i].Path < sk.skipped[j].Path })
	return sk.skipped
}

// kept reports whether p (a directory if it ends in '/') is at or under one
// of the keep paths.
func (sk *skipper) kept(p string) bool {
	for _, k := range sk.keep {
		if p == k || strings.HasSuffix(k, "/") && (strings.HasPrefix(p, k) || p+"/" == k) {
			return true
		}
	}
	return false
}

// classify reads `git status --porcelain=v2 --branch -z --no-renames`
// output: it sets head and branch from the header and returns the paths
// whose work tree state must go into the temporary index.
func (sk *skipper) classify(top string, status []byte, s *state) ([]string, error) {
	var update []string
	recs := splitZ(status)
	for i := 0; i < len(recs); i++ {
		rec := recs[i]
		bad := func() error { return fmt.Errorf("list changes: unexpected git status record %q", rec) }
		if len(rec) < 3 || rec[1] != ' ' {
			return nil, bad()
		}
		var f []string
		switch rec[0] {
		case '#':
			if v, ok := strings.CutPrefix(rec, "# branch.oid "); ok && v != "(initial)" {
				s.head = v
			} else if v, ok := strings.CutPrefix(rec, "# branch.head "); ok {
				s.branch = v
			}
			continue
		case '?':
			switch p := rec[2:]; {
			case strings.HasSuffix(p, "/"):
				sk.skip(p, SkipNestedRepo, 0)
			case sk.kept(p):
			default:
				if pre, ok := matchPath(sk.opt.Exclude, p, false); ok {
					sk.skip(pre, SkipExcluded, 0)
					continue
				}
				update = append(update, p)
			}
			continue
		case '!':
			files, err := sk.ignored(top, rec[2:])
			if err != nil {
				return nil, err
			}
			update = append(update, files...)
			continue
		case '1': // 1 XY sub mH mI mW hH hI path
			f = strings.SplitN(rec, " ", 9)
		case '2': // 2 XY sub mH mI mW hH hI score path, then the source path
			f = strings.SplitN(rec, " ", 10)
			i++
		case 'u': // u XY sub m1 m2 m3 mW h1 h2 h3 path: unmerged
			f = strings.SplitN(rec, " ", 11)
		default:
			return nil, bad()
		}
		if len(f) < 9 || len(f[1]) != 2 {
			return nil, bad()
		}
		p := f[len(f)-1]
		if x := f[1][0]; f[0] == "1" && x != '.' && f[4] != "160000" && strings.Trim(f[7], "0") != "" {
			s.staged[p] = f[7] // hI: what the index holds
		}
		if y := f[1][1]; f[0] == "u" || y != '.' {
			update = append(update, p) // for a conflict, what the file holds now
			if f[0] == "u" || y == 'D' {
				sk.noteReplaced(top, p)
			}
		}
	}
	return update, nil
}

// noteReplaced remembers p if a directory has taken its place.
func (sk *skipper) noteReplaced(top, p string) {
	if fi, err := os.Lstat(filepath.Join(top, p)); err == nil && fi.IsDir() {
		sk.replaced = append(sk.replaced, p)
	}
}

// ignored returns the files to save for an ignored entry of git status: a
// file, or a directory (ending in '/') that git did not read into.
func (sk *skipper) ignored(top, p string) ([]string, error) {
	isDir := strings.HasSuffix(p, "/")
	rel := strings.TrimSuffix(p, "/")
	if sk.kept(p) {
		return nil, nil
	}
	if _, ok := matchPath(sk.reinst, rel, isDir); ok {
		sk.skip(p, SkipReinstallable, 0)
		return nil, nil
	}
	if pre, ok := matchPath(sk.opt.Exclude, rel, isDir); ok {
		sk.skip(pre, SkipExcluded, 0)
		return nil, nil
	}
	if !isDir {
		fi, err := os.Lstat(filepath.Join(top, rel))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil // gone since git listed it
			}
			return nil, fmt.Errorf("snapshot ignored file: %w", err)
		}
		if sk.file(rel, fi) {
			return []string{rel}, nil
		}
		return nil, nil
	}
	// Everything under an ignored directory is ignored, so the walk needs
	// no help from git. It does not follow symlinks.
	var files []string
	err := filepath.WalkDir(filepath.Join(top, rel), func(osPath string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("snapshot ignored files: %w", err)
		}
		sub, err := filepath.Rel(top, osPath)
		if err != nil {
			return err
		}
		sub = filepath.ToSlash(sub)
		if d.IsDir() {
			dp := sub + "/"
			if sub != rel { // rel itself was judged above
				switch {
				case sk.kept(dp):
					return filepath.SkipDir
				case matchOne(sk.reinst, sub, d.Name(), true):
					sk.skip(dp, SkipReinstallable, 0)
					return filepath.SkipDir
				case matchOne(sk.opt.Exclude, sub, d.Name(), true):
					sk.skip(dp, SkipExcluded, 0)
					return filepath.SkipDir
				}
			}
			if _, err := os.Lstat(filepath.Join(osPath, ".git")); err == nil {
				sk.skip(dp, SkipNestedRepo, 0)
				return filepath.SkipDir
			}
			return nil
		}
		if sk.kept(sub) {
			return nil
		}
		if matchOne(sk.opt.Exclude, sub, d.Name(), false) {
			sk.skip(sub, SkipExcluded, 0)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("snapshot ignored files: %w", err)
		}
		if sk.file(sub, fi) {
			files = append(files, sub)
		}
		return nil
	})
	return files, err
}

// file decides whether an ignored file can and may be saved.
func (sk *skipper) file(rel string, fi fs.FileInfo) bool {
	switch {
	case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0:
		sk.skip(rel, SkipSpecial, 0)
		return false
	case fi.Mode().IsRegular() && sk.opt.MaxFileSize >= 0 && fi.Size() > sk.opt.MaxFileSize:
		sk.skip(rel, SkipTooLarge, fi.Size())
		return false
	}
	return true
}

// matchPath matches patterns against the path p (a directory if isDir) and
// each directory above it, and returns the first (shortest) match, with a
// trailing '/' if it is a directory. Patterns are described at
// SnapshotOptions.Exclude.
func matchPath(patterns []string, p string, isDir bool) (string, bool) {
	if len(patterns) == 0 {
		return "", false
	}
	parts := strings.Split(p, "/")
	for i := range parts {
		dir := i < len(parts)-1 || isDir
		prefix := strings.Join(parts[:i+1], "/")
		if matchOne(patterns, prefix, parts[i], dir) {
			if dir {
				prefix += "/"
			}
			return prefix, true
		}
	}
	return "", false
}

// matchOne matches patterns against one path p whose last name is name.
func matchOne(patterns []string, p, name string, isDir bool) bool {
	return matchName(patterns, name, isDir) || matchWhole(patterns, p, isDir)
}

// matchName matches the patterns without '/' against one name.
func matchName(patterns []string, name string, isDir bool) bool {
	for _, pat := range patterns {
		pat, dirOnly := strings.CutSuffix(pat, "/")
		if strings.Contains(pat, "/") || dirOnly && !isDir {
			continue
		}
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// matchWhole matches the patterns with '/' against a path from the top.
func matchWhole(patterns []string, p string, isDir bool) bool {
	for _, pat := range patterns {
		pat, dirOnly := strings.CutSuffix(pat, "/")
		if !strings.Contains(pat, "/") || dirOnly && !isDir {
			continue
		}
		if ok, _ := path.Match(strings.TrimPrefix(pat, "/"), p); ok {
			return true
		}
	}
	return false
}

// store writes the commits of a captured state and points ref at them.
func (r *Repo) store(ctx context.Context, ref string, s *state, opt SnapshotOptions) (*Snapshot, error) {
	snap := &Snapshot{
		Ref: ref, Head: s.head, Branch: s.branch,
		IndexTree: s.indexTree, WorkTree: s.workTree, Message: strings.TrimSpace(opt.Message),
		IncludeIgnored: opt.IncludeIgnored, Reinstallable: append([]string{}, opt.Reinstallable...),
		Exclude: opt.Exclude, MaxFileSize: opt.MaxFileSize, Skipped: s.skipped,
	}
	var parents []string
	if s.head != "" {
		parents = []string{s.head}
	}
	if r.stored == "" {
		// Objects go to the store; the repository's own (what capture
		// wrote) are read through its alternates, and Keep packs them.
		w, err := r.storing(ctx)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", ref, err)
		}
		r = w
	}
	o, err := r.objects()
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	snap.IndexCommit, err = o.commit(s.indexTree, parents, "index of "+snap.where()+"\n")
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	if snap.Meta, err = r.storeMeta(ctx, o, s.meta, s.stages); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	snap.Commit, err = o.commit(s.workTree, append(parents, snap.IndexCommit, snap.Meta), snap.message())
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	if s.needsKnown {
		err = r.keepWith(ctx, ref, snap.Commit, s.needs)
	} else {
		err = r.Keep(ctx, ref, snap.Commit)
	}
	if err != nil {
		if errors.Is(err, ErrRefExists) {
			return nil, fmt.Errorf("snapshot %s: %w; choose another ref (snapshots are never overwritten)", ref, ErrRefExists)
		}
		return nil, fmt.Errorf("snapshot %s: %w", ref, err)
	}
	return snap, nil
}

// refValue returns the commit a full ref of the repository points at, or
// "" if it does not exist.
func (r *Repo) refValue(ctx context.Context, ref string) (string, error) {
	return refValueIn(ctx, r, false, ref)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// where describes HEAD for people: `branch "main" at 1a2b3c4d5e6f`.
func (s *Snapshot) where() string {
	return describeHead(s.Head, s.Branch)
}

func describeHead(head, branch string) string {
	switch {
	case head == "" && branch == "":
		return "unborn HEAD"
	case head == "":
		return fmt.Sprintf("unborn branch %s", strconv.Quote(branch))
	case branch == "":
		return "detached HEAD at " + short(head)
	}
	return fmt.Sprintf("branch %s at %s", strconv.Quote(branch), short(head))
}

const trailerStart = "\n\nRbflow-Snapshot: 1\n"

// message is the snapshot commit's message: a subject, the caller's
// message, then trailers that ReadSnapshot parses. Free text is quoted with
// strconv.Quote, so names with newlines or odd bytes survive.
func (s *Snapshot) message() string {
	var b strings.Builder
	b.WriteString("rbflow snapshot of " + s.where() + "\n")
	if s.Message != "" {
		b.WriteString("\n" + s.Message + "\n")
	}
	b.WriteString(trailerStart)
	head := s.Head
	if head == "" {
		head = "none"
	}
	fmt.Fprintf(&b, "Rbflow-Head: %s\n", head)
	if s.Branch != "" {
		fmt.Fprintf(&b, "Rbflow-Branch: %s\n", strconv.Quote(s.Branch))
	}
	fmt.Fprintf(&b, "Rbflow-Index-Tree: %s\n", s.IndexTree)
	if s.Meta != "" {
		fmt.Fprintf(&b, "Rbflow-Meta: %s\n", s.Meta)
	}
	fmt.Fprintf(&b, "Rbflow-Include-Ignored: %t\n", s.IncludeIgnored)
	fmt.Fprintf(&b, "Rbflow-Max-File-Size: %d\n", s.MaxFileSize)
	for _, p := range s.Reinstallable {
		fmt.Fprintf(&b, "Rbflow-Reinstallable: %s\n", strconv.Quote(p))
	}
	for _, p := range s.Exclude {
		fmt.Fprintf(&b, "Rbflow-Exclude: %s\n", strconv.Quote(p))
	}
	for _, sp := range s.Skipped {
		fmt.Fprintf(&b, "Rbflow-Skipped: %s %d %s\n", sp.Reason, sp.Size, strconv.Quote(sp.Path))
	}
	return b.String()
}

// ReadSnapshot reads the snapshot at commitOrRef (a ref such as
// refs/rbflow/<run>/<step>, or a commit id). The error wraps ErrNotSnapshot
// if the commit is not one.
func (r *Repo) ReadSnapshot(ctx context.Context, commitOrRef string) (*Snapshot, error) {
	var sha string
	var err error
	if IsKept(commitOrRef) {
		sha, err = r.fetchKept(ctx, commitOrRef)
	} else if sha, err = r.ResolveCommit(ctx, commitOrRef); err != nil && r.hasKeep() {
		// A snapshot's commit is in rbflow's store (Restore copies it).
		var w *Repo
		if w, err = r.storing(ctx); err == nil {
			sha, err = w.ResolveCommit(ctx, commitOrRef)
			r = w
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	out, err := r.run(ctx, runOpts{}, "cat-file", "commit", sha)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", commitOrRef, err)
	}
	s, err := parseSnapshot(string(out))
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", commitOrRef, err)
	}
	s.Commit = sha
	if strings.HasPrefix(commitOrRef, "refs/") {
		s.Ref = commitOrRef
	}
	return s, nil
}

func parseSnapshot(raw string) (*Snapshot, error) {
	header, msg, ok := strings.Cut(raw, "\n\n")
	if !ok {
		return nil, fmt.Errorf("%w: malformed commit", ErrNotSnapshot)
	}
	s := &Snapshot{Reinstallable: []string{}}
	var parents []string
	for _, line := range strings.Split(header, "\n") {
		if t, ok := strings.CutPrefix(line, "tree "); ok {
			s.WorkTree = t
		} else if p, ok := strings.CutPrefix(line, "parent "); ok {
			parents = append(parents, p)
		}
	}
	i := strings.LastIndex("\n"+msg, trailerStart)
	if i < 0 {
		return nil, ErrNotSnapshot
	}
	if _, body, ok := strings.Cut(msg[:max(i-1, 0)], "\n\n"); ok {
		s.Message = strings.TrimSpace(body)
	}
	bad := func(line string) error { return fmt.Errorf("%w: bad trailer %q", ErrNotSnapshot, line) }
	unquote := func(line, v string) (string, error) {
		u, err := strconv.Unquote(v)
		if err != nil {
			return "", bad(line)
		}
		return u, nil
	}
	seenHead := false
	for _, line := range strings.Split(msg[i-1+len(trailerStart):], "\n") {
		key, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "Rbflow-Head":
			seenHead = true
			if v != "none" {
				s.Head = v
			}
		case "Rbflow-Branch":
			s.Branch, err = unquote(line, v)
		case "Rbflow-Index-Tree":
			s.IndexTree = v
		case "Rbflow-Meta":
			s.Meta = v
		case "Rbflow-Include-Ignored":
			s.IncludeIgnored, err = strconv.ParseBool(v)
		case "Rbflow-Max-File-Size":
			s.MaxFileSize, err = strconv.ParseInt(v, 10, 64)
		case "Rbflow-Reinstallable", "Rbflow-Exclude":
			var p string
			if p, err = unquote(line, v); err == nil {
				if key == "Rbflow-Exclude" {
					s.Exclude = append(s.Exclude, p)
				} else {
					s.Reinstallable = append(s.Reinstallable, p)
				}
			}
		case "Rbflow-Skipped":
			f := strings.SplitN(v, " ", 3)
			if len(f) != 3 {
				return nil, bad(line)
			}
			sp := SkippedPath{Reason: SkipReason(f[0])}
			if sp.Size, err = strconv.ParseInt(f[1], 10, 64); err == nil {
				sp.Path, err = unquote(line, f[2])
			}
			s.Skipped = append(s.Skipped, sp)
		}
		if err != nil {
			return nil, bad(line)
		}
	}
	for _, id := range []string{s.Head, s.IndexTree, s.Meta} {
		if id != "" && !isObjectID(id) {
			return nil, fmt.Errorf("%w: %q is not an object id", ErrNotSnapshot, id)
		}
	}
	want := 1
	if s.Head != "" {
		want = 2
	}
	n := want
	if s.Meta != "" {
		n++
	}
	if !seenHead || s.IndexTree == "" || len(parents) != n || s.Head != "" && parents[0] != s.Head || s.Meta != "" && parents[n-1] != s.Meta {
		return nil, fmt.Errorf("%w: trailers and parents do not agree", ErrNotSnapshot)
	}
	s.IndexCommit = parents[want-1]
	return s, nil
}

// isObjectID reports whether s is a full SHA-1 or SHA-256 object id.
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
