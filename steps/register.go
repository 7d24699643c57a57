package steps

import "github.com/rbflow/rbflow/engine"

// Register adds every built-in step kind to reg, in the order of SPEC §2.1
// (the order messages list them in).
func Register(reg *engine.Registry) {
	reg.Register("run", runKind{})
	reg.Register("git", gitKind{})
	reg.Register("test", testKind{})
	reg.Register("report", reportKind{})
	reg.Register("prompt", promptKind{})
	reg.Register("service", serviceKind{})
	reg.Register("wait", waitKind{})
	reg.Register("call", callKind{})
	reg.Register("record", recordKind{})
	reg.Register("notify", notifyKind{})
	reg.OnRunEnd(saveAfter)
}
