// Command rbflow-fleet is rbflow's fleet mode (SPEC §15): a worker per host
// that runs the steps of procedures in the repositories it was given, and
// the commands that start, follow, answer and cancel incidents on a
// Temporal server. rbflow hands `worker`, and `run`, `status`, `resume`,
// `cancel` and `undo` given --temporal, over to it.
package main

import (
	"os"

	"github.com/rbflow/rbflow/engine/proc"
)

func main() {
	// As rbflow: this binary is also the supervisor, reaper and relay of
	// the processes its steps start (see engine/proc).
	proc.RunHelper()
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
