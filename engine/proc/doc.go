// Package proc identifies processes and runs step commands so that they
// never outlive rbflow.
//
// A process is known by its pid and its start time (in clock ticks since
// boot, from /proc): a pid alone may have been reused by the time a run is
// resumed. Step commands run under a small reaper — rbflow itself, re-executed
// — that leads the command's process group and holds a pipe to rbflow. When
// rbflow dies, even by SIGKILL, the pipe closes and the reaper ends the whole
// group: no step process is left running unsupervised.
package proc
