//go:build cgo

package store

import (
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"
)

// checkCgo reports whether the SQLite driver is usable; with cgo it is.
func checkCgo() error { return nil }

// sqliteFailure classifies an error of SQLite (see explain).
func sqliteFailure(err error) int {
	var se sqlite3.Error
	if err == nil || !errors.As(err, &se) {
		return failOther
	}
	switch se.Code {
	case sqlite3.ErrFull:
		return failFull
	case sqlite3.ErrReadonly:
		return failReadonly
	case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		return failDamaged
	case sqlite3.ErrIoErr, sqlite3.ErrCantOpen:
		return failIO
	}
	return failOther
}

// sqlite3Corrupt is the error of a quick_check that found damage.
func sqlite3Corrupt(detail string) error {
	return fmt.Errorf("%w: %s", sqlite3.Error{Code: sqlite3.ErrCorrupt}, detail)
}
