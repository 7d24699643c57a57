// Package engine turns a procedure into a run and drives it to its end.
//
// The flow, and the file that holds each part:
//
//	load     loader.go    Loader.Load: engine/spec decodes the YAML into positioned types,
//	                      taking the action keys of the Registry (kind.go)
//	compile  plan.go      Compile: every expression (engine/eval), need and step argument
//	                      (each Kind's Signature, then its Compile) is checked into an immutable Plan
//	         callee.go    KindContext.Callee: what a call step names, compiled with its caller
//	plan     dryrun.go    Runner.DryRun: what the plan would do, with nothing changed
//	execute  runner.go    Runner.Start, Resume, Retry, Cancel: the API, under the repository lock
//	         resume.go    decideResume: which recorded steps stand when a run goes on
//	         schedule.go  the DAG of each section, --parallel at a time
//	         attempt.go   one step: its if:, its attempts and retries, its outputs
//	         notify.go    the procedure's notification hooks, posted beside the steps (engine/webhook)
//	         stepenv.go   what a step's action sees (Exec, exec.go): dir, env, params
//	         hoststep.go  one step of a run another engine schedules (engine/fleet, Temporal)
//	store    store.go     the Store the runner records every transition in (engine/store)
//	         record.go    Run and StepRecord, and the only methods that move their states
//
// A step's running record is committed before its side effects begin; a
// step kind reaches the store only through the capabilities Exec hands it.
package engine
