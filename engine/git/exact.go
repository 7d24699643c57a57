package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// What git's trees cannot hold, a snapshot keeps in a third commit M (see
// the package documentation): the index file itself, with its conflict
// stages, intent-to-add, skip-worktree and assume-unchanged entries; the
// permission bits of every saved file and directory, empty directories
// included; the files of a merge, cherry-pick, revert or rebase in
// progress; and the branches and tags. M's tree:
//
//	index          the index file, byte for byte
//	modes          "d 0700 path\0" and "f 0600 path\0" records
//	refs           "<object id> <ref>\n" for refs/heads and refs/tags
//	state/...      MERGE_HEAD, rebase-merge/... as they were in the git dir
//	objects/<id>   blobs the index names that no tree holds (conflict
//	               stages, the empty blob of intent-to-add entries), and the
//	               raw content of annotated tags, so that they survive gc
//
// M's parents are the commits that refs and the operation state point at,
// so that the snapshot keeps them alive after the run moves or deletes a
// branch and git gc runs.
type meta struct {
	index   []byte                 // nil when it was not saved (split index)
	files   map[string]fs.FileMode // permission bits of regular files
	dirs    map[string]fs.FileMode // permission bits of directories ("" is the top)
	state   map[string][]byte      // operation in progress: file name under the git dir → content
	refs    map[string]string      // refs/heads/*, refs/tags/* → object id
	commits map[string]bool        // for writing: the ids in refs known to be commits
	objects map[string][]byte      // for reading: objects/<id> content (tag objects only)
}

// opStateNames are the files and directories of the git dir that say an
// operation is in progress, and hold its state.
var opStateNames = []string{
	"MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "MERGE_AUTOSTASH", "AUTO_MERGE", "SQUASH_MSG",
	"CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply", "sequencer",
}

// SkipSplitIndex marks an index kept in split form (core.splitIndex): only
// its tree is saved, not its flags or conflict stages.
const SkipSplitIndex SkipReason = "split-index"

// modeWalk is what walkFrom read.
type modeWalk struct {
	files, dirs map[string]fs.FileMode
	attrs       bool
	// deferred lists the directories an early walk did not read: they
	// may turn out to be skipped (see early).
	deferred []string
}

// walkFrom records the permission bits of every directory and regular file
// in the directories from (relative, "" for the top) and below them, that
// the snapshot may save (not .git, not skipped or kept trees), and reports
// whether any .gitattributes file was seen. Directories are read by a few
// goroutines at once, each entry's bits read relative to its open
// directory: a snapshot of a big tree spends most of its own time here.
// early is a walk that runs while git
// status decides what is skipped: it does not read a directory that may
// turn out skipped (named like a reinstallable or excluded tree, or
// holding a .git of its own) but lists it in deferred; finishWalk then
// settles the walk with status's answer.
func walkFrom(top string, sk *skipper, from []string, early bool) (*modeWalk, error) {
	w := &modeWalk{files: map[string]fs.FileMode{}, dirs: map[string]fs.FileMode{}}
	if slices.Contains(from, "") {
		fi, err := os.Lstat(top)
		if err != nil {
			return nil, fmt.Errorf("read modes: %w", err)
		}
		w.dirs[""] = fi.Mode() & modeBits
	}
	var (
		mu       sync.Mutex
		more     = sync.NewCond(&mu)
		queue    = append([]string(nil), from...)
		busy     int
		firstErr error
		wg       sync.WaitGroup
	)
	worker := func() {
		defer wg.Done()
		mu.Lock()
		defer mu.Unlock()
		for {
			for len(queue) == 0 && busy > 0 {
				more.Wait()
			}
			if len(queue) == 0 {
				more.Broadcast()
				return
			}
			rel := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			busy++
			mu.Unlock()
			d, err := readModes(top, rel, sk, early)
			mu.Lock()
			busy--
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if d.nested {
				w.deferred = append(w.deferred, rel)
			} else {
				maps.Copy(w.files, d.files)
				maps.Copy(w.dirs, d.dirs)
				w.attrs = w.attrs || d.attrs
				queue = append(queue, d.subdirs...)
				w.deferred = append(w.deferred, d.deferred...)
			}
			more.Broadcast()
		}
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go worker()
	}
	wg.Wait()
	return w, firstErr
}

