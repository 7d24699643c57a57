// Package proc identifies processes, runs step commands so that they
// never outlive rbflow, and starts services that do.
//
// A process is known by its pid and its start time (in clock ticks since
// boot, from /proc): a pid alone may have been reused by the time a run is
// resumed. Step commands run under a small reaper — rbflow itself, re-executed
// — that leads the command's process group and holds a pipe to rbflow. When
// rbflow dies, even by SIGKILL, the pipe closes and the reaper ends the whole
// group: no step process is left running unsupervised.
//
// Services are the exception: StartDetached starts them to outlive rbflow.
// When a run has secrets, a service's output reaches its log through a
// relay, rbflow re-executed again, that writes every secret as *** and
// lives in the service's process group, so that it ends with the service.
package proc
