//go:build fleet_e2e

package main

// The end-to-end test of fleet mode against a real Temporal server: make
// test-fleet builds bin/rbflow and bin/rbflow-fleet and runs this file
// (the fleet_e2e build tag keeps it out of make test). Every process is
// real: the Temporal CLI's dev server, two workers started through the
// plain rbflow binary (so its hand-over to rbflow-fleet runs too), the
// commands a user types, git and bash in temporary repositories.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
	"github.com/rbflow/rbflow/engine/testkit"
)

// installTemporal is how the Temporal CLI is installed.
const installTemporal = "go install github.com/temporalio/cli/cmd/temporal@v1.5.1"

// cluster is a Temporal dev server, the commands that talk to it and the
// processes the test started.
type cluster struct {
	t        *testing.T
	dir      string
	bin      string // bin/rbflow and bin/rbflow-fleet
	temporal string // the Temporal CLI
	addr     string
	db       string // the server's SQLite file
	key      string // the payload key file
	markDir  string // where the procedures' steps write their marks
	env      []string
	logs     int
}

// binDir is where make test-fleet put rbflow and rbflow-fleet.
func binDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RBFLOW_BIN")
	if dir == "" {
		dir = "../../bin"
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rbflow", "rbflow-fleet"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("no %s in %s: run this test with make test-fleet, which builds bin/rbflow and bin/rbflow-fleet first (or set RBFLOW_BIN)", name, dir)
		}
	}
	return dir
}

// temporalCLI finds the Temporal CLI on PATH or in $(go env GOPATH)/bin.
func temporalCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(gp, "bin", "temporal")
			if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
				return p
			}
		}
	}
	t.Fatalf("the Temporal CLI (temporal) is neither on PATH nor in $(go env GOPATH)/bin: install it with `%s` (about half an hour on two cores), then run make test-fleet again", installTemporal)
	return ""
}

