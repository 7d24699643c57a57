//go:build race

package main

// raceBuilt: this test binary has the race detector, and so has the rbflow
// it builds (rbflowBinary): make test-long runs rbflow's processes under it.
const raceBuilt = true
