//go:build !race

package main

// raceBuilt: this test binary has no race detector, and neither has the
// rbflow it builds (rbflowBinary).
const raceBuilt = false
