package fleet_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/fleet"
)

// realTarget is t with the real path of its repository: what its lock id
// is made of.
func realTarget(t *testing.T, tg fleet.Target) fleet.Target {
	t.Helper()
	p, err := filepath.EvalSymlinks(tg.Path)
	if err != nil {
		t.Fatal(err)
	}
	return fleet.Target{Host: tg.Host, Path: p}
}

// link makes a symbolic link to dir, in a folder of its own.
func link(t *testing.T, dir string) string {
	t.Helper()
	l := filepath.Join(t.TempDir(), "current")
	if err := os.Symlink(dir, l); err != nil {
		t.Fatal(err)
	}
	return l
}

// childIDs records the ids of the child workflows the environment starts.
func (f *fixture) childIDs() func() []string {
	var mu sync.Mutex
	var ids []string
	f.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		mu.Lock()
		ids = append(ids, info.WorkflowExecution.ID)
		mu.Unlock()
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ids...)
	}
}

func (f *fixture) incident(targets ...fleet.Target) *fleet.IncidentOutcome {
	f.t.Helper()
	f.host.Register(f.env)
	proc := f.input(`version: 1
name: everywhere
steps:
  - id: mark
    run: echo "$RBFLOW_RUN_ID" >> mark.txt
`, nil)
	f.env.ExecuteWorkflow(fleet.IncidentWorkflow, fleet.IncidentInput{RunID: "20261130-120000-abcdef", Targets: targets, Procedure: proc})
	if err := f.env.GetWorkflowError(); err != nil {
		f.t.Fatal(err)
	}
	var out fleet.IncidentOutcome
	if err := f.env.GetWorkflowResult(&out); err != nil {
		f.t.Fatal(err)
	}
	return &out
}

// TestFleetIncidentOneRepositoryTwice: two spellings of one repository in
// one incident (its path and a symbolic link to it)
// refuse the incident before anything starts, naming both (a folder
// inside a repository is that repository); so does a path
// the host's worker was not given, naming the worker's repositories.
func TestFleetIncidentOneRepositoryTwice(t *testing.T) {
	cases := []struct {
		name  string
		paths func(repo string) []string
		want  func(repo string) string
	}{
		{"symlink", func(repo string) []string { return []string{repo, link(t, repo)} }, func(repo string) string {
			return "and --on web1:"
		}},
		{"a folder inside it", func(repo string) []string {
			if err := os.Mkdir(filepath.Join(repo, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			return []string{filepath.Join(repo, "sub"), repo}
		}, func(repo string) string {
			return "/sub and --on web1:"
		}},
		{"not served", func(repo string) []string { return []string{repo, "/srv/elsewhere"} }, func(repo string) string {
			return "--on web1:/srv/elsewhere: host web1 does not serve /srv/elsewhere (its worker was given --repo " + realTarget(t, fleet.Target{Path: repo}).Path + ")"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			ids := f.childIDs()
			var targets []fleet.Target
			for _, p := range c.paths(f.repo) {
				targets = append(targets, fleet.Target{Host: "web1", Path: filepath.Clean(p)})
			}
			out := f.incident(targets...)
			if want := c.want(f.repo); !strings.Contains(out.Refused, want) {
				t.Errorf("Refused = %q, want it to contain %q", out.Refused, want)
			}
			if c.name == "symlink" {
				want := "--on " + targets[0].String() + " and --on " + targets[1].String() + " are one repository, " + realTarget(t, targets[0]).Path + " on web1: give it once"
				if out.Refused != want {
					t.Errorf("Refused = %q, want %q", out.Refused, want)
				}
			}
			if got := ids(); len(got) != 0 {
				t.Errorf("child workflows %q started, want none", got)
			}
			for i, o := range out.Runs {
				if o.Status != engine.RunFailed || o.Error == "" {
					t.Errorf("target %d: %s %q, want failed with why", i, o.Status, o.Error)
				}
			}
			if _, err := os.Stat(filepath.Join(f.repo, "mark.txt")); !os.IsNotExist(err) {
				t.Errorf("mark.txt: %v, want no step run", err)
			}
		})
	}
}

// TestFleetIncidentLockByRealPath: the lock id of a target given by a
// symbolic link is its repository's real path; an incident on the link
// cannot start while another on the real path holds the repository, and
// is told which workflow holds it.
func TestFleetIncidentLockByRealPath(t *testing.T) {
	f := newFixture(t)
	f.host.Register(f.env)
	ids := f.childIDs()
	real := realTarget(t, fleet.Target{Host: "web1", Path: f.repo})
	viaLink := fleet.Target{Host: "web1", Path: link(t, f.repo)}
	// The first incident waits on a prompt, holding the repository; the
	// second starts meanwhile; then the first is cancelled.
	proc := f.input(`version: 1
name: hold
steps:
  - id: ask
    prompt: Go on?
    with: {type: confirm}
  - id: after
    run: echo "$RBFLOW_RUN_ID" >> after.txt
`, nil)
	f.env.RegisterWorkflowWithOptions(func(ctx workflow.Context) ([]*fleet.IncidentOutcome, error) {
		actx, cancelFirst := workflow.WithCancel(ctx)
		first := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(actx, workflow.ChildWorkflowOptions{
			WorkflowID: "rbflow/incident/first", WaitForCancellation: true,
		}), fleet.IncidentWorkflow, fleet.IncidentInput{RunID: "20261130-120000-aaaaaa", Targets: []fleet.Target{{Host: "web1", Path: f.repo}}, Procedure: proc})
		// The environment fires this timer once every workflow waits:
		// the first incident's run, on its prompt.
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return nil, err
		}
		var second fleet.IncidentOutcome
		if err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "rbflow/incident/second"}),
			fleet.IncidentWorkflow, fleet.IncidentInput{RunID: "20261130-120000-bbbbbb", Targets: []fleet.Target{viaLink}, Procedure: proc}).Get(ctx, &second); err != nil {
			return nil, err
		}
		cancelFirst()
		var one fleet.IncidentOutcome
		_ = first.Get(ctx, &one)
		return []*fleet.IncidentOutcome{&one, &second}, nil
	}, workflow.RegisterOptions{Name: "two-incidents"})
	f.env.ExecuteWorkflow("two-incidents")
	if err := f.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var outs []*fleet.IncidentOutcome
	if err := f.env.GetWorkflowResult(&outs); err != nil {
		t.Fatal(err)
	}
	lock := fleet.LockID(real)
	second := outs[1].Runs[0]
	if want := "repository " + viaLink.String() + " is held by another incident (workflow " + lock + " is open)"; second.Status != engine.RunFailed || !strings.Contains(second.Error, want) {
		t.Errorf("the incident on the link: %s %q, want failed: %q", second.Status, second.Error, want)
	}
	var procs []string
	for _, id := range ids() {
		if strings.HasPrefix(id, "rbflow/repo/") {
			procs = append(procs, id)
		}
	}
	if len(procs) != 1 || procs[0] != lock {
		t.Errorf("procedure workflows started %q, want one: %q", procs, lock)
	}
	if _, err := os.Stat(filepath.Join(f.repo, "after.txt")); !os.IsNotExist(err) {
		t.Errorf("after.txt: %v, want neither incident past the prompt", err)
	}
}
