package git

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"os"
)

// indexHasFlags reads the index file at path and reports whether any of
// its entries has a flag that rbflow must look at: assume-unchanged, or an
// extended flag (skip-worktree, intent-to-add, a sparse directory). With
// none — the usual case — the snapshot and PrepareDiscard skip the git
// ls-files that lists every entry with its flags. known is false when the
// file is not an index this reader fully understands (a split index, an
// unknown version, a short file): the caller then asks git.
func (r *Repo) indexHasFlags(path string) (flagged, known bool) {
	if r.splitIndex() {
		return false, false
	}
	idLen := 20
	switch r.format {
	case "sha1":
	case "sha256":
		idLen = 32
	default:
		return false, false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, os.IsNotExist(err) // no index: no entries
	}
	return indexFlags(b, idLen)
}

// indexFlags is indexHasFlags over the bytes of an index file whose object
// ids are idLen bytes long (see git's Documentation/gitformat-index.txt).
func indexFlags(b []byte, idLen int) (flagged, known bool) {
	if len(b) < 12+idLen || !bytes.Equal(b[:4], []byte("DIRC")) {
		return false, false
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
		return false, false
	}
	version := binary.BigEndian.Uint32(b[4:8])
	if version < 2 || version > 4 {
		return false, false
	}
	count := binary.BigEndian.Uint32(b[8:12])
	const stat = 40 // ctime, mtime, dev, ino, mode, uid, gid, size
	at := 12
	for i := uint32(0); i < count; i++ {
		fl := at + stat + idLen
		if fl+2 > len(b) {
			return false, false
		}
		flags := binary.BigEndian.Uint16(b[fl : fl+2])
		if flags&0xC000 != 0 { // assume-valid, or extended flags follow
			return true, true
		}
		name := fl + 2
		end := bytes.IndexByte(b[name:], 0)
		if version == 4 {
			// A varint (bytes dropped from the previous name), then the
			// rest of the name, NUL-terminated; no padding.
			for name < len(b) && b[name]&0x80 != 0 {
				name++
			}
			name++
			if name > len(b) {
				return false, false
			}
			end = bytes.IndexByte(b[name:], 0)
			if end < 0 {
				return false, false
			}
			at = name + end + 1
			continue
		}
		if end < 0 {
			return false, false
		}
		// NUL-padded to a multiple of eight bytes, at least one NUL.
		at += (stat + idLen + 2 + end + 8) &^ 7
	}
	// What follows the entries is extensions and the checksum.
	return false, at+idLen <= len(b)
}
