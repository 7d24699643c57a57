package proc

import "os"

// RunHelper runs this process as the helper rbflow re-executed it to be
// (a supervisor, a reaper, a service's launcher or log relay) and exits
// with its status; in any other process it returns at once. Every binary
// that starts steps calls it first in main: rbflow, rbflow-fleet, and the
// test binaries through testkit.Main.
func RunHelper() {
	switch {
	case IsReaper():
		os.Exit(ReaperMain())
	case IsRelay():
		os.Exit(RelayMain())
	case IsSupervisor():
		os.Exit(SupervisorMain())
	}
}
