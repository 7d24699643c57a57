//go:build !cgo

package store

import "fmt"

// checkCgo reports whether the SQLite driver is usable. Without cgo,
// go-sqlite3 compiles to a stub that fails on first use with a message that
// does not say what to do, so Open fails early with ErrNoCgo instead.
func checkCgo() error { return ErrNoCgo }

func sqliteFailure(error) int { return failOther }

func sqlite3Corrupt(detail string) error { return fmt.Errorf("database is damaged: %s", detail) }
