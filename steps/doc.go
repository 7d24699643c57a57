// Package steps holds rbflow's built-in step kinds. Register adds them to an
// engine registry; cmd/rbflow calls it, and tests build registries of their
// own.
package steps
