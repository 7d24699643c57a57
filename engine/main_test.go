package engine_test

import (
	"os"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestMain lets the tests that run real steps (loop_test.go) start
// rbflow's processes: engine/proc re-executes this binary as the run's
// supervisor and the steps' reapers.
func TestMain(m *testing.M) {
	testkit.Main()
	os.Exit(m.Run())
}
