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

	"github.com/rbflow/rbflow/engine/spec"
)

//go:embed *.yaml README.md
var files embed.FS

// builtins is the file system the built-ins are read from; tests swap it.
var builtins fs.FS = files

// Source is a resolved procedure text.
type Source struct {
	Name    string // the name asked for
	Path    string // file path, or "builtin:NAME"
	Text    []byte
	Builtin bool
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
	msg := fmt.Sprintf("%q is not a file or a built-in procedure", e.Name)
	if s := spec.Suggest(e.Name, e.Builtins); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
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
	if strings.ContainsRune(arg, '/') || strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
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
		return &Source{Name: arg, Path: "builtin:" + arg, Text: text, Builtin: true}, nil
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
