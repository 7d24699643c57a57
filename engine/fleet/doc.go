// Package fleet runs procedures on Temporal (SPEC §15): fleet mode, for an
// incident that spans hosts and repositories.
//
//	workflow.go    the procedure workflow (Interpreter.Procedure): compiles the
//	               procedure text it is given, as the starter did, and interprets
//	               the plan deterministically, one activity per step on
//	               rbflow/host/NAME; the incident workflow (Interpreter.Incident):
//	               one child per target, its workflow id the repository's lock
//	               (the repository's real path, asked of its host first).
//	               A call step runs its procedure (resolved by the starter and
//	               carried in the input: Resolve, Called) as a child procedure
//	               workflow; deadline: is a timer; notifications: are posted by
//	               the host
//	activities.go  a host's activities (Host): tell a repository's identity,
//	               begin a run, run one step, post a notification, end the
//	               run, through engine.Runner's host-run API
//	               (engine/hoststep.go) in the repositories the worker serves
//	answers.go     a target's run and the runs its call steps started
//	               (Family): their status as one (c/ask), and the workflow
//	               an --answer reaches
//	codec.go       the payload codec: AES-256-GCM over every payload
//
// The interpreter is versioned: a change that gives other commands for a
// history already recorded goes behind workflow.GetVersion, and the replay
// tests (testdata/replay: a plain sequence; a deadline and a call step;
// server-*.json, recorded from a real server by make test-fleet) fail
// without it. The incident workflow's repository identity is version 1 of
// repo-identity. Timers, child workflows and notification activities
// come only for procedures with deadline:, call steps or notifications:,
// which earlier interpreters refused: no history recorded by them changes. cmd/rbflow-fleet is the binary.
package fleet
