package git

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
)

// pack collects new objects and writes them as one pack file with its
// index into an object directory (git's Documentation/gitformat-pack.txt,
// pack version 2, index version 2), instead of a loose object each: a
// snapshot of a big change writes hundreds of trees and blobs, and on a
// slow disk creating a file per object cost more than the reset the
// snapshot protects. Objects are stored whole (no deltas), compressed at
// level 1 as git compresses loose objects, and not synced (see objects).
type pack struct {
	o    *objects
	body bytes.Buffer // the entries, after the 12-byte header
	objs []packed
	seen map[string]bool
	zw   *zlib.Writer
}

type packed struct {
	id     []byte
	offset uint32
	crc    uint32
}

// packMax bounds a pack's entries: offsets past it need the index's
// large-offset table, which this writer does not write.
const packMax = 1<<31 - 1

func (o *objects) pack() *pack { return &pack{o: o, seen: map[string]bool{}} }

// add puts an object of type typ holding body in the pack and returns its
// raw id. An object already in the pack is added once.
func (p *pack) add(typ string, body []byte) ([]byte, error) {
	head := fmt.Sprintf("%s %d\x00", typ, len(body))
	h := p.o.hasher()
	h.Write([]byte(head))
	h.Write(body)
	id := h.Sum(nil)
	if p.seen[string(id)] {
		return id, nil
	}
	code := map[string]byte{"commit": 1, "tree": 2, "blob": 3, "tag": 4}[typ]
	if code == 0 {
		return nil, fmt.Errorf("pack: unknown object type %q", typ)
	}
	offset := p.body.Len() + 12
	// The entry's header: type and size, seven bits a byte after the
	// first four, low bits first.
	size := uint64(len(body))
	c := code<<4 | byte(size&0x0f)
	size >>= 4
	for size > 0 {
		p.body.WriteByte(c | 0x80)
		c = byte(size & 0x7f)
		size >>= 7
	}
	p.body.WriteByte(c)
	if len(body) < storedMax || typ == "tree" {
		stored(&p.body, body)
	} else {
		if p.zw == nil {
			p.zw, _ = zlib.NewWriterLevel(&p.body, zlib.BestSpeed)
		} else {
			p.zw.Reset(&p.body)
		}
		p.zw.Write(body)
		if err := p.zw.Close(); err != nil {
			return nil, err
		}
	}
	if p.body.Len()+12 > packMax {
		return nil, errors.New("pack: more than 2 GB of objects")
	}
	p.seen[string(id)] = true
	p.objs = append(p.objs, packed{id: id, offset: uint32(offset), crc: crc32.ChecksumIEEE(p.body.Bytes()[offset-12:])})
	return id, nil
}

// storedMax is the size below which an object is stored in the pack
// uncompressed (a zlib stream of stored blocks): starting a compressor
// costs more than the bytes it would save on a small blob or tree, and a
// big change writes a thousand of them. Trees are stored whatever their
// size: a snapshot of changes spread over a big tree writes hundreds of
// them, a few kilobytes each, and building a Huffman code for each took
// longer than reading every changed file. Stored, they take two thirds
// more room in such a snapshot (810 kB against 490 kB for 1,000 files
// changed in 200 directories).
const storedMax = 1024

// stored writes b as a zlib stream of stored (uncompressed) deflate
// blocks of at most 65,535 bytes each: RFC 1950 and 1951, which git reads
// as any other.
func stored(w *bytes.Buffer, b []byte) {
	w.Write([]byte{0x78, 0x01})
	sum := adler32.Checksum(b)
	for {
		n := min(len(b), 0xffff)
		var final byte
		if n == len(b) {
			final = 1
		}
		w.Write([]byte{final, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
		w.Write(b[:n])
		if b = b[n:]; final == 1 {
			break
		}
	}
	binary.Write(w, binary.BigEndian, sum)
}

// len is the number of objects in the pack.
func (p *pack) len() int { return len(p.objs) }

// write writes the pack and its index into the object directory, the
// index last so that git never sees a pack without all its objects. An
// empty pack writes nothing.
func (p *pack) write() error {
	if len(p.objs) == 0 {
		return nil
	}
	var head [12]byte
	copy(head[:], "PACK")
	binary.BigEndian.PutUint32(head[4:], 2)
	binary.BigEndian.PutUint32(head[8:], uint32(len(p.objs)))
	h := p.o.hasher()
	h.Write(head[:])
	h.Write(p.body.Bytes())
	sum := h.Sum(nil)

	objs := append([]packed(nil), p.objs...)
	sort.Slice(objs, func(i, j int) bool { return bytes.Compare(objs[i].id, objs[j].id) < 0 })
	var idx bytes.Buffer
	idx.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	var fanout [256]uint32
	for _, o := range objs {
		fanout[o.id[0]]++
	}
	n := uint32(0)
	for i := range fanout {
		n += fanout[i]
		binary.Write(&idx, binary.BigEndian, n)
	}
	for _, o := range objs {
		idx.Write(o.id)
	}
	for _, o := range objs {
		binary.Write(&idx, binary.BigEndian, o.crc)
	}
	for _, o := range objs {
		binary.Write(&idx, binary.BigEndian, o.offset)
	}
	idx.Write(sum)
	ih := p.o.hasher()
	ih.Write(idx.Bytes())
	idx.Write(ih.Sum(nil))

	dir := filepath.Join(p.o.dir, "pack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	base := filepath.Join(dir, "pack-"+hex.EncodeToString(sum))
	if err := writeReadOnly(base+".pack", head[:], p.body.Bytes(), sum); err != nil {
		return err
	}
	return writeReadOnly(base+".idx", idx.Bytes())
}

// writeReadOnly writes the parts to a new file at path, read-only as git
// leaves its packs, through a temporary file renamed into place.
func writeReadOnly(path string, parts ...[]byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "tmp_pack_")
	if err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	var werr error
	for _, b := range parts {
		if _, err := f.Write(b); err != nil && werr == nil {
			werr = err
		}
	}
	if err := errors.Join(werr, f.Chmod(0o444), f.Close()); err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	return nil
}
