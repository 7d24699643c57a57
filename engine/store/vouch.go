package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The check for damage at Open (quickCheck) reads the whole store: tens of
// milliseconds at every run's start once the history holds a few
// megabytes, and more as it grows. A store that is, byte for byte, what a
// checked store became through SQLite's own writes needs no new check.
//
// So Close, when the store was checked at Open and it leaves the database
// whole (no write-ahead log left: it was the last connection, and SQLite
// checkpointed and removed the log), records the file's size and CRC-32C
// in state.db-checked. Open skips the check when the file still has that
// size and sum, its write-ahead log is empty, and the full check that
// began the chain ran less than checkedFor ago. Anything else that
// touched the file (another tool, a truncation, a restore from backup, a
// disk that changed a byte) changes the sum, and Open checks it in full.
// What a check cannot see, damage done while rbflow itself had the store
// open, is looked for again at least once every checkedFor.
const (
	checkedSuffix = "-checked"
	checkedFor    = 24 * time.Hour
)

// vouch is what state.db-checked holds.
type vouch struct {
	size int64
	sum  uint32
	full time.Time // when the full check that began the chain ran
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileSum returns the size and CRC-32C of the file at path.
func fileSum(path string) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	// 64 KB at a time: a bigger buffer costs more to make than it saves
	// (15 MB: 3.2 ms against 3.5-7 ms with 1 MB, here).
	n, err := io.CopyBuffer(h, f, make([]byte, 64<<10))
	return n, h.Sum32(), err
}

func (v vouch) String() string {
	return fmt.Sprintf("rbflow-checked 1 %d %08x %d\n", v.size, v.sum, v.full.Unix())
}

func readVouch(path string) (vouch, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return vouch{}, false
	}
	var v vouch
	var full int64
	if n, err := fmt.Sscanf(string(b), "rbflow-checked 1 %d %x %d\n", &v.size, &v.sum, &full); n != 3 || err != nil {
		return vouch{}, false
	}
	v.full = time.Unix(full, 0)
	return v, v.String() == string(b)
}

// vouched reports whether the store's file, of size bytes, is still what
// the last checked session left (see above), and if so carries on its
// chain.
func (s *Store) vouched(size int64) bool {
	if wal, err := os.Stat(s.path + "-wal"); err == nil && wal.Size() > 0 {
		return false // records the file does not hold yet
	}
	v, ok := readVouch(s.path + checkedSuffix)
	if age := time.Since(v.full); !ok || age < 0 || age >= checkedFor || size != v.size {
		return false
	}
	if size, sum, err := fileSum(s.path); err != nil || size != v.size || sum != v.sum {
		return false
	}
	s.chain = v.full
	return true
}

// vouch records, once the store is closed, the file it leaves, if it was
// checked at Open and nothing is left in a write-ahead log. An error
// leaves the record out: the next Open checks in full.
func (s *Store) vouch() {
	if s.chain.IsZero() {
		return
	}
	if _, err := os.Stat(s.path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		return // another connection still has the store open
	}
	size, sum, err := fileSum(s.path)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(s.dir, DBName+checkedSuffix+".*") // 0600
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name()) // gone already once renamed
	_, werr := tmp.WriteString(vouch{size: size, sum: sum, full: s.chain}.String())
	if errors.Join(werr, tmp.Close()) == nil {
		_ = os.Rename(tmp.Name(), filepath.Join(s.dir, DBName+checkedSuffix))
	}
	// A process killed between writing its record and renaming it left
	// the file behind; one written a minute ago is no other's in flight.
	// (Not a glob: the folder's own name may hold '*' or '['.)
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), DBName+checkedSuffix+".") || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}
