//go:build cgo

package store

// checkCgo reports whether the SQLite driver is usable; with cgo it is.
func checkCgo() error { return nil }
