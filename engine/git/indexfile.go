package git

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"strconv"
)

// indexHasFlags reads the index file at path and reports whether any of
// its entries has a flag that rbflow must look at: assume-unchanged, or an
// extended flag (skip-worktree, intent-to-add, a sparse directory). With
// none — the usual case — the snapshot and PrepareDiscard skip the git
// ls-files that lists every entry with its flags. known is false when the
// file is not an index this reader fully understands (a split index, an
// unknown version, a short file): the caller then asks git.
func (r *Repo) indexHasFlags(path string) (flagged, known bool) {
	idx, known := r.readIndex(path)
	return known && idx.flagged, known
}

// indexFile is what an index file says, as far as rbflow reads it.
type indexFile struct {
	// flagged: an entry is assume-unchanged or has extended flags; then
	// entries stops there.
	flagged bool
	// unmerged: an entry has a conflict stage.
	unmerged bool
	entries  []indexEntry
	// trees holds the valid directories of the cache tree (the TREE
	// extension): directory ("" for the top) -> its tree's raw id.
	trees map[string][]byte
}

// indexEntry is one entry of an index file.
type indexEntry struct {
	path string
	mode uint32 // 0100644, 0100755, 0120000, 0160000
	id   []byte // raw
}

// readIndex reads the index file at path (see parseIndex); a missing file
// is an empty index. known is false when the reader cannot vouch for what
// it read, for r's object format among others.
func (r *Repo) readIndex(path string) (idx *indexFile, known bool) {
	if r.splitIndex() {
		return nil, false
	}
	idLen := 20
	switch r.format {
	case "sha1":
	case "sha256":
		idLen = 32
	default:
		return nil, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return &indexFile{}, os.IsNotExist(err) // no index: no entries
	}
	return parseIndex(b, idLen)
}

// indexFlags is indexHasFlags over the bytes of an index file whose object
// ids are idLen bytes long.
func indexFlags(b []byte, idLen int) (flagged, known bool) {
	idx, known := parseIndex(b, idLen)
	return known && idx.flagged, known
}

