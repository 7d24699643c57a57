// Command rbflow runs rollback and recovery procedures: YAML step graphs
// whose every state change is kept in SQLite, so that a rollback cut off by
// Ctrl-C, kill -9 or a lost SSH session is finished with `rbflow resume`.
package main

import (
	"os"

	"github.com/rbflow/rbflow/engine/proc"
)

func main() {
	// rbflow re-executes itself as the supervisor (and reaper) that keeps step processes
	// from outliving it, and as the relay that masks secrets in the log of
	// a service, which does outlive it (see engine/proc).
	proc.RunHelper()
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
