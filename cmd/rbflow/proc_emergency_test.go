package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// The built-in emergency procedure (the seed's Level 1) on a seed-shaped
// repository, with the demo's backend and frontend started as services.

// httpGet returns the body of url, or "" when it does not answer 200.
func httpGet(url string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// servicePID returns the pid a service step recorded.
func servicePID(t *testing.T, st runJSON, step string) int {
	t.Helper()
	pid, _ := stepOf(t, st, step).Outputs["pid"].(float64)
	if pid <= 0 {
		t.Fatalf("step %s recorded no pid: %v", step, stepOf(t, st, step).Outputs)
	}
	return int(pid)
}

// stopAtEnd stops the services rbflow started in dir when the test ends,
// by what rbflow recorded of them, whatever became of the test.
func stopAtEnd(t *testing.T, dir string) {
	t.Helper()
	down := stopProcedure(t)
	t.Cleanup(func() { _, _, _ = rbflow(t, dir, "run", down, "-q") })
}

// stopServices stops the backend and frontend by their names, as any later
// run of this repository can.
func stopServices(t *testing.T, dir string) {
	t.Helper()
	if o, e, code := rbflow(t, dir, "run", stopProcedure(t), "-q"); code != 0 {
		t.Fatalf("stopping the services: exit %d\n%s%s", code, o, e)
	}
}

// stopProcedure writes a procedure that stops the backend and frontend.
func stopProcedure(t *testing.T) string {
	t.Helper()
	down := filepath.Join(t.TempDir(), "down.yaml")
	testkit.WriteFile(t, down, `version: 1
name: down
steps:
  - id: backend
    service: stop
    with: {name: backend, grace: 2s}
  - id: frontend
    service: stop
    with: {name: frontend, grace: 2s}
`)
	return down
}

func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the demo frontend needs it")
	}
}

// emergencyArgs are the params of an emergency run on a seed repository
// with both services on the given ports; the backend is checked by HTTP,
// the frontend by TCP (the default).
func emergencyArgs(backendStart string, backend, frontend int) []string {
	return []string{"run", "emergency",
		"--set", "backend_start=" + backendStart,
		"--set", fmt.Sprintf("backend_port=%d", backend),
		"--set", fmt.Sprintf("backend_ready=http://127.0.0.1:%d/health", backend),
		"--set", "frontend_start=node src/server.js",
		"--set", fmt.Sprintf("frontend_port=%d", frontend),
		"--set", "reason=checkout is down",
		"--set", "test_command=true",
	}
}