// parseIndex reads the bytes of an index file whose object ids are idLen
// bytes long (see git's Documentation/gitformat-index.txt): versions 2 to
// 4, and of the extensions the cache tree. known is false for anything it
// does not fully understand: a torn or foreign file, a split index (the
// "link" extension) or any other extension git requires readers to know.
func parseIndex(b []byte, idLen int) (idx *indexFile, known bool) {
	if len(b) < 12+idLen || !bytes.Equal(b[:4], []byte("DIRC")) {
		return nil, false
	}
	// The file ends with the hash of what precedes it (all zeros under
	// index.skipHash): a torn or foreign file is not read further.
	body, sum := b[:len(b)-idLen], b[len(b)-idLen:]
	h := sha1.New()
	if idLen == 32 {
		h = sha256.New()
	}
	h.Write(body)
	if !bytes.Equal(h.Sum(nil), sum) && !bytes.Equal(sum, make([]byte, idLen)) {
		return nil, false
	}
	version := binary.BigEndian.Uint32(b[4:8])
	if version < 2 || version > 4 {
		return nil, false
	}
	count := binary.BigEndian.Uint32(b[8:12])
	if int(count) > len(body)/(40+idLen+2) {
		return nil, false
	}
	idx = &indexFile{entries: make([]indexEntry, 0, count)}
	const stat = 40 // ctime, mtime, dev, ino, mode, uid, gid, size
	at := 12
	var prev []byte // the previous name (version 4 drops its shared part)
	for i := uint32(0); i < count; i++ {
		start := at
		fl := at + stat + idLen
		if fl+2 > len(body) {
			return nil, false
		}
		flags := binary.BigEndian.Uint16(b[fl : fl+2])
		if flags&0xC000 != 0 { // assume-valid, or extended flags follow
			idx.flagged = true
			return idx, true
		}
		if flags&0x3000 != 0 {
			idx.unmerged = true
		}
		name := fl + 2
		var path []byte
		if version == 4 {
			// A varint (bytes dropped from the end of the previous
			// name), then the rest of the name, NUL-terminated; no
			// padding.
			drop, n := offsetVarint(b[name:len(body)])
			if n == 0 || drop > uint64(len(prev)) {
				return nil, false
			}
			name += n
			end := bytes.IndexByte(b[name:len(body)], 0)
			if end < 0 {
				return nil, false
			}
			path = append(prev[:len(prev)-int(drop):len(prev)-int(drop)], b[name:name+end]...)
			at = name + end + 1
		} else {
			end := bytes.IndexByte(b[name:len(body)], 0)
			if end < 0 {
				return nil, false
			}
			path = b[name : name+end]
			// NUL-padded to a multiple of eight bytes, at least one NUL.
			at += (stat + idLen + 2 + end + 8) &^ 7
		}
		idx.entries = append(idx.entries, indexEntry{
			path: string(path),
			mode: binary.BigEndian.Uint32(b[start+24 : start+28]),
			id:   b[fl-idLen : fl],
		})
		prev = append(prev[:0], path...)
	}
	// Extensions, then the checksum.
	for at < len(body) {
		if at+8 > len(body) {
			return nil, false
		}
		sig, size := string(b[at:at+4]), int(binary.BigEndian.Uint32(b[at+4:at+8]))
		data := at + 8
		if size < 0 || data+size > len(body) {
			return nil, false
		}
		switch {
		case sig == "TREE":
			trees, ok := parseCacheTree(b[data:data+size], idLen)
			if !ok {
				return nil, false
			}
			idx.trees = trees
		case sig[0] < 'A' || sig[0] > 'Z':
			// Not optional ("link": a split index, "sdir": sparse): git
			// requires a reader to understand it.
			return nil, false
		}
		at = data + size
	}
	return idx, true
}

// offsetVarint decodes git's offset varint (varint.c) at the start of b
// and returns it with the bytes it took (0 if b holds none).
func offsetVarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	v := uint64(c & 0x7f)
	n := 1
	for c&0x80 != 0 {
		if n >= len(b) || n > 9 {
			return 0, 0
		}
		c = b[n]
		n++
		v = (v+1)<<7 | uint64(c&0x7f)
	}
	return v, n
}

// parseCacheTree reads a TREE extension: each directory, top first, as
// "NAME\0ENTRIES SUBTREES\n" and, when ENTRIES is not -1 (invalidated),
// its tree's id; its subtrees follow it. It returns the valid ones by
// path.
func parseCacheTree(b []byte, idLen int) (map[string][]byte, bool) {
	trees := map[string][]byte{}
	at := 0
	var node func(dir string) bool
	node = func(dir string) bool {
		end := bytes.IndexByte(b[at:], 0)
		if end < 0 {
			return false
		}
		name := string(b[at : at+end])
		at += end + 1
		nl := bytes.IndexByte(b[at:], '\n')
		if nl < 0 {
			return false
		}
		var entries, subtrees int
		if ent, sub, ok := bytes.Cut(b[at:at+nl], []byte(" ")); !ok {
			return false
		} else {
			var err1, err2 error
			entries, err1 = strconv.Atoi(string(ent))
			subtrees, err2 = strconv.Atoi(string(sub))
			if err1 != nil || err2 != nil || subtrees < 0 || entries < -1 {
				return false
			}
		}
		at += nl + 1
		path := name
		if dir != "" {
			path = dir + "/" + name
		}
		if entries >= 0 {
			if at+idLen > len(b) {
				return false
			}
			trees[path] = b[at : at+idLen]
			at += idLen
		}
		for i := 0; i < subtrees; i++ {
			if at >= len(b) || !node(path) {
				return false
			}
		}
		return true
	}
	if !node("") || at != len(b) {
		return nil, false
	}
	return trees, true
}
