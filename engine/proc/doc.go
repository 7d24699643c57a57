// Package proc identifies processes, runs step commands so that they
// never outlive rbflow, and starts services that do.
//
// A process is known by its pid and its start time (in clock ticks since
// boot, from /proc): a pid alone may have been reused by the time a run is
// resumed. The commands of a run start through its Supervisor — rbflow
// itself, re-executed once per run, a child subreaper that rbflow asks over
// a socket pair to start each command in its own process group. When rbflow
// dies, even by SIGKILL, the socket closes and the supervisor kills every
// group it started and every orphan reparented to it, at once: no step
// process is left running unsupervised. Outside a run (a context without a
// supervisor) a command gets a reaper of its own, which does the same for
// its group.
//
// Services are the exception: StartDetached starts them to outlive rbflow.
// When a run has secrets, a service's output reaches its log through a
// relay, rbflow re-executed again, that writes every secret as *** and
// lives in the service's process group, so that it ends with the service.
package proc
