// Package procedures holds the built-in procedures, embedded in the binary,
// and resolves a PROCEDURE argument to its text: a file path, a copy in the
// repository's .rbflow/ folder that shadows a built-in, or a built-in name.
package procedures

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
    with:
      run: ${{ params.run }}
      force: ${{ params.force }}
`

// Resolver returns how the engine finds procedures in repo, for call steps
// and for resume: as Resolve does, with builtin:NAME naming the built-in
// itself, and a relative path looked for next to the file of the procedure
// that names it (from) first, as includes usually work.
func Resolver(repo string) engine.Resolver {
	return func(ref, from string) (engine.Source, error) {
		if name, ok := strings.CutPrefix(ref, BuiltinPrefix); ok {
			text, ok := builtinText(name)
			if !ok {
				return engine.Source{}, &UnknownError{Name: name, Builtins: Names()}
			}
			return engine.Source{Path: ref, Text: text}, nil
		}
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
		return engine.Source{Path: src.Path, Text: src.Text}, nil
	}
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
// a .yaml/.yml suffix) is read as a file; otherwise repo/.rbflow/NAME.yaml
// shadows the built-in NAME.
func Resolve(arg, repo string) (*Source, error) {
	if arg == "" {
		return nil, &UnknownError{}
	}
	if isPath(arg) {
		text, err := os.ReadFile(arg)
		if err != nil {
			return nil, fmt.Errorf("read procedure: %w", err)
		}
		return &Source{Name: arg, Path: arg, Text: text}, nil
	}
	if repo != "" {
		local := filepath.Join(repo, LocalDir, arg+".yaml")
		if text, err := os.ReadFile(local); err == nil {
			return &Source{Name: arg, Path: local, Text: text}, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read procedure: %w", err)
		}
	}
	if text, ok := Builtin(arg); ok {
		return &Source{Name: arg, Path: BuiltinPrefix + arg, Text: text, Builtin: true}, nil
	}
	if _, err := os.Stat(arg); err == nil {
		text, err := os.ReadFile(arg)
		if err != nil {
			return nil, fmt.Errorf("read procedure: %w", err)
		}
		return &Source{Name: arg, Path: arg, Text: text}, nil
	}
	return nil, &UnknownError{Name: arg, Builtins: Names()}
}

// Copied is one built-in procedure CopyTo handled.
type Copied struct {
	Path string // the file
	Kept bool   // it existed and was left as it was
}

// CopyTo writes every built-in procedure into dir as NAME.yaml, where a copy
// shadows the built-in (see Resolve). A file that exists is kept unless
// force. It returns what it did, up to the first error.
func CopyTo(dir string, force bool) ([]Copied, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []Copied
	for _, name := range Names() {
		text, _ := Builtin(name)
		dst := filepath.Join(dir, name+".yaml")
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(dst, flags, 0o644)
		if errors.Is(err, fs.ErrExist) {
			out = append(out, Copied{Path: dst, Kept: true})
			continue
		}
		if err != nil {
			return out, err
		}
		if _, err := f.Write(text); err != nil {
			f.Close()
			return out, err
		}
		if err := f.Close(); err != nil {
			return out, err
		}
		out = append(out, Copied{Path: dst})
	}
	return out, nil
}
