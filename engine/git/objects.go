package git

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// objects writes loose objects straight into an object directory, as git
// hash-object -w, mktree and commit-tree would, without a git process for
// each. A snapshot writes seven small objects of its own (its meta blobs,
// their tree, three commits); seven processes cost more than the rest of a
// snapshot of a small repository.
//
// Like git by default (core.fsync leaves loose objects out), objects are
// not synced one by one: what makes a snapshot durable is the ref that
// names it, and the run's record of it.
type objects struct {
	dir    string // the object directory
	sha256 bool   // the repository's object format
}

// objects returns the writer of r's new objects. It is only for a Repo
// from storing, whose objects go to rbflow's store.
func (r *Repo) objects() (*objects, error) {
	if r.stored == "" {
		return nil, errors.New("objects are written directly only into rbflow's store")
	}
	switch r.format {
	case "sha1":
		return &objects{dir: r.stored}, nil
	case "sha256":
		return &objects{dir: r.stored, sha256: true}, nil
	}
	return nil, fmt.Errorf("object format %q is not one rbflow writes", r.format)
}

func (o *objects) hasher() hash.Hash {
	if o.sha256 {
		return sha256.New()
	}
	return sha1.New()
}

// looseWriters compress loose objects at level 1, as git writes them
// (core.looseCompression): the index and the modes of a big tree are
// megabytes. A compressor allocates about a megabyte of state; a snapshot
// writes several objects, and reusing one costs a Reset.
var looseWriters = sync.Pool{New: func() any {
	zw, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed)
	return zw
}}

// write stores an object of type typ ("blob", "tree", "commit", "tag")
// holding body and returns its id.
func (o *objects) write(typ string, body []byte) (string, error) {
	head := fmt.Sprintf("%s %d\x00", typ, len(body))
	h := o.hasher()
	h.Write([]byte(head))
	h.Write(body)
	id := hex.EncodeToString(h.Sum(nil))
	dir := filepath.Join(o.dir, id[:2])
	final := filepath.Join(dir, id[2:])
	if _, err := os.Lstat(final); err == nil {
		return id, nil // objects never change: one that exists is this one
	}
	var z bytes.Buffer
	zw := looseWriters.Get().(*zlib.Writer)
	zw.Reset(&z)
	zw.Write([]byte(head))
	zw.Write(body)
	err := zw.Close()
	looseWriters.Put(zw)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write object: %w", err)
	}
	f, err := os.CreateTemp(dir, "tmp_obj_")
	if err != nil {
		return "", fmt.Errorf("write object: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(z.Bytes())
	if err := errors.Join(werr, f.Chmod(0o444), f.Close()); err != nil {
		return "", fmt.Errorf("write object: %w", err)
	}
	// A link, as git does: a concurrent writer of the same object wins
	// harmlessly, and a half-written file never carries the object's name.
	if err := os.Link(tmp, final); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("write object: %w", err)
	}
	return id, nil
}

// entry is one file of a tree written by objects.tree: a blob with mode
// 100644 unless mode says otherwise.
type entry struct {
	mode string // "100644", "100755", "120000", "160000"
	id   string
}

// tree writes the trees holding files (slash-separated paths) and returns
// the top one's id.
func (o *objects) tree(files map[string]entry) (string, error) {
	type node struct {
		name  string
		mode  string
		id    string
		files map[string]entry // for a directory: its files, relative
	}
	nodes := map[string]*node{}
	for p, e := range files {
		name, rest, sub := strings.Cut(p, "/")
		if name == "" || name == "." || name == ".." || sub && rest == "" {
			return "", fmt.Errorf("write tree: bad path %q", p)
		}
		n := nodes[name]
		if n == nil {
			n = &node{name: name}
			nodes[name] = n
		}
		if !sub {
			if n.files != nil {
				return "", fmt.Errorf("write tree: %q is both a file and a directory", name)
			}
			n.mode, n.id = e.mode, e.id
			if n.mode == "" {
				n.mode = "100644"
			}
			continue
		}
		if n.id != "" {
			return "", fmt.Errorf("write tree: %q is both a file and a directory", name)
		}
		if n.files == nil {
			n.files = map[string]entry{}
		}
		n.files[rest] = e
	}
	for _, n := range nodes {
		if n.files != nil {
			id, err := o.tree(n.files)
			if err != nil {
				return "", err
			}
			n.mode, n.id = "40000", id
		}
	}
	// git orders a tree's entries by name, a directory's name as if it
	// ended in a slash.
	key := func(n *node) string {
		if n.mode == "40000" {
			return n.name + "/"
		}
		return n.name
	}
	list := make([]*node, 0, len(nodes))
	for _, n := range nodes {
		list = append(list, n)
	}
	sort.Slice(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
	var body bytes.Buffer
	for _, n := range list {
		raw, err := hex.DecodeString(n.id)
		if err != nil || len(raw) != o.hasher().Size() {
			return "", fmt.Errorf("write tree: bad object id %q for %s", n.id, n.name)
		}
		fmt.Fprintf(&body, "%s %s\x00", n.mode, n.name)
		body.Write(raw)
	}
	return o.write("tree", body.Bytes())
}

// commit writes a commit of tree with parents and message msg, now, by
// rbflow: the same author and committer whoever runs it, so that no one's
// name or address goes into a snapshot.
func (o *objects) commit(tree string, parents []string, msg string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\n", tree)
	for _, p := range parents {
		fmt.Fprintf(&b, "parent %s\n", p)
	}
	now := time.Now()
	sig := fmt.Sprintf("rbflow <rbflow@localhost> %d %s", now.Unix(), now.Format("-0700"))
	fmt.Fprintf(&b, "author %s\ncommitter %s\n\n%s", sig, sig, msg)
	return o.write("commit", []byte(b.String()))
}
