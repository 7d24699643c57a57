package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestFullStateDisk (issue 15): the state folder on a 600 KB file system
// that a step's output fills. The run used to end "interrupted ... exit
// 130" without naming the disk, --json said the step succeeded while the
// store had it running, and the log was cut. Now it stops with exit 1
// naming the store and the full disk, reports nothing the store did not
// record, and once space is freed rbflow resume finishes it.
func TestFullStateDisk(t *testing.T) {
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("this test needs to mount a small tmpfs (root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	state := filepath.Join(mnt, "state")
	repo := testkit.GitRepo(t, nil)
	aux := t.TempDir()
	marker, once := filepath.Join(aux, "finally"), filepath.Join(aux, "once")
	proc := filepath.Join(t.TempDir(), "fill.yaml")
	testkit.WriteFile(t, proc, `version: 1
name: fill
steps:
  - id: a
    run: echo a
  - id: big
    run: if [ -f `+once+` ]; then echo small; else touch `+once+`; head -c 3000000 /dev/zero | tr '\0' 'x'; echo; fi
  - id: c
    run: echo c
finally:
  - id: f
    run: touch `+marker+`
`)
	out, errOut, code := rbflow(t, repo, "run", proc, "--state", state, "--json")
	if code != 1 {
		t.Fatalf("run on a full disk: exit %d, want 1\n...%s", code, tail(errOut))
	}
	if !strings.Contains(errOut, "the disk is full") || !strings.Contains(errOut, state) || !strings.Contains(errOut, "rbflow resume") {
		t.Errorf("the error should name the store, the full disk and resume:\n...%s", tail(errOut))
	}
	if strings.Contains(out, `"step":"big","status":"succeeded"`) {
		t.Errorf("--json reported big succeeded, which the store could not record")
	}
	st, _, _ := query(t, repo, "status", "--state", state, "--json")
	if !strings.Contains(st, `"id": "a"`) || strings.Contains(st, `"id": "c"`) {
		t.Errorf("the store should hold a done and c not started:\n%s", st)
	}

	logs, _ := filepath.Glob(filepath.Join(state, "runs", "*", "big.log"))
	for _, l := range logs {
		os.Remove(l) // space again
	}
	if o, e, code := rbflow(t, repo, "resume", "--state", state, "--yes"); code != 0 {
		t.Fatalf("resume once space is free: exit %d\n...%s", code, tail(o+e))
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("finally did not run after the resume")
	}
	if st, _, _ := query(t, repo, "status", "--state", state); !strings.Contains(st, "succeeded") {
		t.Errorf("status after resume:\n%s", st)
	}
}

// tail is the end of a long output, for messages.
func tail(s string) string { return s[max(0, len(s)-600):] }
