package git

import (
	"bufio"
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
	"sync"
	"time"
)

// change is one path that differs between the current work tree and the
// snapshot's, as git diff-tree --raw reports it.
type change struct {
	path             string
	oldMode, newMode string // "000000" when absent
	newID            string
}

func (c change) removes() bool { return c.oldMode != "000000" && c.oldMode != "160000" }
func (c change) writes() bool  { return c.newMode != "000000" && c.newMode != "160000" }

// what says, for people, what restoring does to the path.
func (c change) what() string {
	switch {
	case c.oldMode == "000000":
		return "created"
	case c.newMode == "000000":
		return "deleted"
	case c.oldMode != c.newMode && (c.oldMode == "120000" || c.newMode == "120000" || c.oldMode == "160000" || c.newMode == "160000"):
		return "changed type"
	}
	return "modified"
}

// sameKind reports whether the path keeps being a regular file.
func (c change) sameKind() bool {
	return (c.oldMode == "100644" || c.oldMode == "100755") && (c.newMode == "100644" || c.newMode == "100755")
}

// diffRaw lists the paths that differ between trees a and b.
func (r *Repo) diffRaw(ctx context.Context, a, b string) ([]change, error) {
	out, err := r.run(ctx, runOpts{}, "diff-tree", "-r", "-z", "--no-renames", "--raw", "--full-index", a, b)
	if err != nil {
		return nil, fmt.Errorf("compare trees: %w", err)
	}
	recs := splitZ(out)
	var cs []change
	for i := 0; i+1 < len(recs); i += 2 {
		f := strings.Fields(strings.TrimPrefix(recs[i], ":"))
		if len(f) != 5 {
			return nil, fmt.Errorf("compare trees: unexpected diff-tree output %q", recs[i])
		}
		cs = append(cs, change{path: recs[i+1], oldMode: f[0], newMode: f[1], newID: f[3]})
	}
	return cs, nil
}

// writeTree makes the work tree hold snap's files, exactly: it removes
// what snap did not have, writes what differs from its blobs without any
// filter, and gives every file and directory the permission bits want
// recorded (want nil: an older snapshot, whose files get git's usual modes).
// Directories that snap had come back, empty ones included; directories
// that neither snap nor the state after the run had are left alone, so are
// directories that still hold unsaved files.
func (r *Repo) writeTree(ctx context.Context, cs []change, cur *state, want, aft *meta, keep []string) error {
	w := &treeWriter{r: r, top: r.Dir, restored: map[string]fs.FileMode{}}
	// Removals first, deepest first, so that a directory can make way for
	// a file of the same name and back.
	var rm []string
	for _, c := range cs {
		if c.removes() && !(c.writes() && c.sameKind()) {
			rm = append(rm, c.path)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(rm)))
	for _, p := range rm {
		if err := w.remove(p); err != nil {
			return err
		}
	}
	// Directories that the current state has and snap does not, emptied
	// by the removals: gone, unless made after the run.
	var wantDirs map[string]fs.FileMode
	if want != nil {
		wantDirs = want.dirs
	}
	var gone []string
	for d := range cur.dirs {
		if _, ok := wantDirs[d]; d == "" || ok {
			continue
		}
		if aft != nil && aft.dirs != nil {
			if _, ok := aft.dirs[d]; !ok {
				continue // made after the run
			}
		}
		gone = append(gone, d)
	}
	for _, p := range rm {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := wantDirs[d]; !ok {
				gone = append(gone, d)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(gone)))
	for _, d := range gone {
		if want == nil {
			// An older snapshot does not list directories: keep those
			// that snap's files need.
			if writesInto(cs, d) {
				continue
			}
		}
		os.Remove(filepath.Join(r.Dir, d)) // only if empty
	}

	var writes []change
	for _, c := range cs {
		if c.writes() {
			writes = append(writes, c)
		}
	}
	if len(writes) > 0 {
		ids := make([]string, len(writes))
		for i, c := range writes {
			ids[i] = c.newID
		}
		br, err := r.catBatch(ctx, ids)
		if err != nil {
			return fmt.Errorf("read saved files: %w", err)
		}
		for _, c := range writes {
			_, typ, body, err := readBatch(br)
			if err != nil || typ != "blob" {
				return fmt.Errorf("read saved file %q: %v (type %s)", c.path, err, typ)
			}
			perm := fs.FileMode(0o666)
			if c.newMode == "100755" {
				perm = 0o777
			}
			exact := false
			if want != nil {
				if m, ok := want.files[c.path]; ok {
					perm, exact = m, true
				}
			}
			if err := w.write(c.path, c.newMode == "120000", body, perm, exact); err != nil {
				return err
			}
		}
	}
	if want == nil {
		return nil
	}
	// Empty directories, and the bits of everything snap recorded.
	for _, d := range sortedKeys(want.dirs) {
		if d == "" || skippedPath(keep, d+"/") {
			continue
		}
		if err := w.mkdir(d); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(want.files) {
		if _, done := w.restored[p]; done || skippedPath(keep, p) {
			continue
		}
		fi, err := os.Lstat(filepath.Join(r.Dir, p))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if m := want.files[p]; fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != m {
			if err := os.Chmod(filepath.Join(r.Dir, p), m); err != nil {
				return fmt.Errorf("restore mode of %q: %w", p, err)
			}
		}
	}
	dirs := sortedKeys(want.dirs)
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if d != "" && skippedPath(keep, d+"/") {
			continue
		}
		p := filepath.Join(r.Dir, d)
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		if m := want.dirs[d]; fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != m {
			if err := os.Chmod(p, m); err != nil {
				return fmt.Errorf("restore mode of %q: %w", d+"/", err)
			}
		}
	}
	return nil
}

