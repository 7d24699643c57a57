package git

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// A snapshot of a plain repository (an index rbflow reads whole: no flags,
// no conflicts, no split index; no filter or attribute that changes bytes;
// core.fileMode and core.symlinks on) writes its trees and the changed
// files' blobs itself, into one pack in rbflow's store, instead of running
// git write-tree and update-index: write-tree writes each changed tree as
// a loose object, and on a slow disk 200 of them took longer than the
// reset the snapshot protects. The trees are git's to the byte (the tests
// compare them with git write-tree's); anything else goes to git as
// before.

// usable reports whether the trees of idx can be written from it alone.
func (idx *indexFile) usable() bool { return idx != nil && !idx.flagged && !idx.unmerged }

// buildTree writes into p the trees that hold entries (sorted by path, as
// in an index) and returns the top one's raw id. A directory in reuse
// (the index's cache tree, say) is not written again: its id is taken.
func buildTree(p *pack, entries []indexEntry, reuse map[string][]byte) ([]byte, error) {
	var dir func(prefix string, lo, hi int) ([]byte, error)
	dir = func(prefix string, lo, hi int) ([]byte, error) {
		if id, ok := reuse[strings.TrimSuffix(prefix, "/")]; ok {
			return id, nil
		}
		var body []byte
		for i := lo; i < hi; {
			rest := entries[i].path[len(prefix):]
			name, _, sub := strings.Cut(rest, "/")
			if name == "" || name == "." || name == ".." || name == ".git" {
				return nil, fmt.Errorf("write tree: bad path %q in the index", entries[i].path)
			}
			if !sub {
				// In index order, which is git's tree order: a
				// directory sorts as its name and a slash.
				body = append(body, strconv.FormatUint(uint64(entries[i].mode), 8)...)
				body = append(body, ' ')
				body = append(body, name...)
				body = append(body, 0)
				body = append(body, entries[i].id...)
				i++
				continue
			}
			inside := prefix + name + "/"
			j := i + 1
			for j < hi && strings.HasPrefix(entries[j].path, inside) {
				j++
			}
			id, err := dir(inside, i, j)
			if err != nil {
				return nil, err
			}
			body = append(body, "40000 "...)
			body = append(body, name...)
			body = append(body, 0)
			body = append(body, id...)
			i = j
		}
		return p.add("tree", body)
	}
	return dir("", 0, len(entries))
}

// indexTreeInGo returns the tree of the index idx: its cache tree's when
// that is whole, else written into p.
func indexTreeInGo(idx *indexFile, p *pack) (string, error) {
	if id, ok := idx.trees[""]; ok {
		return hex.EncodeToString(id), nil
	}
	id, err := buildTree(p, idx.entries, idx.trees)
	return hex.EncodeToString(id), err
}

