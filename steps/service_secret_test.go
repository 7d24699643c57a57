package steps

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/testkit"
)

// killGroupAtEnd ends what is left of a service's group (the relay
// included) when the test is over, in case the test failed before it
// stopped the service.
func killGroupAtEnd(t *testing.T, pid int) {
	t.Helper()
	t.Cleanup(func() {
		for _, m := range proc.Group(pid, 0) {
			_ = syscall.Kill(m.PID, syscall.SIGKILL)
		}
	})
}

// withToken is a procedure named name that takes the secret param token
// and runs steps (YAML list items).
func withToken(name, steps string) string {
	return "version: 1\nname: " + name + "\nparams:\n  token: {type: string, secret: true}\nsteps:" + steps
}

// noSecretUnder fails the test for every file under dir that holds one of
// the secrets.
func noSecretUnder(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	testkit.Files(t, dir, func(path string, _ fs.FileMode, b []byte) {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", path, s)
			}
		}
	})
}

// A service started with a secret param keeps the secret out of its record:
// start, status, start again, restart (which takes the secret from the
// restarting run's params) and stop leave no copy of it anywhere in the
// state folder, and the service still gets the right value each time.
// Start with another value of the secret is refused while it runs, and a
// restart from a run without the param says what it lacks.
//
// The secrets hold " and \, which the store's JSON writes escaped: the
// run's own params (another part of issue 11) do not hide a copy in clear.
func TestServiceSecretNotStored(t *testing.T) {
	t.Parallel()
	const first, second = `tok"1\Zq9-first`, `tok"2\Zq9-second`
	h := newHarness(t)
	up := withToken("up", `
  - id: start
    service: start
    with:
      name: tok
      command: printf %s ${{ params.token }} | sha256sum > token.sum; exec sleep 60
      ready: {command: "test -s token.sum", timeout: 10s, interval: 20ms}
      grace: 1s
  - id: look
    service: status
    with: {name: tok}
`)
	sumFile := filepath.Join(h.repo, "token.sum")
	gotValue := func(want string) {
		t.Helper()
		b, _ := os.ReadFile(sumFile)
		if s := fmt.Sprintf("%x  -\n", sha256.Sum256([]byte(want))); string(b) != s {
			t.Errorf("the service got a token whose sha256 is %q, want %q", b, s)
		}
	}

	_, recs, err := h.runSet("up", up, "token="+first)
	mustSucceed(t, recs, err)
	pid := intOutput(t, recs["start"], "pid")
	killGroupAtEnd(t, pid)
	gotValue(first)
	if recs["look"].Outputs["running"] != true {
		t.Errorf("status = %v, want running", recs["look"].Outputs)
	}
	noSecretUnder(t, h.state, first)

	_, recs, err = h.runSet("up", up, "token="+first)
	mustSucceed(t, recs, err)
	if got := intOutput(t, recs["start"], "pid"); got != pid || recs["start"].Outputs["started"] != false {
		t.Errorf("start again with the same secret: outputs %v, want the running pid %d, not started", recs["start"].Outputs, pid)
	}

	_, recs, err = h.runSet("up", up, "token="+second)
	if err == nil || !strings.Contains(recs["start"].Error, "already running with another value of the secret param token") {
		t.Errorf("start with another secret: err %v, step error %q; want a refusal naming the param", err, recs["start"].Error)
	}

	bare := "version: 1\nname: bare\nsteps:\n  - id: restart\n    service: restart\n    with: {name: tok, grace: 1s}\n"
	_, recs, err = h.run("bare", bare)
	if err == nil || !strings.Contains(recs["restart"].Error, "takes the secret param token, and rbflow does not store secrets") {
		t.Errorf("restart without the param: err %v, step error %q", err, recs["restart"].Error)
	}
	if !testkit.Alive(pid) {
		t.Fatal("a restart that could not start the service again stopped it")
	}

	if err := os.Remove(sumFile); err != nil {
		t.Fatal(err)
	}
	_, recs, err = h.runSet("again", withToken("again", `
  - id: restart
    service: restart
    with: {name: tok, ready: {command: "test -s token.sum", timeout: 10s, interval: 20ms}, grace: 1s}
`), "token="+second)
	mustSucceed(t, recs, err)
	restarted := intOutput(t, recs["restart"], "pid")
	killGroupAtEnd(t, restarted)
	if restarted == pid || testkit.Alive(pid) {
		t.Errorf("restart: pid %d, old pid %d alive %v; want a new process and the old one gone", restarted, pid, testkit.Alive(pid))
	}
	gotValue(second)
	if b, _ := os.ReadFile(recs["restart"].LogPath); !strings.Contains(string(b), "secret param token: taken from this run's params") {
		t.Errorf("restart log does not say where the secret came from:\n%s", b)
	}
	noSecretUnder(t, h.state, first, second)

	_, recs, err = h.run("down", "version: 1\nname: down\nsteps:\n  - id: stop\n    service: stop\n    with: {name: tok, grace: 1s}\n")
	mustSucceed(t, recs, err)
	if recs["stop"].Outputs["stopped"] != true {
		t.Errorf("stop = %v, want stopped", recs["stop"].Outputs)
	}
	if g := proc.Group(restarted, 0); len(g) != 0 {
		t.Errorf("processes left in the service's group: %v", g)
	}
	noSecretUnder(t, h.state, first, second)
}

// A service that prints a secret param's value — on a line, split over two
// writes with a pause between them, and on a last line with no end — logs
// *** through its relay, never the secret; stopping the service ends the
// relay too.
func TestServiceLogMasksSecret(t *testing.T) {
	t.Parallel()
	const token = "Zq9-hunter2-s3cret"
	h := newHarness(t)
	_, recs, err := h.runSet("up", withToken("up", `
  - id: start
    service: start
    with:
      name: talker
      command: |
        T=${{ params.token }}
        echo "token=$T"
        printf 'split=%s' "${T:0:4}"; sleep 0.5; printf '%s end\n' "${T:4}"
        printf 'tail=%s' "$T"
        exec sleep 60
      grace: 1s
`), "token="+token)
	mustSucceed(t, recs, err)
	pid := intOutput(t, recs["start"], "pid")
	killGroupAtEnd(t, pid)
	logPath, _ := recs["start"].Outputs["log"].(string)
	log := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	testkit.WaitFor(t, 10*time.Second, "the last, unended line in the log", func() bool { return strings.Contains(log(), "tail=") })
	for _, want := range []string{"token=***\n", "split=*** end\n", "tail=***"} {
		if !strings.Contains(log(), want) {
			t.Errorf("service log does not hold %q:\n%s", want, log())
		}
	}
	if strings.Contains(log(), token[:4]) {
		t.Errorf("service log holds (part of) the secret:\n%s", log())
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	relay := 0
	for _, m := range proc.Group(pid, 0) {
		if p, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", m.PID)); m.PID != pid && p == exe {
			relay = m.PID
		}
	}
	if relay == 0 {
		t.Fatalf("no relay (this binary) in the service's group %d: %v", pid, proc.Group(pid, 0))
	}

	_, recs, err = h.run("down", "version: 1\nname: down\nsteps:\n  - id: stop\n    service: stop\n    with: {name: talker, grace: 1s}\n")
	mustSucceed(t, recs, err)
	if testkit.Alive(pid) || testkit.Alive(relay) {
		t.Errorf("after stop: service %d alive %v, relay %d alive %v; want both gone", pid, testkit.Alive(pid), relay, testkit.Alive(relay))
	}
	noSecretUnder(t, filepath.Dir(logPath), token)
}