// writesInto reports whether the changes write files under directory d.
func writesInto(cs []change, d string) bool {
	for _, c := range cs {
		if c.writes() && strings.HasPrefix(c.path, d+"/") {
			return true
		}
	}
	return false
}

// skippedPath reports whether p (a directory if it ends in '/') is at or
// under one of the keep paths.
func skippedPath(keep []string, p string) bool {
	return (&skipper{keep: keep}).kept(p)
}

// treeWriter writes files into the work tree.
type treeWriter struct {
	r        *Repo
	top      string
	restored map[string]fs.FileMode
	seq      int
}

func (w *treeWriter) abs(p string) string { return filepath.Join(w.top, filepath.FromSlash(p)) }

// remove removes the file or symlink at p; a directory there (unsaved
// content, which the conflict check guarded) is left.
func (w *treeWriter) remove(p string) error {
	err := os.Remove(w.abs(p))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if fi, serr := os.Lstat(w.abs(p)); serr == nil && fi.IsDir() {
		return nil
	}
	if errors.Is(err, fs.ErrPermission) {
		if w.writable(path.Dir(p)) == nil {
			if err = os.Remove(w.abs(p)); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("remove %q: %w", p, err)
}

// writable gives the directory d its owner's write and search bits, for
// a moment: the final pass sets the bits the snapshot recorded.
func (w *treeWriter) writable(d string) error {
	p := w.top
	if d != "." && d != "" {
		p = w.abs(d)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	return os.Chmod(p, fi.Mode().Perm()|0o300)
}

// mkdir makes the directory d and the ones above it, moving aside what is
// in the way.
func (w *treeWriter) mkdir(d string) error {
	if d == "." || d == "" {
		return nil
	}
	fi, err := os.Lstat(w.abs(d))
	if err == nil && fi.IsDir() {
		return nil
	}
	if err := w.mkdir(path.Dir(d)); err != nil {
		return err
	}
	if err == nil {
		// A file or symlink the snapshot does not have stands here; the
		// conflict check made sure it is saved or forced.
		if err := w.displace(d); err != nil {
			return err
		}
	}
	err = os.Mkdir(w.abs(d), 0o700)
	if errors.Is(err, fs.ErrPermission) && w.writable(path.Dir(d)) == nil {
		err = os.Mkdir(w.abs(d), 0o700)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("make directory %q: %w", d, err)
	}
	// Until the final pass gives it its recorded bits, the directory must
	// let rbflow write into it; a directory no snapshot records gets the
	// usual bits.
	return os.Chmod(w.abs(d), 0o777&^umask())
}

// displace moves what stands at p out of the work tree, into the git
// directory, rather than deleting it: only a forced restore gets here.
func (w *treeWriter) displace(p string) error {
	dst := filepath.Join(w.r.commonDir, "rbflow", "displaced", strconv.FormatInt(time.Now().UnixNano(), 10), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("move %q aside: %w", p, err)
	}
	if err := os.Rename(w.abs(p), dst); err != nil {
		return fmt.Errorf("move %q aside: %w", p, err)
	}
	return nil
}

// write puts a file (or a symlink to body) at p, replacing what is there
// in one rename, with the permission bits perm (exact: as recorded;
// otherwise through the umask, as git checkout would).
func (w *treeWriter) write(p string, link bool, body []byte, perm fs.FileMode, exact bool) error {
	dir := path.Dir(p)
	if err := w.mkdir(dir); err != nil {
		return err
	}
	if fi, err := os.Lstat(w.abs(p)); err == nil && fi.IsDir() {
		if err := w.displace(p); err != nil {
			return err
		}
	}
	w.seq++
	tmp := w.abs(path.Join(dir, fmt.Sprintf(".rbflow-restore-%d-%d", os.Getpid(), w.seq)))
	err := w.create(tmp, link, body, perm, exact)
	if errors.Is(err, fs.ErrPermission) && w.writable(dir) == nil {
		err = w.create(tmp, link, body, perm, exact)
	}
	if err == nil {
		err = os.Rename(tmp, w.abs(p))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %q: %w", p, err)
	}
	if !link {
		w.restored[p] = perm
	}
	return nil
}

func (w *treeWriter) create(tmp string, link bool, body []byte, perm fs.FileMode, exact bool) error {
	if link {
		return os.Symlink(string(body), tmp)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm()|0o200)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	_, err = bw.Write(body)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && exact {
		err = os.Chmod(tmp, perm)
	} else if err == nil {
		err = os.Chmod(tmp, perm.Perm()&^umask())
	}
	return err
}

var (
	umaskOnce  sync.Once
	umaskValue fs.FileMode = 0o022
)

// umask returns the process's file mode creation mask, read from
// /proc/self/status (setting it to read it would race with other
// goroutines creating files).
func umask() fs.FileMode {
	umaskOnce.Do(func() {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if u, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					umaskValue = fs.FileMode(u) & 0o777
				}
			}
		}
	})
	return umaskValue
}