func TestEmergencyRollbackRestartsServices(t *testing.T) {
	t.Parallel()
	needNode(t)
	dir := seedRepo(t)
	stopAtEnd(t, dir)
	baseline := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "baseline"))
	// Leftovers the clean removes: stale bytecode (ignored) and a build
	// folder (untracked).
	stale := filepath.Join("backend", "app", "__pycache__", "pricing.cpython-311.pyc")
	testkit.WriteFile(t, filepath.Join(dir, stale), "stale")
	testkit.WriteFile(t, filepath.Join(dir, "frontend", "dist", "bundle.js"), "stale")
	before := manifest(t, dir)
	backend, frontend := testkit.FreePort(t), testkit.FreePort(t)

	out, errOut, code := rbflow(t, dir, emergencyArgs("python3 -m app.server", backend, frontend)...)
	if code != 0 {
		t.Fatalf("run emergency: exit %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, dir)
	st := statusOf(t, dir, id)
	backendPID := servicePID(t, st, "start_services.0")
	frontendPID := servicePID(t, st, "start_services.1")

	// Git and disk: the baseline, clean, the kept .env still there.
	if br := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); br != "baseline" {
		t.Errorf("on branch %q, want baseline", br)
	}
	if head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD")); head != baseline {
		t.Errorf("HEAD %s, want the baseline %s", head, baseline)
	}
	var left []string
	for _, l := range strings.Split(strings.TrimSpace(testkit.Git(t, dir, "status", "--porcelain", "--ignored")), "\n") {
		if !strings.Contains(l, "__pycache__") { // the backend running now writes its own
			left = append(left, l)
		}
	}
	if strings.Join(left, "\n") != "!! .env" {
		t.Errorf("git status --ignored after the rollback: %q, want only the kept .env", left)
	}
	if got := testkit.Git(t, dir, "diff", "baseline", "--stat"); got != "" {
		t.Errorf("the tree differs from the baseline:\n%s", got)
	}
	for _, gone := range []string{"backend/app/notes.py", stale, "frontend/dist"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); err == nil {
			t.Errorf("%s is still there after the clean", gone)
		}
	}
	for _, s := range []string{"stop_services", "stop_services.0", "stop_services.1", "deps_backend", "deps_frontend", "start_services", "verify", "record"} {
		if got := stepOf(t, st, s).Status; got != "succeeded" {
			t.Errorf("step %s %s, want succeeded", s, got)
		}
	}
	if got := stepOf(t, st, "deps_go").Status; got != "skipped" {
		t.Errorf("deps_go %s without a go.mod, want skipped", got)
	}

	// The services answer, started from the baseline's code.
	if got := httpGet(fmt.Sprintf("http://127.0.0.1:%d/health", backend)); got != "ok\n" {
		t.Errorf("backend /health answered %q, want ok", got)
	}
	if got := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", frontend)); got != "frontend\n" {
		t.Errorf("frontend answered %q", got)
	}
	if m := metricsOf(t, dir); m.ByLevel["emergency"] != 1 || m.BySeverity["critical"] != 1 || m.ByCause["checkout is down"] != 1 {
		t.Errorf("metrics: %+v, want the critical emergency rollback counted with its cause", m)
	}
	summary, err := os.ReadFile(filepath.Join(dir, ".git", "rbflow", "runs", id, "summary.md"))
	if err != nil || !strings.Contains(string(summary), "against a target of 5m0s: within it") {
		t.Errorf("summary (%v) does not give the time against the 5m target:\n%s", err, summary)
	}

	// A second emergency run stops what the first started, by name, and
	// starts it again.
	out, errOut, code = rbflow(t, dir, emergencyArgs("python3 -m app.server", backend, frontend)...)
	if code != 0 {
		t.Fatalf("second emergency run: exit %d\n%s%s", code, out, errOut)
	}
	id2 := lastRunID(t, dir)
	st2 := statusOf(t, dir, id2)
	if stepOf(t, st2, "stop_services.0").Outputs["stopped"] != true || testkit.Alive(backendPID) || testkit.Alive(frontendPID) {
		t.Errorf("the second run did not stop the services the first started: %v", stepOf(t, st2, "stop_services.0").Outputs)
	}
	servicePID(t, st2, "start_services.0")
	servicePID(t, st2, "start_services.1")
	if got := httpGet(fmt.Sprintf("http://127.0.0.1:%d/health", backend)); got != "ok\n" {
		t.Errorf("backend after the second run answered %q", got)
	}
	stopServices(t, dir)
	if got := httpGet(fmt.Sprintf("http://127.0.0.1:%d/health", backend)); got != "" {
		t.Errorf("backend still answers after service: stop: %q", got)
	}

	// Undo the second run (nothing to bring back but its own state), then
	// the first: the tree from before the rollback, byte for byte.
	if o, e, code := rbflow(t, dir, "undo", id2); code != 0 {
		t.Fatalf("undo %s: exit %d\n%s%s", id2, code, o, e)
	}
	if o, e, code := rbflow(t, dir, "undo", id); code != 0 {
		t.Fatalf("undo %s: exit %d\n%s%s", id, code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
}

// REMOTE/BASELINE wins over the local baseline when it exists; the
// baseline branch itself is required.
func TestEmergencyPrefersTheRemoteBaseline(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	testkit.Git(t, dir, "clone", "-q", "--bare", dir, origin)
	work := filepath.Join(t.TempDir(), "work")
	testkit.Git(t, dir, "clone", "-q", "-b", "baseline", origin, work)
	testkit.WriteFile(t, filepath.Join(work, "backend", "app", "hotfix.py"), "FIXED = True\n")
	testkit.Git(t, work, "add", "-A")
	testkit.Git(t, work, "commit", "-q", "-m", "Hotfix on the remote baseline")
	testkit.Git(t, work, "push", "-q", "origin", "baseline")
	testkit.Git(t, dir, "remote", "add", "origin", origin)
	testkit.Git(t, dir, "fetch", "-q", "origin")
	remote := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "origin/baseline"))

	out, errOut, code := rbflow(t, dir, "run", "emergency", "--set", "verify_tests=false")
	if code != 0 {
		t.Fatalf("run emergency: exit %d\n%s%s", code, out, errOut)
	}
	if head := strings.TrimSpace(testkit.Git(t, dir, "rev-parse", "HEAD")); head != remote {
		t.Errorf("HEAD %s, want origin/baseline %s", head, remote)
	}
	if _, err := os.Stat(filepath.Join(dir, "backend", "app", "hotfix.py")); err != nil {
		t.Errorf("the remote baseline's file is missing: %v", err)
	}

	before := manifest(t, dir)
	out, errOut, code = rbflow(t, dir, "run", "emergency", "--set", "baseline=nosuch")
	if code != 1 || !strings.Contains(out+errOut, "there is no branch nosuch") || !strings.Contains(out+errOut, "nothing was stopped or changed") {
		t.Errorf("emergency to a missing baseline: exit %d, want 1 and a clear refusal\n%s%s", code, out, errOut)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("the refused run changed the tree")
	}
}

