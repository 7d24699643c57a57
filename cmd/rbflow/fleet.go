package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Fleet mode (SPEC §15) lives in a second binary, rbflow-fleet, so that
// the Temporal SDK adds nothing to rbflow's size or start-up: rbflow
// worker, and run, status, resume, cancel and undo given --temporal ADDR
// (or $RBFLOW_TEMPORAL), become rbflow-fleet with the same arguments.

// fleetBinary is the name of the fleet binary.
const fleetBinary = "rbflow-fleet"

// temporalEnv names the Temporal server when --temporal is not given.
const temporalEnv = "RBFLOW_TEMPORAL"

// fleetCommands run on Temporal when given its address.
var fleetCommands = map[string]bool{"run": true, "status": true, "resume": true, "cancel": true, "undo": true}

// toFleet reports whether args are a fleet command.
func toFleet(args []string, getenv func(string) string) bool {
	if len(args) == 0 {
		return false
	}
	if args[0] == "worker" {
		return true
	}
	if !fleetCommands[args[0]] {
		return false
	}
	if getenv(temporalEnv) != "" {
		return true
	}
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "--temporal" || strings.HasPrefix(a, "--temporal=") {
			return true
		}
	}
	return false
}

// findFleet finds rbflow-fleet beside this executable, then on PATH.
func findFleet() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), fleetBinary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(fleetBinary)
}

// handOver replaces this process with rbflow-fleet, given the same
// arguments; it returns only when that cannot be done.
func handOver(args []string) error {
	path, err := findFleet()
	if err != nil {
		what := "rbflow " + args[0]
		if args[0] != "worker" {
			what += " --temporal"
		}
		return usagef("%s needs %s, rbflow's fleet binary (Temporal), beside rbflow or on PATH: nothing was run; install it with 'make build' (bin/%s next to bin/rbflow) or 'go install github.com/rbflow/rbflow/cmd/%s@latest'", what, fleetBinary, fleetBinary, fleetBinary)
	}
	err = syscall.Exec(path, append([]string{path}, args...), os.Environ())
	return usagef("start %s: %v", path, err)
}
