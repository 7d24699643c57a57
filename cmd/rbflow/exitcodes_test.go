package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestExitCodes (SPEC §3, issue 15): every command keeps to the table —
// 0 success, 1 the run failed, 2 usage or validation error, 3 the lock is
// held, 4 waiting for a person, 130 stopped by a signal — case by case.
// Commands that only read go through Main in this process; runs are
// processes.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	empty := testkit.GitRepo(t, nil) // no runs yet
	files := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(files, name)
		testkit.WriteFile(t, p, text)
		return p
	}
	ok := write("ok.yaml", "version: 1\nname: ok\nsteps:\n  - id: a\n    run: echo fine\n")
	fails := write("fails.yaml", "version: 1\nname: fails\nsteps:\n  - id: a\n    run: exit 3\n")
	invalid := write("invalid.yaml", "version: 1\nname: invalid\nsteps:\n  - id: a\n    rn: echo\n")
	ask := write("ask.yaml", "version: 1\nname: ask\nsteps:\n  - id: go\n    prompt: Go on?\n    with: {type: confirm}\n")
	slow := write("slow.yaml", "version: 1\nname: slow\nsteps:\n  - id: a\n    run: sleep 30\n")
	dir := filepath.Join(files, "a-directory")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	if _, e, code := rbflow(t, repo, "run", ok); code != 0 {
		t.Fatalf("run ok.yaml: exit %d\n%s", code, e)
	}
	runs, _, _ := query(t, repo, "runs", "--json")
	done := between(runs, `"id":"`, `"`)

	inProcess := []struct {
		args []string
		dir  string
		want int
	}{
		{[]string{"version"}, repo, 0},
		{[]string{"list"}, repo, 0},
		{[]string{"status", done}, repo, 0},
		{[]string{"validate", ok}, repo, 0},
		{[]string{"nosuch"}, repo, 2},
		{[]string{"status", "--nosuch-flag"}, repo, 2},
		{[]string{"validate", invalid}, repo, 2},
		{[]string{"validate", filepath.Join(files, "nosuch.yaml")}, repo, 2},
		{[]string{"validate", dir}, repo, 2},
		{[]string{"validate", ok, dir}, repo, 2},
		{[]string{"graph", filepath.Join(files, "nosuch.yaml")}, repo, 2},
		{[]string{"graph", ok, "--format", "png"}, repo, 2},
		{[]string{"show", "nosuch"}, repo, 2},
		{[]string{"approve", filepath.Join(files, "nosuch.yaml")}, repo, 2},
		{[]string{"runs", "--repo", "/nonexistent"}, repo, 2},
		{[]string{"status"}, empty, 2},
		{[]string{"resume"}, empty, 2},
		{[]string{"resume", done}, repo, 2},
		{[]string{"resume", "nosuch-run"}, repo, 2},
		{[]string{"retry", "nosuch-run"}, repo, 2},
		{[]string{"retry", done, "--from", "nosuch"}, repo, 2},
		{[]string{"status", "nosuch-run"}, repo, 2},
		{[]string{"logs", "nosuch-run"}, repo, 2},
		{[]string{"undo", "nosuch-run"}, repo, 2},
		{[]string{"cancel", "nosuch-run"}, repo, 2},
		{[]string{"answer", "nosuch-run", "go=yes"}, repo, 2},
		{[]string{"answer", done, "go=yes"}, repo, 2},
		{[]string{"answer", done}, repo, 2},
		{[]string{"checklist", "nosuch-run"}, repo, 2},
		{[]string{"snapshots", "nosuch-run"}, repo, 2},
		{[]string{"metrics", "--since", "garbage"}, repo, 2},
	}
	for _, c := range inProcess {
		args := c.args
		if len(args) < 2 || args[len(args)-2] != "--repo" {
			args = append(args, "--repo", c.dir)
		}
		var o, e strings.Builder
		if code := Main(args, strings.NewReader(""), &o, &e); code != c.want {
			t.Errorf("rbflow %s: exit %d, want %d\n%s%s", strings.Join(c.args, " "), code, c.want, o.String(), e.String())
		}
	}

	processes := []struct {
		args []string
		want int
	}{
		{[]string{"run", ok}, 0},
		{[]string{"run", fails}, 1},
		{[]string{"run", invalid}, 2},
		{[]string{"run", filepath.Join(files, "nosuch.yaml")}, 2},
		{[]string{"run", dir}, 2},
		{[]string{"run", ok, "--repo", "/nonexistent"}, 2},
		{[]string{"run", ok, "--set", "=x"}, 2},
		{[]string{"run", ask}, 4},
	}
	for _, c := range processes {
		if o, e, code := rbflow(t, repo, c.args...); code != c.want {
			t.Errorf("rbflow %s: exit %d, want %d\n%s%s", strings.Join(c.args, " "), code, c.want, o, e)
		}
	}

	// 3: another run holds the lock; 130: that run is stopped by SIGINT.
	cmd := rbflowCmd(t, repo, "run", slow)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the slow run to hold the lock", func() bool {
		out, _, _ := query(t, repo, "status")
		return strings.Contains(out, "slow") && strings.Contains(out, "running")
	})
	if o, e, code := rbflow(t, repo, "run", ok); code != 3 {
		t.Errorf("run while another holds the lock: exit %d, want 3\n%s%s", code, o, e)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("run stopped by SIGINT: exit %d (%v), want 130", code, err)
	}
}

// TestClosedStdoutDoesNotStopRun (SPEC §3, issue 15): rbflow run ... | head
// died of SIGPIPE (exit 141), leaving the later steps and finally unrun and
// the run interrupted. Now the run goes on to its end, its output to the
// logs, and exits as the run ended.
func TestClosedStdoutDoesNotStopRun(t *testing.T) {
	t.Parallel()
	repo := testkit.GitRepo(t, nil)
	marker := filepath.Join(t.TempDir(), "finally-ran")
	proc := filepath.Join(t.TempDir(), "p.yaml")
	testkit.WriteFile(t, proc, "version: 1\nname: chatty\nsteps:\n  - id: a\n    run: seq 1 20000\n  - id: b\n    run: seq 1 20000\n"+
		"finally:\n  - id: f\n    run: touch "+marker+"\n")
	for _, extra := range [][]string{nil, {"--json"}} {
		cmd := rbflowCmd(t, repo, append([]string{"run", proc}, extra...)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := out.Read(buf); err != nil {
			t.Fatal(err)
		}
		out.Close() // what head does after its lines
		err = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("run %v with stdout closed: exit %d (%v), want 0", extra, code, err)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("run %v with stdout closed: finally did not run", extra)
		}
		os.Remove(marker)
		runs, _, _ := query(t, repo, "runs", "--json")
		id := between(runs, `"id":"`, `"`)
		if st, _, _ := query(t, repo, "status", id, "--json"); !strings.Contains(st, `"status": "succeeded"`) {
			t.Errorf("run %v with stdout closed: status\n%s", extra, st)
		}
		if logs, _, code := query(t, repo, "logs", id, "b"); code != 0 || !strings.Contains(logs, "\n20000\n") {
			t.Errorf("run %v with stdout closed: the log of b lacks its last line (exit %d): ...%q", extra, code, logs[max(0, len(logs)-200):])
		}
	}
}
