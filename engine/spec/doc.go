// Package spec decodes procedure files into positioned types. It is the only
// package that imports the YAML library: everything after it sees Values with
// line and column, so that every later error can point into the file.
//
// Decoding is strict (unknown keys with hints, duplicate keys, one document,
// bounded aliases and nesting) and collects every error of a file. The
// action keys a step may have are the caller's: the step kinds registered in
// the engine. The meaning of a procedure — its graph, expressions and step
// arguments — is checked by engine.Compile.
package spec