// An emergency rollback killed with SIGKILL while it waits for the
// restarted backend is finished by rbflow resume --yes: the backend it
// started is adopted, not started twice, and the end state is that of an
// uninterrupted run.
func TestEmergencyKilledWhileServicesStartResumes(t *testing.T) {
	t.Parallel()
	needNode(t)
	aux := t.TempDir()
	gate := filepath.Join(aux, "gate")
	gated := fmt.Sprintf("while [ ! -f %q ]; do sleep 0.1; done; exec python3 -m app.server", gate)

	want := seedRepo(t)
	stopAtEnd(t, want)
	testkit.WriteFile(t, gate, "")
	wb, wf := testkit.FreePort(t), testkit.FreePort(t)
	if o, e, code := rbflow(t, want, emergencyArgs(gated, wb, wf)...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}
	wst := statusOf(t, want, lastRunID(t, want))
	servicePID(t, wst, "start_services.0")
	servicePID(t, wst, "start_services.1")
	stopServices(t, want)
	if err := os.Remove(gate); err != nil {
		t.Fatal(err)
	}

	dir := seedRepo(t)
	stopAtEnd(t, dir)
	backend, frontend := testkit.FreePort(t), testkit.FreePort(t)
	cmd := rbflowCmd(t, dir, emergencyArgs(gated, backend, frontend)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testkit.WaitFor(t, 60*time.Second, "the backend's readiness probe", func() bool {
		o := out.String()
		return strings.Contains(o, "start_services.0 | probe 1") && strings.Contains(o, "start_services.1: succeeded")
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	run, _ := stepRecords(t, filepath.Join(dir, ".git", "rbflow"))
	var started int
	if _, err := fmt.Sscanf(between(out.String(), "started service backend: pid ", ","), "%d", &started); err != nil || started <= 0 {
		t.Fatalf("no backend pid in the output (%v):\n%s", err, out.String())
	}
	if !testkit.Alive(started) {
		t.Fatalf("the backend (pid %d) died with rbflow", started)
	}

	testkit.WriteFile(t, gate, "")
	if o, e, code := rbflow(t, dir, "resume", "--yes"); code != 0 {
		t.Fatalf("resume --yes: exit %d\n%s%s", code, o, e)
	}
	st := statusOf(t, dir, run.ID)
	svc := stepOf(t, st, "start_services.0")
	if st.Status != "succeeded" || svc.Outputs["pid"] != float64(started) || svc.Outputs["started"] != false {
		t.Errorf("resumed run %s, backend %v; want the backend started before the kill (pid %d) adopted", st.Status, svc.Outputs, started)
	}
	servicePID(t, st, "start_services.1")
	if got := httpGet(fmt.Sprintf("http://127.0.0.1:%d/health", backend)); got != "ok\n" {
		t.Errorf("backend answered %q after the resume", got)
	}
	stopServices(t, dir)
	if got, want := treeState(t, dir), treeState(t, want); got != want {
		t.Errorf("killed and resumed, the tree differs from an uninterrupted run\n--- want\n%s\n--- got\n%s", want, got)
	}
}

// On a Go module the emergency rollback downloads the modules instead of
// pip and npm installs, and verifies the baseline with go test -json.
func TestEmergencyRollbackGoRepo(t *testing.T) {
	t.Parallel()
	dir := goSprintRepo(t)
	before := manifest(t, dir)
	out, errOut, code := rbflow(t, dir, "run", "emergency")
	if code != 0 {
		t.Fatalf("run emergency: exit %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, dir)
	st := statusOf(t, dir, id)
	for step, want := range map[string]string{"deps_go": "succeeded", "deps_backend": "skipped", "deps_frontend": "skipped", "start_services": "skipped", "verify": "succeeded"} {
		if got := stepOf(t, st, step).Status; got != want {
			t.Errorf("step %s %s, want %s", step, got, want)
		}
	}
	if v := stepOf(t, st, "verify").Outputs; v["format"] != "go-json" || v["passed"] != 3.0 {
		t.Errorf("verify %v, want go test -json with 3 passed", v)
	}
	if status := testkit.Git(t, dir, "status", "--porcelain", "--ignored"); status != "" {
		t.Errorf("after the rollback git status --ignored is %q, want a clean tree (cover.out and div.go removed)", status)
	}
	if o, e, code := rbflow(t, dir, "undo", id); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("after undo the tree differs from before the run\n--- want\n%s\n--- got\n%s", before, got)
	}
}

// Emergency looks before it leaps: what would make it fail after stopping
// the services (here the baseline checked out in another worktree) stops
// it before anything is stopped; a failure it could not foresee (a
// post-checkout hook that fails the switch) starts again the services it
// stopped.
func TestEmergencyChecksFirstAndRestartsWhatItStopped(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	stopAtEnd(t, dir)
	port := testkit.FreePort(t)
	args := []string{"run", "emergency",
		"--set", "backend_start=python3 -m app.server",
		"--set", fmt.Sprintf("backend_port=%d", port),
		"--set", "test_command=true"}
	health := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	if o, e, code := rbflow(t, dir, args...); code != 0 || httpGet(health) != "ok\n" {
		t.Fatalf("first emergency run: exit %d, backend %q\n%s%s", code, httpGet(health), o, e)
	}
	started := servicePID(t, statusOf(t, dir, lastRunID(t, dir)), "start_services.0")
	testkit.Git(t, dir, "switch", "-q", "refactor/sprint-3")

	other := filepath.Join(t.TempDir(), "other")
	testkit.Git(t, dir, "worktree", "add", "-q", "--detach", other)
	testkit.Git(t, other, "switch", "-q", "baseline")
	before := manifest(t, dir)
	out, errOut, code := rbflow(t, dir, args...)
	if code != 1 || !strings.Contains(out+errOut, "checked out in another worktree") || !strings.Contains(out+errOut, "nothing was stopped or changed") {
		t.Errorf("emergency with the baseline checked out elsewhere: exit %d, want 1 and a refusal naming the worktree\n%s%s", code, out, errOut)
	}
	if !testkit.Alive(started) || httpGet(health) != "ok\n" {
		t.Errorf("the refused run stopped the backend (pid %d)", started)
	}
	if got := manifest(t, dir); got != before {
		t.Errorf("the refused run changed the tree")
	}
	testkit.Git(t, other, "switch", "-q", "--detach")

	hook := filepath.Join(dir, ".git", "hooks", "post-checkout")
	testkit.WriteFile(t, hook, "#!/bin/sh\necho the hook says no >&2\nexit 1\n")
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = rbflow(t, dir, args...)
	st := statusOf(t, dir, lastRunID(t, dir))
	if code != 1 || stepOf(t, st, "to_baseline").Status != "failed" {
		t.Fatalf("emergency with a failing hook: exit %d, to_baseline %s; want it to fail there\n%s%s", code, stepOf(t, st, "to_baseline").Status, out, errOut)
	}
	if stepOf(t, st, "stop_services.0").Outputs["stopped"] != true || testkit.Alive(started) {
		t.Errorf("the run did not stop the backend first: %v", stepOf(t, st, "stop_services.0").Outputs)
	}
	if got := stepOf(t, st, "restart_services.0").Status; got != "succeeded" || httpGet(health) != "ok\n" {
		t.Errorf("restart_services.0 %s, backend answers %q: want the stopped backend started again", got, httpGet(health))
	}
	if rs := stepOf(t, st, "restart_services"); rs.Outputs["succeeded"] != 1.0 || rs.Outputs["skipped"] != 1.0 {
		t.Errorf("restart_services outputs %v: want the backend restarted and the frontend (not stopped: never started) skipped", rs.Outputs)
	}
	if got := stepOf(t, st, "services_down").Status; got != "skipped" {
		t.Errorf("services_down %s with every service back, want skipped", got)
	}
}

// Outside a git repository a procedure that uses git refuses at the start
// (SPEC §4.1) and runs nothing; one without git steps still runs.
func TestGitProceduresRefuseOutsideGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	for _, args := range [][]string{{"run", "emergency"}, {"run", "selective", "--set", "files=a.py"}} {
		out, errOut, code := rbflow(t, dir, append(args, "--state", state)...)
		if code != 2 || !strings.Contains(errOut, "not a git repository") || strings.Contains(out+errOut, "fatal:") {
			t.Errorf("rbflow %v outside git: exit %d, want 2 and \"not a git repository\"\n%s%s", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "runs")); err == nil {
		if runs, _ := os.ReadDir(filepath.Join(state, "runs")); len(runs) > 0 {
			t.Errorf("the refused runs left %d run folders", len(runs))
		}
	}
	// A function that asks git counts as using git, as a git step does.
	asks := filepath.Join(dir, "asks.yaml")
	testkit.WriteFile(t, asks, "version: 1\nname: asks\nsteps:\n  - id: hi\n    run: echo hi\n  - id: where\n    run: echo ${{ current_branch() }}\n")
	if o, e, code := rbflow(t, dir, "run", asks, "--state", state); code != 2 || !strings.Contains(e, "uses git (step where, current_branch())") {
		t.Errorf("a procedure calling current_branch() outside git: exit %d, want 2 naming the step and the function\n%s%s", code, o, e)
	}
	plain := filepath.Join(dir, "plain.yaml")
	testkit.WriteFile(t, plain, "version: 1\nname: plain\nsteps:\n  - id: hi\n    run: echo hi\n")
	if o, e, code := rbflow(t, dir, "run", plain, "--state", state); code != 0 {
		t.Errorf("a procedure without git outside git: exit %d\n%s%s", code, o, e)
	}
}

// TestStatePerDirectoryOutsideGit (SPEC §4.1): outside git, each directory
// keeps its runs in a folder of its own under $XDG_STATE_HOME/rbflow/dirs
// (one folder was shared by every non-git directory: runs, locks and
// services of unrelated directories mixed).
func TestStatePerDirectoryOutsideGit(t *testing.T) {
	t.Parallel()
	xdg := t.TempDir()
	root := t.TempDir()
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := rbflowCmd(t, dir, args...)
		cmd.Env = append(cmd.Env, "XDG_STATE_HOME="+xdg, "RBFLOW_STATE=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rbflow %v in %s: %v\n%s", args, dir, err, out)
		}
		return string(out)
	}
	var ids []string
	for _, name := range []string{"a", "b c"} {
		dir := filepath.Join(root, name)
		testkit.WriteFile(t, filepath.Join(dir, "p.yaml"), "version: 1\nname: p\nsteps:\n  - id: hi\n    run: echo hi from $PWD\n")
		run(dir, "run", "p.yaml", "-q")
		out := run(dir, "runs", "--json")
		if n := strings.Count(out, `"id"`); n != 1 {
			t.Errorf("rbflow runs in %s lists %d runs, want its own one:\n%s", name, n, out)
		}
		ids = append(ids, out)
	}
	if ids[0] == ids[1] {
		t.Errorf("the two directories list the same run")
	}
	dirs, _ := filepath.Glob(filepath.Join(xdg, "rbflow", "dirs", "*", "state.db"))
	if len(dirs) != 2 || !strings.Contains(strings.Join(dirs, "\n"), "/a-") || !strings.Contains(strings.Join(dirs, "\n"), "/b c-") {
		t.Errorf("state folders under $XDG_STATE_HOME/rbflow/dirs: %v, want one for a and one for \"b c\"", dirs)
	}
}

// TestEmergencyBrokenTestRunner (issue 14): the detected runner is
// python3 -m pytest, and this python3 has no pytest. Before, emergency
// printed ✅ and exit 0 with "no pytest summary line … output was cut". Now
// the check says, before anything changes, that the runner does not work
// and how to set test_command; the rollback goes on (refusing a rollback
// because pytest is missing is worse), and the run ends with a warning
// naming the problem, not a plain success.
func TestEmergencyBrokenTestRunner(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	real, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to make the repository: ", err)
	}
	bin := t.TempDir()
	testkit.WriteFile(t, filepath.Join(bin, "python3"), fmt.Sprintf(`#!/bin/sh
if [ "$1" = -m ] && [ "$2" = pytest ]; then
  echo "%s: No module named pytest" >&2
  exit 1
fi
exec %s "$@"
`, real, real))
	if err := os.Chmod(filepath.Join(bin, "python3"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := rbflowCmd(t, dir, "run", "emergency", "--json")
	cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		t.Fatalf("emergency with a python3 without pytest: %v, want exit 0 with a warning\n%s%s", err, out.String(), errOut.String())
	}
	hint := "no working test runner: 'python3 -m pytest --version' failed (" + real + ": No module named pytest); the baseline's tests cannot run: set the test command with --set test_command="
	var finished map[string]any
	checkHint := false
	for _, line := range strings.Split(out.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch ev["event"] {
		case "step_output":
			if ev["step"] == "check" && strings.Contains(fmt.Sprint(ev["line"]), hint) {
				checkHint = true
			}
		case "run_finished":
			finished = ev
		}
	}
	if !checkHint {
		t.Errorf("the check step does not say the runner is broken and how to set test_command (%q):\n%s", hint, out.String())
	}
	if finished == nil || finished["status"] != "succeeded" || !strings.Contains(fmt.Sprint(finished["warnings"]), "step verify failed") || !strings.Contains(fmt.Sprint(finished["warnings"]), "no working test runner") {
		t.Errorf("run_finished = %v, want succeeded with the verify warning naming the broken runner", finished)
	}
	if strings.Contains(out.String(), "no pytest summary line") {
		t.Errorf("the old, misleading error is still shown:\n%s", out.String())
	}
}
