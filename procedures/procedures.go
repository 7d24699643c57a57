// Package procedures holds the built-in procedures, embedded in the binary,
// and resolves a PROCEDURE argument to its text: a file path, a copy in the
// repository's .rbflow/ folder that shadows a built-in, or a built-in name.
package procedures

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
)

//go:embed *.yaml README.md
var files embed.FS

// builtins is the file system the built-ins are read from; tests swap it.
var builtins fs.FS = files

// BuiltinPrefix starts the path of a run of a built-in procedure:
// builtin:NAME names the built-in itself, never a local copy.
const BuiltinPrefix = "builtin:"

// Source is a resolved procedure text.
type Source struct {
	Name    string // the name asked for
	Path    string // file path, or "builtin:NAME"
	Text    []byte
	Builtin bool
	// Local is set for a file inside the repository's work tree (.rbflow/
	// or any other path there): it came with the repository, so it runs
	// only once approved on this machine (Trusted).
	Local bool
	// Shadows names the built-in a .rbflow/NAME.yaml copy takes the place of.
	Shadows string
}

// Hash is the sha256 of the text, as approvals record it.
func (s *Source) Hash() string { return HashText(s.Text) }

// HashText is the sha256 of a procedure text, as approvals record it.
func HashText(text []byte) string {
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// Undo is the procedure `rbflow undo` runs (builtin:undo): a recorded run
// of its own, so that an undo can be undone and resumed too. It is not
// listed with the others.
const Undo = `version: 1
name: undo
description: Restore the state saved before the first destructive step of a run
params:
  run: {type: string, required: true, description: the run to undo}
  force: {type: bool, default: false, description: restore over changes made after the run (they are saved first)}
steps:
  - id: restore
    git: restore_snapshot
    # Run again when cut off: it finds the backup it saved first and
    # finishes over its own half-done work.
    on_resume: rerun
    with:
      run: ${{ params.run }}
      force: ${{ params.force }}
`

// Resolver returns how the engine finds procedures in repo, for call steps
// and for resume: as Resolve does, with a relative path looked for next to
// the file of the procedure that names it (from) first, as includes usually
// work. With approvals, a procedure from the repository must be approved
// (see Trusted); without, any is taken (validate, graph).
func Resolver(repo string, approvals Approvals) engine.Resolver {
	return func(ref, from string) (engine.Source, error) {
		if isPath(ref) && !filepath.IsAbs(ref) && from != "" && !strings.HasPrefix(from, BuiltinPrefix) {
			near := filepath.Join(filepath.Dir(from), ref)
			if _, err := os.Stat(near); err == nil {
				ref = near
			}
		}
		src, err := Resolve(ref, repo)
		if err != nil {
			return engine.Source{}, err
		}
		if approvals != nil {
			if err := src.Trusted(context.Background(), approvals); err != nil {
				return engine.Source{}, err
			}
		}
		return engine.Source{Path: src.Path, Text: src.Text}, nil
	}
}

// Approvals are the procedures from repositories approved on this machine,
// kept in the state folder (engine/store implements it).
type Approvals interface {
	// Approved reports whether the text with hash of the file at path (an
	// absolute path) was approved.
	Approved(ctx context.Context, path, hash string) (bool, error)
}

// UntrustedError is a procedure from the repository that is not approved
// on this machine (in this version of its text).
type UntrustedError struct {
	Source *Source
}

func (e *UntrustedError) Error() string {
	s := e.Source
	msg := fmt.Sprintf("%s comes with the repository (sha256 %s)", s.Path, s.Hash()[:12])
	if s.Shadows != "" {
		msg += fmt.Sprintf(" and takes the place of the built-in %s", s.Shadows)
	}
	msg += fmt.Sprintf("; it runs only once approved on this machine, and this text is not: read it, then rbflow approve %s (rbflow run ... --approve shows it and runs)", s.Path)
	if s.Shadows != "" {
		msg += fmt.Sprintf("; rbflow run %s%s runs the built-in", BuiltinPrefix, s.Shadows)
	}
	return msg
}

// Trusted returns an *UntrustedError for a procedure from the repository
// whose text is not approved; built-ins and files outside the work tree
// are the user's own and need no approval.
func (s *Source) Trusted(ctx context.Context, approvals Approvals) error {
	if !s.Local {
		return nil
	}
	ok, err := approvals.Approved(ctx, ApprovalPath(s.Path), s.Hash())
	if err != nil {
		return err
	}
	if !ok {
		return &UntrustedError{Source: s}
	}
	return nil
}

// ApprovalPath is the key an approval is kept under: the file's absolute,
// symlink-free path.
func ApprovalPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// inside reports whether path is in the work tree at repo.
func inside(repo, path string) bool {
	root := ApprovalPath(repo)
	rel, err := filepath.Rel(root, ApprovalPath(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// builtinText is the text of a built-in, the undo procedure included.
func builtinText(name string) ([]byte, bool) {
	if name == "undo" {
		return []byte(Undo), true
	}
	return Builtin(name)
}

// isPath reports whether a PROCEDURE argument names a file rather than a
// built-in: it has a slash or a .yaml/.yml suffix.
func isPath(arg string) bool {
	return strings.ContainsRune(arg, '/') || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml")
}

// Names lists the built-in procedures, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(builtins, ".")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Builtin returns the text of a built-in procedure.
func Builtin(name string) ([]byte, bool) {
	b, err := fs.ReadFile(builtins, name+".yaml")
	return b, err == nil
}

// ReadError is a procedure file that could not be read: missing, a
// directory, not readable. A command given one exits 2 (SPEC §3).
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string {
	if errors.Is(e.Err, syscall.EISDIR) {
		return fmt.Sprintf("read procedure %s: it is a directory; give a .yaml file or a built-in name", e.Path)
	}
	return "read procedure: " + e.Err.Error()
}

func (e *ReadError) Unwrap() error { return e.Err }

// ErrUnknown is returned (wrapped in an *UnknownError) when a name is
// neither a file nor a built-in.
var ErrUnknown = errors.New("procedures: unknown procedure")

// UnknownError names a procedure that is neither a file nor a built-in.
type UnknownError struct {
	Name     string
	Builtins []string
}

func (e *UnknownError) Error() string {
	if e.Name == "" {
		return "no procedure named: give a file or a built-in name"
	}
	msg := fmt.Sprintf("%q is not a file or a built-in procedure%s", e.Name, spec.Hint(e.Name, e.Builtins))
	if len(e.Builtins) > 0 {
		msg += "; built-ins: " + strings.Join(e.Builtins, ", ")
	}
	return msg
}

// Is makes errors.Is(err, ErrUnknown) hold.
func (e *UnknownError) Is(target error) bool { return target == ErrUnknown }

// LocalDir is the folder inside a repository whose NAME.yaml files shadow
// the built-ins.
const LocalDir = ".rbflow"

// Resolve finds the procedure named by arg. A path (anything with a slash or
// a .yaml/.yml suffix) is read as a file; builtin:NAME is the built-in NAME
// itself; otherwise repo/.rbflow/NAME.yaml shadows the built-in NAME.
func Resolve(arg, repo string) (*Source, error) {
	src, err := resolve(arg, repo)
	if err != nil {
		return nil, err
	}
	if !src.Builtin && repo != "" {
		src.Local = inside(repo, src.Path)
	}
	return src, nil
}

func resolve(arg, repo string) (*Source, error) {
	if arg == "" {
		return nil, &UnknownError{}
	}
	if name, ok := strings.CutPrefix(arg, BuiltinPrefix); ok {
		text, ok := builtinText(name)
		if !ok {
			return nil, &UnknownError{Name: name, Builtins: Names()}
		}
		return &Source{Name: name, Path: arg, Text: text, Builtin: true}, nil
	}
	if isPath(arg) {
		text, err := readFile(arg)
		if err != nil {
			return nil, &ReadError{Path: arg, Err: err}
		}
		return &Source{Name: arg, Path: arg, Text: text}, nil
	}
	if repo != "" {
		local := filepath.Join(repo, LocalDir, arg+".yaml")
		if text, err := readFile(local); err == nil {
			src := &Source{Name: arg, Path: local, Text: text}
			if _, ok := Builtin(arg); ok {
				src.Shadows = arg
			}
			return src, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, &ReadError{Path: local, Err: err}
		}
	}
	if text, ok := Builtin(arg); ok {
		return &Source{Name: arg, Path: BuiltinPrefix + arg, Text: text, Builtin: true}, nil
	}
	if _, err := os.Stat(arg); err == nil {
		text, err := readFile(arg)
		if err != nil {
			return nil, &ReadError{Path: arg, Err: err}
		}
		return &Source{Name: arg, Path: arg, Text: text}, nil
	}
	return nil, &UnknownError{Name: arg, Builtins: Names()}
}

// Copied is one built-in procedure CopyTo handled.
type Copied struct {
	Path string // the file
	Text []byte // what was written (nil if kept)
	Kept bool   // it existed and was left as it was
	// Edited is set for an existing copy whose text is not what init
	// writes: someone changed it (or an older rbflow wrote it).
	Edited bool
	// Saved names where an edited copy that force replaced was moved.
	Saved string
}

// SchemaFile is the name of the JSON Schema file CopyTo writes beside the
// copies, which each copy's first line names for editors.
const SchemaFile = "rbflow.schema.json"

// Modeline is the first line of every copy: editors with the YAML language
// server check and complete the file against the schema beside it.
const Modeline = "# yaml-language-server: $schema=./" + SchemaFile + "\n"

// CopyText is the text CopyTo writes for the built-in name: the modeline,
// then the built-in as it is.
func CopyText(name string) ([]byte, bool) {
	text, ok := Builtin(name)
	if !ok {
		return nil, false
	}
	return append([]byte(Modeline), text...), true
}

// CopyTo writes every built-in procedure into dir as NAME.yaml, where a copy
// shadows the built-in (see Resolve), each starting with Modeline, and the
// JSON Schema schema beside them as SchemaFile (always: it is rbflow's, and
// follows the rbflow that writes it). A copy that exists is kept unless
// force; force saves one with edits of its own as NAME.yaml.orig first. It
// returns what it did to the copies, up to the first error.
func CopyTo(dir string, force bool, schema []byte) ([]Copied, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, SchemaFile), schema, false); err != nil {
		return nil, err
	}
	var out []Copied
	for _, name := range Names() {
		text, _ := CopyText(name)
		dst := filepath.Join(dir, name+".yaml")
		c := Copied{Path: dst}
		old, err := os.ReadFile(dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return out, err
		default:
			builtin, _ := Builtin(name)
			c.Edited = !bytes.Equal(old, text) && !bytes.Equal(old, builtin)
			if !force {
				c.Kept = true
				out = append(out, c)
				continue
			}
			if c.Edited {
				if c.Saved, err = saveAside(dst, old); err != nil {
					return out, err
				}
			}
		}
		// O_EXCL without force: a copy made meanwhile is not overwritten.
		if err := writeFile(dst, text, !force); errors.Is(err, fs.ErrExist) {
			c.Kept = true
			out = append(out, c)
			continue
		} else if err != nil {
			return out, err
		}
		c.Text = text
		out = append(out, c)
	}
	return out, nil
}

// saveAside writes text to path.orig, or path.orig.N if that exists, and
// returns the name it used.
func saveAside(path string, text []byte) (string, error) {
	for n := 0; ; n++ {
		aside := path + ".orig"
		if n > 0 {
			aside += "." + strconv.Itoa(n)
		}
		if err := writeFile(aside, text, true); !errors.Is(err, fs.ErrExist) {
			return aside, err
		}
	}
}

// writeFile writes text to path (mode 0644), replacing what is there
// unless excl.
func writeFile(path string, text []byte, excl bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if excl {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readFile reads a procedure file, refusing at once one over the size a
// procedure may have, before reading any of it.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > spec.MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d MiB for a procedure", path, fi.Size(), spec.MaxFileSize>>20)
	}
	return io.ReadAll(io.LimitReader(f, spec.MaxFileSize+1))
}