// finishWalk settles an early walk w once sk knows what is skipped: what
// it read under a skipped directory is dropped, and the directories it
// deferred that are not skipped are read now.
func finishWalk(top string, w *modeWalk, sk *skipper) (*modeWalk, error) {
	skipped := func(p string) bool { // p or a directory above it
		for {
			if sk.seen[p+"/"] {
				return true
			}
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return false
			}
			p = p[:i]
		}
	}
	for p := range sk.seen {
		if strings.HasSuffix(p, "/") { // a directory is skipped
			for _, m := range []map[string]fs.FileMode{w.files, w.dirs} {
				maps.DeleteFunc(m, func(p string, _ fs.FileMode) bool { return p != "" && skipped(p) })
			}
			break
		}
	}
	var later []string
	for _, d := range w.deferred {
		if !skipped(d) {
			later = append(later, d)
		}
	}
	if len(later) > 0 {
		more, err := walkFrom(top, sk, later, false)
		if err != nil {
			return nil, err
		}
		maps.Copy(w.files, more.files)
		maps.Copy(w.dirs, more.dirs)
		w.attrs = w.attrs || more.attrs
	}
	w.deferred = nil
	return w, nil
}

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// readDir is one directory as readModes read it.
type readDir struct {
	subdirs, deferred []string
	files, dirs       map[string]fs.FileMode
	attrs             bool
	nested            bool // early: it holds a .git, and nothing was kept
}

// readModes reads one directory of walkFrom (rel, "" for the top): the
// bits of its regular files and subdirectories, and the subdirectories to
// read next (with early, those to defer apart).
func readModes(top, rel string, sk *skipper, early bool) (*readDir, error) {
	d := &readDir{}
	f, err := os.Open(filepath.Join(top, filepath.FromSlash(rel)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return d, nil // gone meanwhile
		}
		return d, fmt.Errorf("read modes: %w", err)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return d, fmt.Errorf("read modes: %w", err)
	}
	if early && rel != "" && slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == ".git" }) {
		d.nested = true
		return d, nil
	}
	d.files, d.dirs = map[string]fs.FileMode{}, map[string]fs.FileMode{}
	fd := int(f.Fd())
	prefix := ""
	if rel != "" {
		prefix = rel + "/"
	}
	for _, e := range entries {
		p := prefix + e.Name()
		switch t := e.Type(); {
		case p == ".git":
			continue
		case t.IsDir():
			if sk.seen[p+"/"] || sk.kept(p+"/") {
				continue
			}
		case e.Name() == ".gitattributes":
			d.attrs = true
			if !t.IsRegular() {
				continue
			}
		case !t.IsRegular():
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone meanwhile
		}
		m := fileMode(st.Mode & 0o7777)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			d.dirs[p] = m
			if early && (matchOne(sk.reinst, p, e.Name(), true) || matchOne(sk.opt.Exclude, p, e.Name(), true)) {
				d.deferred = append(d.deferred, p)
			} else {
				d.subdirs = append(d.subdirs, p)
			}
		case unix.S_IFREG:
			d.files[p] = m
		}
	}
	return d, nil
}

// unixMode turns the bits walkModes records into the octal numbers of chmod.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

