//go:build !race

package testkit

// Race reports whether this binary has the race detector: a test binary
// built with -race, and whatever it builds to run as rbflow.
const Race = false