// workTreeInGo returns the tree of the work tree: the index idx with the
// paths of update (relative, slash-separated) as they are on disk, their
// blobs and the changed trees written into p, as git update-index --add
// --remove --replace and write-tree would record them. ok is false, with
// nothing else done that matters, when a path needs git: a directory (a
// nested repository), a special file, a file too big to read into memory.
func (r *Repo) workTreeInGo(idx *indexFile, update []string, p *pack) (tree string, ok bool, err error) {
	now := map[string]indexEntry{} // path -> entry, or a nil id: gone
	total := 0
	var tracked map[string]uint32 // path -> mode, made when needed
	reads := readFiles(r.Dir, update)
	for i, u := range update {
		fi, err := reads[i].fi, reads[i].err
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			now[u] = indexEntry{path: u}
			continue
		}
		var content []byte
		var mode uint32 = 0o100644
		switch {
		case err != nil:
			return "", false, nil
		case fi.Mode().IsRegular() && fi.Size() <= packedFileMax && total+int(fi.Size()) <= packedTotalMax:
			if fi.Mode()&0o100 != 0 {
				mode = 0o100755
			}
			if !reads[i].read {
				return "", false, nil // over packedTotalMax as the readers counted
			}
			content, err = reads[i].content, reads[i].readErr
		case fi.Mode()&fs.ModeSymlink != 0:
			mode = 0o120000
			var target string
			target, err = os.Readlink(filepath.Join(r.Dir, filepath.FromSlash(u)))
			content = []byte(target)
		case fi.IsDir():
			// A tracked file that became a directory is removed, as
			// update-index --remove does; the files now in it are paths
			// of their own. A submodule, or a directory git would add
			// as one (a nested repository), is git's to read.
			if tracked == nil {
				tracked = make(map[string]uint32, len(idx.entries))
				for _, e := range idx.entries {
					tracked[e.path] = e.mode
				}
			}
			if m, ok := tracked[u]; ok && m != 0o160000 {
				now[u] = indexEntry{path: u}
				continue
			}
			return "", false, nil
		default:
			return "", false, nil
		}
		if err != nil || len(content) > packedFileMax {
			return "", false, nil
		}
		total += len(content)
		id, err := p.add("blob", content)
		if err != nil {
			return "", false, err
		}
		reads[i].content = nil // in the pack now: up to packedTotalMax is read at once
		now[u] = indexEntry{path: u, mode: mode, id: id}
	}
	// A file now where a directory was replaces all it held; a directory
	// now where a file was replaces the file. Every directory above a
	// changed path is written again.
	changed := map[string]bool{"": true}
	var gone []string // files where a directory now is
	for u, e := range now {
		for d := u; ; {
			i := strings.LastIndexByte(d, '/')
			if i < 0 {
				break
			}
			d = d[:i]
			if changed[d] && e.id == nil {
				break
			}
			changed[d] = true
			if e.id != nil {
				gone = append(gone, d)
			}
		}
	}
	for _, d := range gone {
		now[d] = indexEntry{path: d}
	}
	entries := make([]indexEntry, 0, len(idx.entries)+len(now))
	for _, e := range idx.entries {
		if _, ok := now[e.path]; ok || underFile(e.path, now) {
			continue
		}
		entries = append(entries, e)
	}
	for _, e := range now {
		if e.id != nil {
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	reuse := make(map[string][]byte, len(idx.trees))
	for d, id := range idx.trees {
		if !changed[d] {
			reuse[d] = id
		}
	}
	id, err := buildTree(p, entries, reuse)
	if err != nil {
		return "", false, err
	}
	return hex.EncodeToString(id), true, nil
}

// underFile reports whether a directory above p is now a file (an entry of
// now with an id).
func underFile(p string, now map[string]indexEntry) bool {
	for {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
		if e, ok := now[p]; ok && e.id != nil {
			return true
		}
	}
}

// needs returns the objects of the repository that a snapshot of the index
// idx holds and the repository's refs may not reach, given the blobs
// staged (path -> id) that HEAD does not hold: those blobs, and the trees
// the snapshot took from the cache tree for the directories above them.
// Everything else it holds is HEAD's, or was written into the store.
func needs(idx *indexFile, staged map[string]string) []string {
	var ids []string
	dirs := map[string]bool{}
	for p, id := range staged {
		ids = append(ids, id)
		for d := p; d != ""; {
			i := strings.LastIndexByte(d, '/')
			if i < 0 {
				d = ""
			} else {
				d = d[:i]
			}
			if dirs[d] {
				break
			}
			dirs[d] = true
			if id, ok := idx.trees[d]; ok {
				ids = append(ids, hex.EncodeToString(id))
			}
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

// fileRead is a path of workTreeInGo's update as readFiles found it.
type fileRead struct {
	fi      fs.FileInfo
	err     error // Lstat's
	read    bool  // a regular file, read into content
	content []byte
	readErr error
}

// readFiles lstats the paths of update, relative to dir, and reads the
// regular files workTreeInGo may store (up to packedFileMax each and
// packedTotalMax in all), several at a time: with thousands of changed
// files, their system calls are most of a snapshot's own time.
func readFiles(dir string, update []string) []fileRead {
	out := make([]fileRead, len(update))
	var next, total atomic.Int64
	var wg sync.WaitGroup
	for range min(4, (len(update)+63)/64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(update) {
					return
				}
				f := &out[i]
				abs := filepath.Join(dir, filepath.FromSlash(update[i]))
				if f.fi, f.err = os.Lstat(abs); f.err != nil || !f.fi.Mode().IsRegular() || f.fi.Size() > packedFileMax {
					continue
				}
				if total.Add(f.fi.Size()) > packedTotalMax {
					continue
				}
				f.content, f.readErr = os.ReadFile(abs)
				f.read = true
			}
		}()
	}
	wg.Wait()
	return out
}