func fileMode(u uint32) fs.FileMode {
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// filtersMayApply reports whether git may change the bytes of a file
// between the work tree and the object store: core.autocrlf, or attributes
// from any source. all means every file may be affected (autocrlf).
//
// raw reports whether git, filters aside, stores a file as its bytes and
// its executable bit as on disk (core.fileMode and core.symlinks are not
// false): then a snapshot may write the blobs itself (see writeBlobs).
//
// config is what filterConfig read.
func (r *Repo) filtersMayApply(config []byte, attrsInTree bool) (any, all, raw bool) {
	out := config
	raw = true
	for _, rec := range splitZ(out) {
		key, v, _ := strings.Cut(rec, "\n")
		switch strings.ToLower(key) {
		case "core.autocrlf":
			if b, err := strconv.ParseBool(v); (err == nil && b) || strings.EqualFold(v, "input") {
				all = true
			}
		case "core.attributesfile":
			any = true
		case "core.filemode", "core.symlinks":
			if b, err := strconv.ParseBool(v); err != nil || !b {
				raw = false
			}
		}
	}
	if all || attrsInTree {
		return true, all, raw
	}
	candidates := []string{filepath.Join(r.commonDir, "info", "attributes"), "/etc/gitattributes"}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		candidates = append(candidates, filepath.Join(x, "git", "attributes"))
	} else if h, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(h, ".config", "git", "attributes"))
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			any = true
		}
	}
	return any, false, raw
}

// filterConfig reads the settings filtersMayApply looks at.
func (r *Repo) filterConfig(ctx context.Context) ([]byte, error) {
	out, err := r.run(ctx, runOpts{}, "config", "-z", "--get-regexp", `^core\.(autocrlf|attributesfile|filemode|symlinks)$`)
	if err != nil && exitCode(err) != 1 { // 1: none set
		return nil, fmt.Errorf("read config: %w", err)
	}
	return out, nil
}