// newCluster starts a Temporal dev server on free loopback ports, with its
// database in a temporary folder.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), bin: binDir(t), temporal: temporalCLI(t)}
	c.db = filepath.Join(c.dir, "temporal.db")
	c.key = filepath.Join(c.dir, "fleet.key")
	c.markDir = filepath.Join(c.dir, "marks")
	if err := os.Mkdir(c.markDir, 0o755); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(c.key, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RBFLOW_") && !strings.HasPrefix(kv, "GIT_") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "NO_COLOR=1", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t.invalid")
	port := testkit.FreePort(t)
	c.addr = "127.0.0.1:" + strconv.Itoa(port)
	srv := c.start("server", c.temporal, "server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--http-port", strconv.Itoa(testkit.FreePort(t)), "--metrics-port", strconv.Itoa(testkit.FreePort(t)),
		"--ui-port", strconv.Itoa(testkit.FreePort(t)), "--headless", "--db-filename", c.db, "--log-level", "error")
	c.waitFor(30*time.Second, "the Temporal server to answer on "+c.addr, srv, func() bool {
		conn, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return c
}

// process is one process the test started; it is killed, by its pid, when
// the test ends.
type process struct {
	name     string
	cmd      *exec.Cmd
	out, err string // files
	done     chan struct{}
	code     int
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) stdout() string { b, _ := os.ReadFile(p.out); return string(b) }
func (p *process) stderr() string { b, _ := os.ReadFile(p.err); return string(b) }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process (by its pid) and waits for it.
func (p *process) kill() {
	if !p.exited() {
		_ = syscall.Kill(p.pid(), syscall.SIGKILL)
	}
	<-p.done
}

func (p *process) String() string {
	return fmt.Sprintf("%s (pid %d)\nstdout:\n%s\nstderr:\n%s", p.name, p.pid(), p.stdout(), p.stderr())
}

// start starts a command in the background, in dir c.dir.
func (c *cluster) start(name, path string, args ...string) *process {
	return c.startIn(c.dir, name, path, args...)
}

func (c *cluster) startIn(dir, name, path string, args ...string) *process {
	c.t.Helper()
	c.logs++
	base := filepath.Join(c.dir, fmt.Sprintf("%02d-%s", c.logs, name))
	p := &process{name: name, out: base + ".out", err: base + ".err", done: make(chan struct{})}
	stdout, err := os.Create(p.out)
	if err != nil {
		c.t.Fatal(err)
	}
	stderr, err := os.Create(p.err)
	if err != nil {
		c.t.Fatal(err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = dir, c.env, stdout, stderr
	if err := p.cmd.Start(); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := p.cmd.Wait()
		stdout.Close()
		stderr.Close()
		p.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	c.t.Cleanup(p.kill)
	return p
}

// rbflow runs the plain rbflow binary in dir to its end and returns its
// output and exit status.
func (c *cluster) rbflow(dir string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	p := c.startIn(dir, "rbflow-"+args[0], filepath.Join(c.bin, "rbflow"), args...)
	return c.wait(p, 3*time.Minute)
}

// wait waits for a process to end.
func (c *cluster) wait(p *process, timeout time.Duration) (stdout, stderr string, code int) {
	c.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		c.t.Fatalf("%s did not end within %s:\n%s", p.name, timeout, p)
	}
	return p.stdout(), p.stderr(), p.code
}

// waitFor polls cond; the test fails when timeout passes first, or when
// watched (a process that should keep running) ends.
func (c *cluster) waitFor(timeout time.Duration, what string, watched *process, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if watched != nil && watched.exited() {
			c.t.Fatalf("waiting for %s: %s ended (exit %d):\n%s", what, watched.name, watched.code, watched)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// worker starts `rbflow worker` for a host and its repository, through the
// plain rbflow binary, and waits until it polls.
func (c *cluster) worker(host, repo string) *process {
	c.t.Helper()
	p := c.start("worker-"+host, filepath.Join(c.bin, "rbflow"), "worker", "--temporal", c.addr, "--host", host, "--repo", repo, "--key-file", c.key)
	c.waitFor(30*time.Second, "worker "+host+" to start", p, func() bool {
		return strings.Contains(p.stdout(), "rbflow worker: host "+host)
	})
	c.t.Cleanup(func() {
		// The SDK's own log goes to stderr, INFO and up: stdout is the
		// worker's line.
		if out := p.stdout(); strings.Count(out, "\n") != 1 || strings.Contains(p.stderr(), "DEBUG") {
			c.t.Errorf("worker %s's output: stdout %q, stderr with DEBUG lines:\n%s", host, out, p.stderr())
		}
	})
	return p
}

// runFleet starts `rbflow run` on the fleet in the background and returns
// it with the run id it printed.
func (c *cluster) runFleet(procedure string, args ...string) (*process, string) {
	c.t.Helper()
	all := append([]string{"run", procedure, "--temporal", c.addr, "--key-file", c.key}, args...)
	p := c.start("rbflow-run", filepath.Join(c.bin, "rbflow"), all...)
	var id string
	c.waitFor(30*time.Second, "rbflow run to print its run id", nil, func() bool {
		first, _, ok := strings.Cut(p.stdout(), "\n")
		if f := strings.Fields(first); ok && len(f) > 2 && f[0] == "run" {
			id = f[1]
			return true
		}
		if p.exited() {
			c.t.Fatalf("rbflow run ended before it started a run (exit %d):\n%s", p.code, p)
		}
		return false
	})
	return p, id
}

// fleetRun is one line of `rbflow status RUN --temporal ADDR --json`: a
// target's run, with the keys of a local status --json.
type fleetRun struct {
	Incident  string     `json:"incident"`
	Target    string     `json:"target"`
	Repo      string     `json:"repo"`
	ID        string     `json:"id"`
	Procedure string     `json:"procedure"`
	Status    string     `json:"status"`
	StartedAt *time.Time `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	Warnings  []string   `json:"warnings"`
	Waiting   []string   `json:"waiting"`
	Steps     []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
	} `json:"steps"`
}

// fleetStatus is `rbflow status RUN --temporal ADDR --json`, one object
// per target.
func (c *cluster) fleetStatus(runID string) []*fleetRun {
	c.t.Helper()
	out, errs, code := c.rbflow(c.dir, "status", runID, "--temporal", c.addr, "--key-file", c.key, "--json")
	if code != 0 {
		c.t.Fatalf("rbflow status %s --temporal --json: exit %d: %s", runID, code, errs)
	}
	var runs []*fleetRun
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r fleetRun
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			c.t.Fatalf("rbflow status --json: %v:\n%s", err, out)
		}
		if r.Incident != runID || r.StartedAt == nil {
			c.t.Errorf("rbflow status --json: incident %q, started_at %v; want %s and a time:\n%s", r.Incident, r.StartedAt, runID, line)
		}
		runs = append(runs, &r)
	}
	return runs
}

// localStatus is `rbflow status RUN --json` run in a host's repository,
// without Temporal: what the host's own store says.
type localRun struct {
	ID       string   `json:"id"`
	Status   string   `json:"status"`
	Warnings []string `json:"warnings"`
	Steps    []struct {
		ID       string         `json:"id"`
		Status   string         `json:"status"`
		Attempts int            `json:"attempts"`
		Outputs  map[string]any `json:"outputs"`
		Error    string         `json:"error"`
	} `json:"steps"`
}

func (c *cluster) localStatus(repo, runID string) (*localRun, string) {
	c.t.Helper()
	out, errs, code := c.rbflow(repo, "status", runID, "--json")
	if code != 0 {
		c.t.Fatalf("rbflow status %s --json in %s: exit %d: %s", runID, repo, code, errs)
	}
	var r localRun
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		c.t.Fatalf("rbflow status --json in %s: %v:\n%s", repo, err, out)
	}
	return &r, out
}

func (r *localRun) step(id string) string {
	for _, s := range r.Steps {
		if s.ID == id {
			return s.Status
		}
	}
	return "(no record)"
}

// marks reads a mark file: one line each time a step ran. A line not
// written whole yet (the shell has made the file, echo has not written)
// does not count.
func (c *cluster) marks(name string) []string {
	b, err := os.ReadFile(filepath.Join(c.markDir, name))
	if err != nil {
		return nil
	}
	whole, _ := strings.CutSuffix(string(b[:bytes.LastIndexByte(b, '\n')+1]), "\n")
	if whole == "" {
		return nil
	}
	return strings.Split(whole, "\n")
}

// pids reads the pids a mark line starts with.
func pids(t *testing.T, line string) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			break
		}
		out = append(out, pid)
	}
	if len(out) == 0 {
		t.Fatalf("mark %q holds no pid", line)
	}
	return out
}

func outcome(t *testing.T, runs []*fleetRun, host string) *fleetRun {
	t.Helper()
	for _, r := range runs {
		if strings.HasPrefix(r.Target, host+":") {
			return r
		}
	}
	t.Fatalf("no target on host %s in %+v", host, runs)
	return nil
}

func stepOf(r *fleetRun, id string) string {
	for _, s := range r.Steps {
		if s.ID == id {
			return s.Status
		}
	}
	return "(no record)"
}

// twoCommits is a repository with two commits; it returns the first.
func twoCommits(t *testing.T) (repo, first string) {
	repo = testkit.GitRepo(t, map[string]string{"README.md": "one\n"})
	first = strings.TrimSpace(testkit.Git(t, repo, "rev-parse", "HEAD"))
	testkit.Commit(t, repo, "two", map[string]string{"two.txt": "two\n"})
	return repo, first
}

// incident is the procedure of the incident: a step that reads the
// secret, a git snapshot and reset, a long step that waits for the test to
// release it, an if: over its output either way, and a finally.
const incident = `version: 1
name: e2e-incident
params:
  marks: {type: string}
  token: {type: string, secret: true}
steps:
  - id: first
    run: |
      echo "$$" >> "${{ params.marks }}/${{ run.id }}.first"
      echo "token=${{ params.token }}" >> "$RBFLOW_OUTPUT"
      echo "the token is ${{ params.token }}"
  - id: snap
    git: snapshot
  - id: reset
    git: reset
    with: {to: HEAD~1, mode: hard}
  - id: long
    run: |
      sleep 600 &
      echo "$$ $! $(date +%s.%N)" >> "${{ params.marks }}/${{ run.id }}.long"
      until [ -e "${{ params.marks }}/${{ run.id }}.release" ]; do echo tick; sleep 0.1; done
      kill $!
      echo "done=yes" >> "$RBFLOW_OUTPUT"
  - id: after
    if: steps.long.outputs.done == "yes"
    run: echo "$$" >> "${{ params.marks }}/${{ run.id }}.after"
  - id: verify
    needs: [long]
    run: echo "not verified" >&2; exit 3
    continue_on_error: true
  - id: never
    needs: [long]
    if: steps.long.outputs.done != "yes"
    run: echo "$$" >> "${{ params.marks }}/${{ run.id }}.never"
finally:
  - id: fin
    run: echo "$$" >> "${{ params.marks }}/${{ run.id }}.fin"
`

// TestFleetEndToEnd runs an incident on two hosts' repositories, kills one
// worker by SIGKILL while its long step runs and restarts it; then a prompt
// answered with resume, a cancel whose finally runs, the history searched
// for the secret, and the per-step overhead against a local run.
func TestFleetEndToEnd(t *testing.T) {
	c := newCluster(t)
	repoA, firstA := twoCommits(t)
	repoB, firstB := twoCommits(t)
	workerA := c.worker("a", repoA)
	c.worker("b", repoB)

	proc := filepath.Join(c.dir, "incident.yaml")
	testkit.WriteFile(t, proc, incident)
	secret := "s3cr3t-" + hex.EncodeToString([]byte(t.Name()))[:8] + "-e2e"
	run, runID := c.runFleet(proc, "--on", "a:"+repoA, "--on", "b:"+repoB,
		"--set", "marks="+c.markDir, "--set", "token="+secret, "--heartbeat", "3s")
	runA, runB := fleet.TargetRunID(runID, 0), fleet.TargetRunID(runID, 1)
	// Host b's long step may end at once.
	testkit.WriteFile(t, filepath.Join(c.markDir, runB+".release"), "")

	// Kill worker a while its long step runs, and see the step's
	// processes (its bash and a child in the background) go with it.
	c.waitFor(time.Minute, "host a's long step to start", run, func() bool { return len(c.marks(runA+".long")) == 1 })
	killed := pids(t, c.marks(runA + ".long")[0])
	workerA.kill()
	for _, pid := range killed {
		c.waitFor(15*time.Second, fmt.Sprintf("process %d of the killed worker's step to end", pid), nil, func() bool { return !testkit.Alive(pid) })
	}
	workerA = c.worker("a", repoA)
	c.waitFor(time.Minute, "host a's long step to start again on the restarted worker", run, func() bool { return len(c.marks(runA+".long")) == 2 })
	again := pids(t, c.marks(runA + ".long")[1])
	if again[0] == killed[0] {
		t.Errorf("the long step's second attempt has the pid of the first, %d", again[0])
	}
	testkit.WriteFile(t, filepath.Join(c.markDir, runA+".release"), "")
	out, errs, code := c.wait(run, 2*time.Minute)
	if code != 0 {
		t.Fatalf("rbflow run: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"a:" + repoA + "  run " + runA + " succeeded with 1 warning", "b:" + repoB + "  run " + runB + " succeeded with 1 warning",
		"a:" + repoA + "  ⚠ step verify failed (continue_on_error): exit status 3: not verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("rbflow run's output lacks %q:\n%s", want, out)
		}
	}

	// Finished steps ran once, the killed one twice on a, once on b.
	for _, m := range []struct {
		file string
		n    int
	}{
		{runA + ".first", 1}, {runA + ".long", 2}, {runA + ".after", 1}, {runA + ".never", 0}, {runA + ".fin", 1},
		{runB + ".first", 1}, {runB + ".long", 1}, {runB + ".after", 1}, {runB + ".never", 0}, {runB + ".fin", 1},
	} {
		if got := len(c.marks(m.file)); got != m.n {
			t.Errorf("%s ran %d times, want %d", m.file, got, m.n)
		}
	}
	// The reset ran once on each: HEAD is the first commit, not its parent.
	for repo, first := range map[string]string{repoA: firstA, repoB: firstB} {
		if head := strings.TrimSpace(testkit.Git(t, repo, "rev-parse", "HEAD")); head != first {
			t.Errorf("%s: HEAD %s, want %s (reset to HEAD~1 once)", repo, head, first)
		}
	}

	// The fleet's status: both targets, every step.
	text, errs, code := c.rbflow(c.dir, "status", runID, "--temporal", c.addr, "--key-file", c.key)
	if code != 0 {
		t.Fatalf("rbflow status --temporal: exit %d: %s", code, errs)
	}
	for _, want := range []string{"a:" + repoA + "  run " + runA, "b:" + repoB + "  run " + runB, "e2e-incident  succeeded with 1 warning", "never", "skipped", "verify               failed (continued)"} {
		if !strings.Contains(text, want) {
			t.Errorf("rbflow status --temporal lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, secret) {
		t.Errorf("rbflow status --temporal shows the secret:\n%s", text)
	}
	if _, errs, code := c.rbflow(c.dir, "status", "nosuch", "--temporal", c.addr, "--key-file", c.key); code != exitUsage || !strings.Contains(errs, `no run "nosuch" on Temporal at `+c.addr) {
		t.Errorf("rbflow status nosuch --temporal: exit %d, stderr %q; want exit %d naming the run and the server", code, errs, exitUsage)
	}
	outs := c.fleetStatus(runID)
	if len(outs) != 2 {
		t.Fatalf("rbflow status --json: %d targets, want 2", len(outs))
	}
	want := map[string]engine.StepStatus{"first": engine.StepSucceeded, "snap": engine.StepSucceeded, "reset": engine.StepSucceeded,
		"long": engine.StepSucceeded, "after": engine.StepSucceeded, "verify": engine.StepFailed, "never": engine.StepSkipped, "fin": engine.StepSucceeded}
	for host, id := range map[string]string{"a": runA, "b": runB} {
		o := outcome(t, outs, host)
		if o.ID != id || o.Status != string(engine.RunSucceeded) || len(o.Warnings) != 1 || o.EndedAt == nil || o.Procedure != "e2e-incident" {
			t.Errorf("status --json, host %s: run %s %s of %s, ended %v, warnings %q; want %s succeeded, ended, with verify's warning", host, o.ID, o.Status, o.Procedure, o.EndedAt, o.Warnings, id)
		}
		for step, w := range want {
			if got := stepOf(o, step); got != string(w) {
				t.Errorf("status --json, host %s: step %s %s, want %s", host, step, got, w)
			}
		}
	}

	// Each host's own store tells what that host ran, and only that.
	for _, h := range []struct{ repo, run, other string }{{repoA, runA, runB}, {repoB, runB, runA}} {
		r, raw := c.localStatus(h.repo, h.run)
		attempts := map[string]int{repoA: 2, repoB: 1}[h.repo]
		for _, s := range r.Steps {
			if s.ID == "long" && s.Attempts != attempts {
				t.Errorf("rbflow status %s in %s: long made %d attempts, want %d", h.run, h.repo, s.Attempts, attempts)
			}
		}
		if r.Status != string(engine.RunSucceeded) || len(r.Warnings) != 1 {
			t.Errorf("rbflow status %s in %s: %s, warnings %q; want succeeded with verify's warning", h.run, h.repo, r.Status, r.Warnings)
		}
		for step, w := range want {
			if got := r.step(step); got != string(w) {
				t.Errorf("rbflow status %s in %s: step %s %s, want %s", h.run, h.repo, step, got, w)
			}
		}
		if strings.Contains(raw, secret) {
			t.Errorf("rbflow status in %s shows the secret:\n%s", h.repo, raw)
		}
		if _, errs, code := c.rbflow(h.repo, "status", h.other); code == 0 {
			t.Errorf("rbflow status %s in %s: exit 0, want the other host's run unknown here (%s)", h.other, h.repo, errs)
		}
	}

	// The snapshots live on each host: a local rbflow undo there brings
	// back the state before the fleet run's reset.
	secondA := strings.TrimSpace(testkit.Git(t, repoA, "rev-parse", "HEAD@{1}"))
	if out, errs, code := c.rbflow(repoA, "undo", runA); code != 0 {
		t.Errorf("rbflow undo %s in %s: exit %d\nstdout:\n%s\nstderr:\n%s", runA, repoA, code, out, errs)
	}
	if head := strings.TrimSpace(testkit.Git(t, repoA, "rev-parse", "HEAD")); head != secondA {
		t.Errorf("after rbflow undo %s: HEAD %s, want %s (before the reset)", runA, head, secondA)
	}
	if _, err := os.Stat(filepath.Join(repoA, "two.txt")); err != nil {
		t.Errorf("after rbflow undo %s: %v", runA, err)
	}

	// On Temporal: rbflow undo --temporal --on b:B runs the built-in undo
	// on host b, in a workflow under B's lock, and leaves A alone.
	secondB := strings.TrimSpace(testkit.Git(t, repoB, "rev-parse", "HEAD@{1}"))
	headA := strings.TrimSpace(testkit.Git(t, repoA, "rev-parse", "HEAD"))
	if out, errs, code := c.rbflow(c.dir, "undo", runID, "--temporal", c.addr, "--key-file", c.key, "--on", "b:"+repoB); code != 0 {
		t.Errorf("rbflow undo %s --temporal --on b: exit %d\nstdout:\n%s\nstderr:\n%s", runID, code, out, errs)
	}
	if head := strings.TrimSpace(testkit.Git(t, repoB, "rev-parse", "HEAD")); head != secondB {
		t.Errorf("after rbflow undo --temporal: %s HEAD %s, want %s (before the reset)", repoB, head, secondB)
	}
	if head := strings.TrimSpace(testkit.Git(t, repoA, "rev-parse", "HEAD")); head != headA {
		t.Errorf("rbflow undo --temporal --on b moved %s: HEAD %s, want %s", repoA, head, headA)
	}
	if r, _ := c.localStatus(repoB, runB); r.Status != "undone" {
		t.Errorf("rbflow status %s in %s after the undo: %s, want undone", runB, repoB, r.Status)
	}
	if out, errs, _ := c.rbflow(repoB, "undo", runB); !strings.Contains(out, "is undone already") {
		t.Errorf("rbflow undo %s in %s after the undo on Temporal: want 'is undone already':\n%s%s", runB, repoB, out, errs)
	}

	// A prompt, answered with resume.
	ask := filepath.Join(c.dir, "ask.yaml")
	testkit.WriteFile(t, ask, `version: 1
name: e2e-ask
params:
  marks: {type: string}
steps:
  - id: go
    prompt: "Roll back now?"
    with: {type: confirm}
  - id: act
    if: steps.go.outputs.confirmed
    run: echo "${{ steps.go.outputs.answer }}" >> "${{ params.marks }}/${{ run.id }}.act"
`)
	asking, askID := c.runFleet(ask, "--on", "b:"+repoB, "--set", "marks="+c.markDir)
	out, errs, code = c.wait(asking, time.Minute)
	if code != exitWaiting || !strings.Contains(errs, "waits for an answer") || !strings.Contains(errs, "answer with: rbflow resume "+askID+" --temporal "+c.addr+" --answer go=yes") {
		t.Fatalf("rbflow run of a prompt: exit %d, want %d and the step it waits on:\nstdout:\n%s\nstderr:\n%s", code, exitWaiting, out, errs)
	}
	if o := outcome(t, c.fleetStatus(askID), "b"); o.Status != string(engine.RunWaiting) || len(o.Waiting) != 1 {
		t.Errorf("status of a run waiting for an answer: %s, waiting %q", o.Status, o.Waiting)
	}
	out, errs, code = c.rbflow(c.dir, "resume", askID, "--answer", "go=maybe", "--temporal", c.addr, "--key-file", c.key)
	if want := `rbflow: --answer go on b:` + repoB + `: --answer go=maybe: "maybe" is not a yes or no: answer y, yes, true, n, no or false` + "\n"; code != exitUsage || errs != want {
		t.Errorf("rbflow resume --answer go=maybe: exit %d, stderr %q; want exit %d and %q", code, errs, exitUsage, want)
	}
	out, errs, code = c.rbflow(c.dir, "resume", askID, "--answer", "go=yes", "--temporal", c.addr, "--key-file", c.key)
	if code != 0 {
		t.Fatalf("rbflow resume --answer go=yes: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if got := c.marks(fleet.TargetRunID(askID, 0) + ".act"); len(got) != 1 || got[0] != "yes" {
		t.Errorf("act after the answer wrote %q, want [yes]", got)
	}

	// A call step under a deadline: the called procedure, next to the
	// caller, is read by the starter and runs as a child workflow on the
	// same host; its outputs reach the caller; the host's store records
	// the child run with its parent, and the call step.
	testkit.WriteFile(t, filepath.Join(c.dir, "callee.yaml"), `version: 1
name: e2e-callee
params:
  who: {type: string}
steps:
  - id: greet
    run: echo "msg=hello ${{ params.who }}" >> "$RBFLOW_OUTPUT"
`)
	caller := filepath.Join(c.dir, "caller.yaml")
	testkit.WriteFile(t, caller, `version: 1
name: e2e-caller
deadline: 10m
params:
  marks: {type: string}
steps:
  - id: c
    call: ./callee.yaml
    with: {params: {who: fleet}}
  - id: after
    run: echo "${{ steps.c.outputs.greet.msg }} ${{ steps.c.outputs.run_id }}" >> "${{ params.marks }}/${{ run.id }}.call"
`)
	calling, callID := c.runFleet(caller, "--on", "b:"+repoB, "--set", "marks="+c.markDir)
	if out, errs, code := c.wait(calling, time.Minute); code != 0 {
		t.Fatalf("rbflow run of a call step: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	callRun := fleet.TargetRunID(callID, 0)
	child := fleet.CallRunID(callRun, "c")
	if got := c.marks(callRun + ".call"); len(got) != 1 || got[0] != "hello fleet "+child {
		t.Errorf("the step after the call wrote %q, want [hello fleet %s]", got, child)
	}
	if r, _ := c.localStatus(repoB, child); r.Status != string(engine.RunSucceeded) || r.step("greet") != string(engine.StepSucceeded) {
		t.Errorf("rbflow status %s in %s: %s, greet %s; want the child run succeeded", child, repoB, r.Status, r.step("greet"))
	}
	if r, _ := c.localStatus(repoB, callRun); r.Status != string(engine.RunSucceeded) || r.step("c") != string(engine.StepSucceeded) {
		t.Errorf("rbflow status %s in %s: %s, c %s; want the caller succeeded", callRun, repoB, r.Status, r.step("c"))
	}

	// A prompt inside a called procedure waits in the call step's child
	// workflow: run stops (exit 4) naming it c/go, status shows it, and
	// while it waits the repository is held for every spelling of it:
	// an incident on a symbolic link to it is refused, naming the lock
	// (the real path); two spellings in one incident refuse it at once.
	testkit.WriteFile(t, filepath.Join(c.dir, "callee-ask.yaml"), `version: 1
name: e2e-callee-ask
params:
  marks: {type: string}
steps:
  - id: go
    prompt: "Roll back the callee?"
    with: {type: confirm}
  - id: act
    if: steps.go.outputs.confirmed
    run: echo "${{ steps.go.outputs.answer }}" >> "${{ params.marks }}/${{ run.id }}.act"
`)
	callerAsk := filepath.Join(c.dir, "caller-ask.yaml")
	testkit.WriteFile(t, callerAsk, `version: 1
name: e2e-caller-ask
params:
  marks: {type: string}
steps:
  - id: c
    call: ./callee-ask.yaml
    with: {params: {marks: "${{ params.marks }}"}}
  - id: after
    run: echo "${{ steps.c.outputs.go.confirmed }}" >> "${{ params.marks }}/${{ run.id }}.after"
`)
	nested, nestedID := c.runFleet(callerAsk, "--on", "b:"+repoB, "--set", "marks="+c.markDir)
	out, errs, code = c.wait(nested, time.Minute)
	if code != exitWaiting || !strings.Contains(errs, "b:"+repoB+" c/go: ") || !strings.Contains(errs, "--answer go=yes") {
		t.Fatalf("rbflow run of a called prompt: exit %d, want %d and c/go waiting:\nstdout:\n%s\nstderr:\n%s", code, exitWaiting, out, errs)
	}
	if o := outcome(t, c.fleetStatus(nestedID), "b"); o.Status != string(engine.RunWaiting) || len(o.Waiting) != 1 || !strings.HasPrefix(o.Waiting[0], "c/go: ") || stepOf(o, "c/go") != string(engine.StepWaiting) {
		t.Errorf("status of a run whose callee waits: %s, waiting %q, c/go %s; want waiting on c/go", o.Status, o.Waiting, stepOf(o, "c/go"))
	}
	linkB := filepath.Join(c.dir, "current-b")
	if err := os.Symlink(repoB, linkB); err != nil {
		t.Fatal(err)
	}
	realB, err := filepath.EvalSymlinks(repoB)
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = c.rbflow(c.dir, "run", ask, "--temporal", c.addr, "--key-file", c.key, "--on", "b:"+linkB, "--set", "marks="+c.markDir)
	if want := "b:" + linkB + "  run "; code != exitLocked || !strings.Contains(out, want) || !strings.Contains(out, "is held by another incident (workflow "+fleet.LockID(fleet.Target{Host: "b", Path: realB})+" is open)") {
		t.Errorf("rbflow run on a link to a held repository: exit %d, want %d naming the lock by the real path\nstdout:\n%s\nstderr:\n%s", code, exitLocked, out, errs)
	}
	out, errs, code = c.rbflow(c.dir, "run", ask, "--temporal", c.addr, "--key-file", c.key, "--on", "b:"+repoB, "--on", "b:"+linkB, "--set", "marks="+c.markDir)
	if want := "--on b:" + repoB + " and --on b:" + linkB + " are one repository, " + realB + " on b: give it once"; code != exitUsage || !strings.Contains(errs, want) {
		t.Errorf("rbflow run on two spellings of one repository: exit %d, want %d and %q\nstdout:\n%s\nstderr:\n%s", code, exitUsage, want, out, errs)
	}
	out, errs, code = c.rbflow(c.dir, "resume", nestedID, "--answer", "c/go=yes", "--temporal", c.addr, "--key-file", c.key)
	if code != 0 {
		t.Fatalf("rbflow resume --answer c/go=yes: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	nestedRun := fleet.TargetRunID(nestedID, 0)
	if got := c.marks(fleet.CallRunID(nestedRun, "c") + ".act"); len(got) != 1 || got[0] != "yes" {
		t.Errorf("the callee's act after the answer wrote %q, want [yes]", got)
	}
	if got := c.marks(nestedRun + ".after"); len(got) != 1 || got[0] != "true" {
		t.Errorf("the caller's after wrote %q, want [true]", got)
	}

	// A starter with another payload key than the workers': the run
	// fails at once, saying so.
	other := filepath.Join(c.dir, "other.key")
	testkit.WriteFile(t, other, strings.Repeat("ab", 32))
	out, errs, code = c.rbflow(c.dir, "run", ask, "--temporal", c.addr, "--key-file", other, "--on", "b:"+repoB, "--set", "marks="+c.markDir)
	if code != exitFailed || !strings.Contains(errs, "sealed with a payload key other than this command's") {
		t.Errorf("rbflow run with another key: exit %d, want %d naming the key\nstdout:\n%s\nstderr:\n%s", code, exitFailed, out, errs)
	}

	// A cancel: the running step's processes are stopped, finally runs.
	hang := filepath.Join(c.dir, "hang.yaml")
	testkit.WriteFile(t, hang, `version: 1
name: e2e-hang
params:
  marks: {type: string}
steps:
  - id: hang
    run: |
      sleep 600 &
      echo "$$ $!" >> "${{ params.marks }}/${{ run.id }}.hang"
      wait
  - id: later
    run: echo "$$" >> "${{ params.marks }}/${{ run.id }}.later"
finally:
  - id: fin
    if: always()
    run: echo "${{ run.status }}" >> "${{ params.marks }}/${{ run.id }}.fin"
`)
	hanging, hangID := c.runFleet(hang, "--on", "b:"+repoB, "--set", "marks="+c.markDir)
	hangRun := fleet.TargetRunID(hangID, 0)
	c.waitFor(time.Minute, "the hanging step to start", hanging, func() bool { return len(c.marks(hangRun+".hang")) == 1 })
	hung := pids(t, c.marks(hangRun + ".hang")[0])
	cancelAt := time.Now()
	canceller := c.start("rbflow-cancel", filepath.Join(c.bin, "rbflow"), "cancel", hangID, "--temporal", c.addr, "--key-file", c.key)
	for _, pid := range hung {
		c.waitFor(15*time.Second, fmt.Sprintf("process %d of the cancelled step to end", pid), nil, func() bool { return !testkit.Alive(pid) })
	}
	t.Logf("rbflow cancel reached the running step's processes in %s", time.Since(cancelAt).Round(time.Millisecond))
	out, errs, code = c.wait(canceller, time.Minute)
	if code != 0 || !strings.Contains(out, "cancel requested") || !strings.Contains(out, hangRun+" cancelled") {
		t.Errorf("rbflow cancel: exit %d, want 0 and the run cancelled\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	c.wait(hanging, time.Minute)
	if got := c.marks(hangRun + ".fin"); len(got) != 1 {
		t.Errorf("finally after a cancel ran %d times (%q), want once", len(got), got)
	}
	if got := c.marks(hangRun + ".later"); len(got) != 0 {
		t.Errorf("a step after the cancelled one ran: %q", got)
	}
	o := outcome(t, c.fleetStatus(hangID), "b")
	if o.Status != string(engine.RunCancelled) || stepOf(o, "hang") != string(engine.StepCancelled) || stepOf(o, "fin") != string(engine.StepSucceeded) {
		t.Errorf("status after cancel: run %s, hang %s, fin %s; want cancelled, cancelled, succeeded", o.Status, stepOf(o, "hang"), stepOf(o, "fin"))
	}
	if r, _ := c.localStatus(repoB, hangRun); r.Status != string(engine.RunCancelled) {
		t.Errorf("rbflow status %s in %s: %s, want cancelled", hangRun, repoB, r.Status)
	}

	// Temporal holds no secret in clear: not in any workflow's history,
	// nor in the server's database files.
	c.noSecretInHistory(secret, runID, repoA, repoB)

	// RBFLOW_RECORD_REPLAY=1 make test-fleet records the histories the
	// replay tests of make test replay (engine/fleet/replay_test.go).
	if os.Getenv("RBFLOW_RECORD_REPLAY") != "" {
		c.recordReplay("ask", askID)
		c.recordReplay("cancel", hangID)
	}

	// Per-step overhead: the same procedure of N steps, locally and on
	// the fleet.
	c.overhead(repoB)
	_ = workerA
}

// noSecretInHistory searches every workflow's history, as the Temporal CLI
// shows it, and the server's database files for the secret.
func (c *cluster) noSecretInHistory(secret, runID string, repos ...string) {
	t := c.t
	t.Helper()
	list := exec.Command(c.temporal, "workflow", "list", "--address", c.addr, "--output", "json")
	list.Env = c.env
	raw, err := list.Output()
	if err != nil {
		t.Fatalf("temporal workflow list: %v", err)
	}
	var wfs []struct {
		Execution struct {
			WorkflowID string `json:"workflowId"`
			RunID      string `json:"runId"`
		} `json:"execution"`
	}
	if err := json.Unmarshal(raw, &wfs); err != nil {
		// Some versions print one object per line.
		dec := json.NewDecoder(bytes.NewReader(raw))
		wfs = wfs[:0]
		for dec.More() {
			var w struct {
				Execution struct {
					WorkflowID string `json:"workflowId"`
					RunID      string `json:"runId"`
				} `json:"execution"`
			}
			if err := dec.Decode(&w); err != nil {
				t.Fatalf("temporal workflow list --output json: %v:\n%s", err, raw)
			}
			wfs = append(wfs, w)
		}
	}
	var ids []string
	sealed := 0
	for _, w := range wfs {
		ids = append(ids, w.Execution.WorkflowID)
		show := exec.Command(c.temporal, "workflow", "show", "--address", c.addr, "--output", "json",
			"--workflow-id", w.Execution.WorkflowID, "--run-id", w.Execution.RunID)
		show.Env = c.env
		hist, err := show.Output()
		if err != nil {
			t.Fatalf("temporal workflow show %s: %v", w.Execution.WorkflowID, err)
		}
		if bytes.Contains(hist, []byte(secret)) {
			t.Errorf("the history of %s holds the secret in clear", w.Execution.WorkflowID)
		}
		// The check is worth something only if the payloads are there,
		// sealed (the encoding is base64 in the CLI's JSON).
		sealed += bytes.Count(hist, []byte(b64(fleet.Encoding)))
	}
	if !slices.Contains(ids, "rbflow/incident/"+runID) {
		t.Fatalf("temporal workflow list does not show the incident %s: %q", runID, ids)
	}
	if sealed == 0 {
		t.Errorf("no payload sealed by the codec (%s) in any history: the search above looked at nothing", fleet.Encoding)
	}
	files, _ := filepath.Glob(c.db + "*")
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the server's database file %s holds the secret in clear", f)
		}
		found = found || bytes.Contains(b, []byte("rbflow/incident/"+runID))
	}
	if !found {
		t.Errorf("the server's database files %q do not hold the incident's workflow id: the search above looked at the wrong files", files)
	}
	// Nor does either host's state folder (its store, logs and reports).
	for _, repo := range repos {
		state := filepath.Join(repo, ".git", "rbflow")
		n := 0
		err := filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			n++
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the secret in clear", path)
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Errorf("state folder %s: %d files, %v", state, n, err)
		}
	}
}

// replayDir is where the replay tests find recorded histories.
const replayDir = "../../engine/fleet/testdata/replay"

// recordReplay writes the history of the incident runID and of its first
// target's procedure workflow, as the server holds them, every payload
// opened with the test's key, to replayDir/server-NAME-incident.json and
// server-NAME-procedure.json.
func (c *cluster) recordReplay(name, runID string) {
	t := c.t
	t.Helper()
	key, err := fleet.LoadKey(c.key, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	codec, err := fleet.NewCodec(key)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(client.Options{HostPort: c.addr, Logger: log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	incident := c.history(cl, codec, "rbflow/incident/"+runID, "")
	var child *commonpb.WorkflowExecution
	for _, e := range incident.Events {
		if a := e.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			child = a.WorkflowExecution
			break
		}
	}
	if child == nil {
		t.Fatalf("the history of incident %s started no procedure workflow", runID)
	}
	proc := c.history(cl, codec, child.WorkflowId, child.RunId)
	for file, h := range map[string]*historypb.History{"server-" + name + "-incident.json": incident, "server-" + name + "-procedure.json": proc} {
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(replayDir, file), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recorded %s: %d events", file, len(h.Events))
	}
}

// history is a workflow's history with its payloads opened by codec.
func (c *cluster) history(cl client.Client, codec *fleet.Codec, workflowID, runID string) *historypb.History {
	t := c.t
	t.Helper()
	ctx := context.Background()
	h := &historypb.History{}
	it := cl.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	err := proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return codec.Decode(p)
		},
	})
	if err != nil {
		t.Fatalf("open the payloads of %s: %v", workflowID, err)
	}
	return h
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// overhead times N steps of /usr/bin/true locally and on the fleet, a few
// rounds each, and logs both and their ratio. It asserts only that both
// succeed: timings are not assertions.
func (c *cluster) overhead(fleetRepo string) {
	t := c.t
	t.Helper()
	const n, rounds = 20, 3
	var b strings.Builder
	b.WriteString("version: 1\nname: e2e-overhead\nsteps:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: s%02d\n    run: /usr/bin/true\n", i)
	}
	proc := filepath.Join(c.dir, "overhead.yaml")
	testkit.WriteFile(t, proc, b.String())
	local := testkit.GitRepo(t, map[string]string{"README.md": "local\n"})
	var locals, fleets, ratios []float64
	for range rounds {
		start := time.Now()
		if out, errs, code := c.rbflow(local, "run", proc); code != 0 {
			t.Fatalf("local rbflow run: exit %d\n%s\n%s", code, out, errs)
		}
		l := time.Since(start).Seconds()
		start = time.Now()
		if out, errs, code := c.rbflow(c.dir, "run", proc, "--temporal", c.addr, "--key-file", c.key, "--on", "b:"+fleetRepo); code != 0 {
			t.Fatalf("fleet rbflow run: exit %d\n%s\n%s", code, out, errs)
		}
		f := time.Since(start).Seconds()
		locals, fleets, ratios = append(locals, l), append(fleets, f), append(ratios, f/l)
	}
	perStep := make([]float64, rounds)
	for i := range rounds {
		perStep[i] = (fleets[i] - locals[i]) / n * 1000
	}
	t.Logf("%d steps of /usr/bin/true, %d rounds, min/median/max: local %s s, fleet %s s, fleet/local %s, fleet's extra per step %s ms",
		n, rounds, testkit.Spread(locals), testkit.Spread(fleets), testkit.Spread(ratios), testkit.Spread(perStep))
}
