package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/rbflow/rbflow/engine/spec"
)

// Source is a procedure's text and where it came from: a file path, or
// builtin:NAME for a procedure built into rbflow.
type Source struct {
	Path string
	Text []byte
}

// Resolver finds the procedure ref names: a built-in name, builtin:NAME
// (the built-in itself, never a local copy) or a file path. from is the
// path of the procedure that names it ("" on the command line): a relative
// path is looked for next to it first.
type Resolver func(ref, from string) (Source, error)

// Loader decodes and compiles procedures against a registry of step kinds.
// Resolve finds the procedures that call steps name, and the file a run came
// from when it is resumed; cmd/rbflow gives the one in package procedures.
type Loader struct {
	Registry *Registry
	Resolve  Resolver
}

// Load decodes and compiles a procedure, reporting the errors of both stages
// together (a spec.ErrorList: src's errors in file order, then those of the
// procedures it calls). The procedures its call steps name with a literal
// target are resolved and compiled with it, once each, and a call cycle is
// a load error; without Resolve such a step is a load error.
func (l *Loader) Load(src Source) (*Plan, error) {
	return l.compilation().load(src)
}

// PlanOf compiles the text a stored run executed (LoadStored), so that
// what reads earlier runs reads each step as the kind that ran it.
func (l *Loader) PlanOf(r *Run) (*Plan, error) {
	return l.LoadStored(Source{Path: r.SourcePath, Text: []byte(r.Source)})
}

// LoadStored compiles the text a run started with, for resume: a literal
// call target that no longer loads as written is resolved when its step
// starts instead of failing the whole plan (see KindContext.Callee).
func (l *Loader) LoadStored(src Source) (*Plan, error) {
	c := l.compilation()
	c.stored = true
	return c.load(src)
}

// Compile checks a decoded procedure, and what its call steps name, into a
// plan, as Load does after decoding.
func (l *Loader) Compile(p *spec.Procedure) (*Plan, error) {
	return l.compilation().compile(p)
}

// Reread reads the procedure src came from as it is now.
func (l *Loader) Reread(src Source) (Source, error) {
	if l.Resolve == nil {
		return Source{}, errors.New("engine: no procedure resolver")
	}
	return l.Resolve(src.Path, "")
}

// hashText is the hash a run keeps of its procedure text.
func hashText(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
