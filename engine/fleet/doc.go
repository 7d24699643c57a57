// Package fleet runs procedures on Temporal (SPEC §15): fleet mode, for an
// incident that spans hosts and repositories.
//
//	workflow.go    the procedure workflow (Interpreter.Procedure): compiles the
//	               procedure text it is given, as the starter did, and interprets
//	               the plan deterministically, one activity per step on
//	               rbflow/host/NAME; the incident workflow (Interpreter.Incident):
//	               one child per target, its workflow id the repository's lock
//	activities.go  a host's activities (Host): begin a run, run one step,
//	               end the run, through engine.Runner's host-run API
//	               (engine/hoststep.go) in the repositories the worker serves
//	codec.go       the payload codec: AES-256-GCM over every payload
//
// The interpreter is versioned: a change that gives other commands for a
// history already recorded goes behind workflow.GetVersion, and the replay
// test (testdata/replay) fails without it. cmd/rbflow-fleet is the binary.
package fleet