// rawTree rewrites the entries of tree whose bytes git's filters change
// (eol conversion, clean filters, ident, working-tree-encoding) so that they
// hold the bytes on disk, and returns the new tree. tmp is the temporary
// index that holds tree.
func (r *Repo) rawTree(ctx context.Context, tmp runOpts, tree string, all bool) (string, error) {
	out, err := r.run(ctx, runOpts{}, "ls-tree", "-r", "-z", "--full-tree", tree)
	if err != nil {
		return "", fmt.Errorf("list saved files: %w", err)
	}
	type entry struct{ mode, sha string }
	entries := map[string]entry{}
	var paths []string
	for _, rec := range splitZ(out) {
		meta, p, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 || f[1] != "blob" || f[0] == "120000" {
			continue
		}
		entries[p] = entry{f[0], f[2]}
		paths = append(paths, p)
	}
	if !all && len(paths) > 0 {
		paths, err = r.filtered(ctx, paths)
		if err != nil {
			return "", err
		}
	}
	if len(paths) == 0 {
		return tree, nil
	}
	abs := make([]string, len(paths))
	for i, p := range paths {
		abs[i] = filepath.Join(r.Dir, p)
	}
	shas, err := r.hashFiles(ctx, abs)
	if err != nil {
		return "", fmt.Errorf("save raw bytes: %w", err)
	}
	var info bytes.Buffer
	for i, p := range paths {
		if e := entries[p]; shas[i] != "" && shas[i] != e.sha {
			fmt.Fprintf(&info, "%s %s\t%s\x00", e.mode, shas[i], p)
		}
	}
	if info.Len() == 0 {
		return tree, nil
	}
	if _, err := r.run(ctx, runOpts{env: tmp.env, stdin: info.Bytes()}, "update-index", "-z", "--index-info"); err != nil {
		return "", fmt.Errorf("save raw bytes: %w", err)
	}
	out, err = r.run(ctx, tmp, "write-tree")
	if err != nil {
		return "", fmt.Errorf("save raw bytes: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// filtered returns the paths that have an attribute which changes bytes.
func (r *Repo) filtered(ctx context.Context, paths []string) ([]string, error) {
	in := strings.Join(paths, "\x00") + "\x00"
	out, err := r.run(ctx, runOpts{stdin: []byte(in)}, "check-attr", "-z", "--stdin",
		"text", "eol", "crlf", "filter", "ident", "working-tree-encoding")
	if err != nil {
		return nil, fmt.Errorf("read attributes: %w", err)
	}
	recs := splitZ(out)
	var hit []string
	seen := map[string]bool{}
	for i := 0; i+2 < len(recs); i += 3 {
		p, v := recs[i], recs[i+2]
		if v != "unspecified" && v != "unset" && !seen[p] {
			seen[p] = true
			hit = append(hit, p)
		}
	}
	return hit, nil
}

// hashFiles writes the files at the absolute paths as blobs, raw, without
// any filter, and returns their ids in order ("" for a file that vanished).
func (r *Repo) hashFiles(ctx context.Context, paths []string) ([]string, error) {
	shas := make([]string, len(paths))
	var batch []string
	var at []int
	for i, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if strings.ContainsAny(p, "\n\r") || strings.HasPrefix(p, "\"") {
			// --stdin-paths reads lines; hash these one by one.
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			if shas[i], err = r.hashBlob(ctx, b); err != nil {
				return nil, err
			}
			continue
		}
		batch = append(batch, p)
		at = append(at, i)
	}
	if len(batch) == 0 {
		return shas, nil
	}
	out, err := r.run(ctx, runOpts{stdin: []byte(strings.Join(batch, "\n") + "\n")}, "hash-object", "-w", "--no-filters", "--stdin-paths")
	if err != nil {
		return nil, err
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(batch) {
		return nil, fmt.Errorf("hash-object returned %d ids for %d files", len(lines), len(batch))
	}
	for k, i := range at {
		shas[i] = lines[k]
	}
	return shas, nil
}

// hashBlob writes b as a blob and returns its id.
func (r *Repo) hashBlob(ctx context.Context, b []byte) (string, error) {
	return r.hashObject(ctx, "blob", b)
}

func (r *Repo) hashObject(ctx context.Context, typ string, b []byte) (string, error) {
	if b == nil {
		b = []byte{}
	}
	out, err := r.run(ctx, runOpts{stdin: b}, "hash-object", "-w", "--no-filters", "-t", typ, "--stdin")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// readMetaNow reads what the snapshot's meta commit holds about the
// repository as it is now: the index file (copied to orig before anything
// else touched it), the operation state, the refs. Modes come from walkModes.
func (r *Repo) readMetaNow(ctx context.Context, orig string) (*meta, error) {
	m := &meta{state: map[string][]byte{}, refs: map[string]string{}}
	if b, err := os.ReadFile(orig); err == nil {
		if !r.splitIndex() {
			m.index = b
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read index: %w", err)
	}
	for _, name := range opStateNames {
		p := filepath.Join(r.gitDir, name)
		err := filepath.WalkDir(p, func(osPath string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(r.gitDir, osPath)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(osPath)
			if err != nil {
				return err
			}
			m.state[filepath.ToSlash(rel)] = b
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the state of the operation in progress: %w", err)
		}
	}
	out, err := r.run(ctx, runOpts{}, "for-each-ref", "--format=%(objectname) %(objecttype) %(refname)", "refs/heads", "refs/tags")
	if err != nil {
		return nil, fmt.Errorf("list refs: %w", err)
	}
	m.commits = map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) == 3 {
			m.refs[f[2]] = f[0]
			if f[1] == "commit" {
				m.commits[f[0]] = true
			}
		}
	}
	return m, nil
}

// splitIndex reports whether the index is kept in split form: its file
// alone is not the whole index.
func (r *Repo) splitIndex() bool {
	matches, _ := filepath.Glob(filepath.Join(r.commonDir, "sharedindex.*"))
	return len(matches) > 0
}

// storeMeta writes m as the meta commit (see meta) and returns its id.
// stages lists the blobs of conflict stages, which no tree holds.
func (r *Repo) storeMeta(ctx context.Context, o *objects, m *meta, stages []string) (string, error) {
	files := map[string]entry{}
	add := func(name string, b []byte) error {
		id, err := o.write("blob", b)
		files[name] = entry{id: id}
		return err
	}
	// The index file, megabytes in a big tree, is hashed and compressed
	// while the modes are listed beside it.
	var (
		indexID  string
		indexErr error
		indexed  = make(chan struct{})
	)
	go func() {
		defer close(indexed)
		if m.index != nil {
			indexID, indexErr = o.write("blob", m.index)
		}
	}()
	modes := modesRecords(m)
	<-indexed
	if indexErr != nil {
		return "", indexErr
	}
	if m.index != nil {
		files["index"] = entry{id: indexID}
	}
	var refs bytes.Buffer
	for _, ref := range sortedKeys(m.refs) {
		fmt.Fprintf(&refs, "%s %s\n", m.refs[ref], ref)
	}
	parents, tags, err := r.refTargets(ctx, m)
	if err != nil {
		return "", err
	}
	if err := errors.Join(add("modes", modes), add("refs", refs.Bytes())); err != nil {
		return "", err
	}
	for _, name := range sortedKeys(m.state) {
		if err := add("state/"+name, m.state[name]); err != nil {
			return "", err
		}
	}
	// The annotated tags the refs name, as blobs of their content.
	for _, id := range sortedKeys(tags) {
		if err := add("objects/"+id, tags[id]); err != nil {
			return "", err
		}
	}
	// Objects kept alive: the empty blob (intent-to-add entries name it)
	// and the conflict stages.
	empty, err := o.write("blob", nil)
	if err != nil {
		return "", err
	}
	for _, s := range append(stages, empty) {
		files["objects/"+s] = entry{id: s}
	}
	tree, err := o.tree(files)
	if err != nil {
		return "", err
	}
	return o.commit(tree, parents, "rbflow snapshot: index, modes, refs and operation state\n")
}

// modesRecords lists the permission bits of m's directories, then its
// files, each sorted by path, as "d 0755 path\0" and "f 0644 path\0".
func modesRecords(m *meta) []byte {
	var b []byte
	for _, kind := range []struct {
		tag  string
		bits map[string]fs.FileMode
	}{{"d ", m.dirs}, {"f ", m.files}} {
		for _, p := range sortedKeys(kind.bits) {
			b = append(b, kind.tag...)
			mode := strconv.AppendUint(nil, uint64(unixMode(kind.bits[p])), 8)
			for i := len(mode); i < 4; i++ {
				b = append(b, '0')
			}
			b = append(b, mode...)
			b = append(b, ' ')
			b = append(b, p...)
			b = append(b, 0)
		}
	}
	return b
}

// refTargets returns the commits that m's refs and operation state point
// at (M's parents), and the raw content of the annotated tags among them.
func (r *Repo) refTargets(ctx context.Context, m *meta) ([]string, map[string][]byte, error) {
	// What for-each-ref said is a commit needs no second look; the other
	// refs (tags) and the ids in the operation state are read.
	ids := map[string]bool{}
	seen := map[string]bool{} // the parents
	for _, id := range m.refs {
		if m.commits[id] {
			seen[id] = true
		} else {
			ids[id] = true
		}
	}
	for _, b := range m.state {
		if len(b) > 4096 {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if isObjectID(f) {
				ids[f] = true
			}
		}
	}
	tags := map[string][]byte{}
	if len(ids) == 0 {
		return sortedKeys(seen), tags, nil
	}
	list := sortedKeys(ids)
	br, err := r.catBatch(ctx, list)
	if err != nil {
		return nil, nil, fmt.Errorf("read ref targets: %w", err)
	}
	for range list {
		id, typ, body, err := readBatch(br)
		if err != nil {
			return nil, nil, fmt.Errorf("read ref targets: %w", err)
		}
		switch typ {
		case "commit":
			seen[id] = true
		case "tag":
			tags[id] = body
			// The tag's target, if a commit, lives on as a parent.
			if line, _, _ := strings.Cut(string(body), "\n"); strings.HasPrefix(line, "object ") && strings.Contains(string(body), "\ntype commit\n") {
				seen[strings.TrimPrefix(line, "object ")] = true
			}
		}
	}
	return sortedKeys(seen), tags, nil
}

// catBatch runs git cat-file --batch for ids and returns its output.
func (r *Repo) catBatch(ctx context.Context, ids []string) (*bufio.Reader, error) {
	out, err := r.run(ctx, runOpts{stdin: []byte(strings.Join(ids, "\n") + "\n")}, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	return bufio.NewReader(bytes.NewReader(out)), nil
}

// readBatch reads one answer of git cat-file --batch: the id, the type and
// the content; missing objects give type "missing".
func readBatch(br *bufio.Reader) (id, typ string, body []byte, err error) {
	head, err := br.ReadString('\n')
	if err != nil {
		return "", "", nil, err
	}
	f := strings.Fields(head)
	if len(f) == 2 && f[1] == "missing" {
		return f[0], "missing", nil, nil
	}
	if len(f) != 3 {
		return "", "", nil, fmt.Errorf("unexpected cat-file output %q", head)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return "", "", nil, err
	}
	body = make([]byte, n+1)
	if _, err := io.ReadFull(br, body); err != nil {
		return "", "", nil, err
	}
	return f[0], f[1], body[:n], nil
}

// readMeta reads a snapshot's meta commit; nil (and no error) for a
// snapshot that an older rbflow took without one.
func (r *Repo) readMeta(ctx context.Context, s *Snapshot) (*meta, error) {
	if s == nil || s.Meta == "" {
		return nil, nil
	}
	out, err := r.run(ctx, runOpts{}, "ls-tree", "-r", "-z", "--full-tree", s.Meta+"^{tree}")
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", s.name(), err)
	}
	// The blobs to read, in order; objects/<id> holding the object <id>
	// itself only keeps it alive and is not read.
	var ids, names []string
	for _, rec := range splitZ(out) {
		info, name, ok := strings.Cut(rec, "\t")
		f := strings.Fields(info)
		if !ok || len(f) != 3 || name == "objects/"+f[2] {
			continue
		}
		ids, names = append(ids, f[2]), append(names, name)
	}
	m := &meta{files: map[string]fs.FileMode{}, dirs: map[string]fs.FileMode{}, state: map[string][]byte{},
		refs: map[string]string{}, objects: map[string][]byte{}}
	if len(ids) == 0 {
		return m, nil
	}
	br, err := r.catBatch(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read snapshot %s: %w", s.name(), err)
	}
	for _, name := range names {
		_, typ, body, err := readBatch(br)
		if err != nil || typ != "blob" {
			return nil, fmt.Errorf("read snapshot %s: %s: %v", s.name(), name, err)
		}
		switch {
		case name == "index":
			m.index = body
		case name == "modes":
			if err := m.parseModes(body); err != nil {
				return nil, fmt.Errorf("read snapshot %s: %w", s.name(), err)
			}
		case name == "refs":
			for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
				if sha, ref, ok := strings.Cut(line, " "); ok {
					m.refs[ref] = sha
				}
			}
		case strings.HasPrefix(name, "state/"):
			m.state[strings.TrimPrefix(name, "state/")] = body
		case strings.HasPrefix(name, "objects/"):
			m.objects[strings.TrimPrefix(name, "objects/")] = body
		}
	}
	return m, nil
}

func (m *meta) parseModes(b []byte) error {
	for _, rec := range splitZ(b) {
		f := strings.SplitN(rec, " ", 3)
		if len(f) != 3 || len(f[0]) != 1 {
			return fmt.Errorf("bad mode record %q", rec)
		}
		u, err := strconv.ParseUint(f[1], 8, 32)
		if err != nil {
			return fmt.Errorf("bad mode record %q", rec)
		}
		switch f[0] {
		case "d":
			m.dirs[f[2]] = fileMode(uint32(u))
		case "f":
			m.files[f[2]] = fileMode(uint32(u))
		default:
			return fmt.Errorf("bad mode record %q", rec)
		}
	}
	return nil
}

// sameState reports whether two operation states are the same.
func sameState(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
