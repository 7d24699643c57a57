package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	// packedBlobsMin is the number of files from which a snapshot writes
	// their blobs as one pack: below it, loose objects cost less than
	// starting git fast-import (which unpacks fewer than 100 objects
	// anyway, fastimport.unpackLimit).
	packedBlobsMin = 100
	// packedFileMax and packedTotalMax bound what writeBlobs reads into
	// memory: bigger files, and files past the total, go to git
	// update-index, which streams them.
	packedFileMax  = 8 << 20
	packedTotalMax = 64 << 20
)

// writeBlobs writes the work tree content of the paths (relative to the
// top directory) as blobs in one pack, through git fast-import, and adds
// to info the update-index --index-info records (NUL-terminated) that put
// them, with their modes, in an index: a regular file is 100755 when its
// owner may execute it and 100644 otherwise, a symbolic link 120000 with
// its target as content, and a path that no longer exists is removed. The
// content is the bytes on disk, unfiltered: callers use it only where git
// would store those bytes too (no eol or clean filter, see
// filtersMayApply). It returns the paths it left to git update-index:
// directories (a nested repository, say), special files, files too big to
// read into memory, and files it could not read.
func (r *Repo) writeBlobs(ctx context.Context, paths []string, info *bytes.Buffer, idLen int) (slow []string, err error) {
	type blob struct {
		path string
		mode string
	}
	var (
		blobs  []blob
		stream bytes.Buffer
		total  int
	)
	zero := strings.Repeat("0", idLen)
	for _, p := range paths {
		abs := filepath.Join(r.Dir, p)
		fi, err := os.Lstat(abs)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			fmt.Fprintf(info, "0 %s\t%s\x00", zero, p)
			continue
		}
		var content []byte
		mode := "100644"
		switch {
		case err != nil:
		case fi.Mode().IsRegular() && fi.Size() <= packedFileMax && total+int(fi.Size()) <= packedTotalMax:
			if fi.Mode()&0o100 != 0 {
				mode = "100755"
			}
			content, err = os.ReadFile(abs)
		case fi.Mode()&fs.ModeSymlink != 0:
			mode = "120000"
			var target string
			target, err = os.Readlink(abs)
			content = []byte(target)
		default:
			err = errSlow
		}
		if err != nil || len(content) > packedFileMax {
			slow = append(slow, p)
			continue
		}
		total += len(content)
		blobs = append(blobs, blob{p, mode})
		fmt.Fprintf(&stream, "blob\nmark :%d\ndata %d\n", len(blobs), len(content))
		stream.Write(content)
		stream.WriteByte('\n')
	}
	if len(blobs) == 0 {
		return slow, nil
	}
	dir, err := os.MkdirTemp("", "rbflow-blobs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	marks := filepath.Join(dir, "marks")
	if _, err := r.run(ctx, runOpts{stdin: stream.Bytes()}, "fast-import", "--quiet", "--export-marks="+marks); err != nil {
		return nil, err
	}
	ids, err := readMarks(marks, len(blobs))
	if err != nil {
		return nil, err
	}
	for i, b := range blobs {
		fmt.Fprintf(info, "%s %s\t%s\x00", b.mode, ids[i], b.path)
	}
	return slow, nil
}

var errSlow = errors.New("left to git update-index")

// readMarks reads a fast-import marks file (":N id" lines) for marks 1..n
// and returns the ids in mark order.
func readMarks(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids := make([]string, n)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		mark, id, ok := strings.Cut(sc.Text(), " ")
		k, err := strconv.Atoi(strings.TrimPrefix(mark, ":"))
		if !ok || err != nil || k < 1 || k > n || !isObjectID(id) {
			return nil, fmt.Errorf("fast-import marks: unexpected line %q", sc.Text())
		}
		ids[k-1] = id
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("fast-import marks: mark :%d missing", i+1)
		}
	}
	return ids, nil
}
