package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
)

// The built-in triage procedure (the seed's decision matrix and
// pre-rollback checklist) on seed-shaped repositories: each outcome of the
// matrix, checked by the level it called.

// symptoms returns --set flags for the seven symptoms; those in yes are
// "yes", the others "no", and those in ask are not set.
func symptoms(yes, ask []string) []string {
	var out []string
	for _, s := range []string{"production_down", "data_at_risk", "major_broken", "tests_failing", "perf_degraded", "users_affected", "fixable_in_30m"} {
		switch {
		case slices.Contains(ask, s):
		case slices.Contains(yes, s):
			out = append(out, "--set", s+"=yes")
		default:
			out = append(out, "--set", s+"=no")
		}
	}
	return out
}

// childRuns returns the runs called by run id.
func childRuns(t *testing.T, dir, id string) []runJSON {
	t.Helper()
	var out []runJSON
	for _, r := range allRuns(t, dir) {
		if r.ParentRun == id {
			out = append(out, r)
		}
	}
	return out
}

// selectiveStandIn is a local .rbflow/selective.yaml that shadows the
// built-in selective procedure and writes down the params it was given.
func selectiveStandIn(t *testing.T, dir, record string) {
	t.Helper()
	writeApproved(t, dir, filepath.Join(dir, ".rbflow", "selective.yaml"), fmt.Sprintf(`version: 1
name: selective
params:
  files: {type: list, required: true}
  baseline: {type: string, default: baseline}
  test_command: {type: string, default: ""}
  test_dir: {type: string, default: ""}
steps:
  - id: note
    run: |
      {
        printf 'file %%s\n' ${{ params.files }}
        printf 'baseline %%s\n' ${{ params.baseline }}
        printf 'test_command %%s\n' ${{ params.test_command }}
      } > %q
`, record))
}

func TestTriageDecisions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string // besides run triage
		severity string
		level    string // the level called, or none
		target   string
		row      string // the decision matrix row printed
		why      string
	}{
		{
			// --yes answers every symptom yes: production is down, and a
			// critical problem is rolled back even when it is fixable.
			name: "critical", args: []string{"--yes", "--set", "test_command=true"},
			severity: "critical", level: "emergency", target: "< 5 minutes",
			row: "| **critical** | Production down, data loss risk | Immediate full rollback | < 5 minutes |", why: "production is down",
		},
		{
			name: "high", args: append(symptoms([]string{"tests_failing", "users_affected"}, nil), "--set", "test_command=true"),
			severity: "high", level: "sprint", target: "< 15 minutes",
			row: "| **high** | Major features broken, tests failing | Sprint rollback | < 15 minutes |", why: "tests are failing",
		},
		{
			name: "medium", args: append(symptoms([]string{"perf_degraded"}, []string{"users_affected"}), "--answer", "ask_users_affected=no", "--set", "test_command=true"),
			severity: "medium", level: "selective", target: "< 30 minutes",
			row: "| **medium** | Performance degradation, minor bugs | Selective rollback | < 30 minutes |", why: "performance is degraded or there are minor bugs",
		},
		{
			name: "low", args: symptoms(nil, nil),
			severity: "low", level: "none", target: "Variable",
			row: "| **low** | Code quality issues, warnings | Fix forward | Variable |", why: "low severity",
		},
		{
			name: "fixable", args: symptoms([]string{"major_broken", "fixable_in_30m"}, nil),
			severity: "high", level: "none", target: "< 15 minutes",
			row: "| **high** | Major features broken, tests failing | Fix forward | < 15 minutes |", why: "fixed forward in under 30 minutes and it is not critical",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := seedRepo(t)
			record := filepath.Join(t.TempDir(), "selective-params")
			selectiveStandIn(t, dir, record)
			before := manifest(t, dir)
			args := append([]string{"run", "triage"}, c.args...)
			out, errOut, code := rbflow(t, dir, args...)
			if c.level == "sprint" {
				// The sprint number was not given: triage asks for it.
				if code != 4 || !strings.Contains(errOut, "--answer ask_sprint=") {
					t.Fatalf("triage without a sprint number: exit %d, want 4 asking for it\n%s%s", code, out, errOut)
				}
				out, errOut, code = rbflow(t, dir, "resume", "--answer", "ask_sprint=3")
			}
			if c.level == "selective" {
				if code != 4 || !strings.Contains(errOut, "--answer ask_files=") {
					t.Fatalf("triage without files: exit %d, want 4 asking for them\n%s%s", code, out, errOut)
				}
				out, errOut, code = rbflow(t, dir, "resume", "--answer", "ask_files=backend/app/pricing.py  backend/app/tax.py")
			}
			if code != 0 {
				t.Fatalf("triage: exit %d\n%s%s", code, out, errOut)
			}
			id := lastRunID(t, dir)
			st := statusOf(t, dir, id)
			decide := stepOf(t, st, "decide").Outputs
			if decide["severity"] != c.severity || decide["level"] != c.level || decide["target"] != c.target || !strings.Contains(fmt.Sprint(decide["why"]), c.why) {
				t.Errorf("decision %v, want severity %s, level %s, target %s, why %q", decide, c.severity, c.level, c.target, c.why)
			}
			assessment, err := os.ReadFile(filepath.Join(dir, ".git", "rbflow", "runs", id, "assessment.md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{c.row, "Recovery-time target: **" + c.target + "**", "1. Can it be fixed forward? (< 30 min fix):", "5. Have you saved current state?"} {
				if !strings.Contains(string(assessment), want) {
					t.Errorf("the assessment lacks %q:\n%s", want, assessment)
				}
			}
			children := childRuns(t, dir, id)
			m := metricsOf(t, dir)
			if c.level == "none" {
				if len(children) != 0 || !strings.Contains(out, "Fix forward: ") || m.Rollbacks != 0 {
					t.Errorf("fix forward: children %v, %d rollbacks recorded; want none and the reason printed\n%s", children, m.Rollbacks, out)
				}
				if got := manifest(t, dir); got != before {
					t.Errorf("fix forward changed the tree\n--- want\n%s\n--- got\n%s", before, got)
				}
				return
			}
			if len(children) != 1 || children[0].Procedure != c.level || children[0].Status != "succeeded" {
				t.Fatalf("children %+v, want one succeeded %s run", children, c.level)
			}
			if m.ByLevel[c.level] != 1 || m.BySeverity[c.severity] != 1 || m.ByCause[fmt.Sprint(decide["why"])] != 1 {
				t.Errorf("metrics %+v, want the rollback tagged %s, %s, %q", m, c.level, c.severity, decide["why"])
			}
			switch c.level {
			case "emergency":
				if br := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); br != "baseline" {
					t.Errorf("after the emergency level on branch %q, want baseline", br)
				}
				if o, e, code := rbflow(t, dir, "undo", id); code != 0 {
					t.Fatalf("undo of the triage run: exit %d\n%s%s", code, o, e)
				}
				if got := manifest(t, dir); got != before {
					t.Errorf("after undo of the triage run the tree differs from before it\n--- want\n%s\n--- got\n%s", before, got)
				}
			case "sprint":
				if br := strings.TrimSpace(testkit.Git(t, dir, "branch", "--show-current")); br != "refactor/sprint-3-retry" {
					t.Errorf("after the sprint level on branch %q, want refactor/sprint-3-retry", br)
				}
				if p := statusOf(t, dir, children[0].ID).Params; p["sprint"] != 3.0 || p["reason"] != "tests are failing" || p["test_command"] != "true" {
					t.Errorf("sprint params %v, want sprint 3, the reason and the test command", p)
				}
			case "selective":
				got := strings.Join(readLines(t, record), " ")
				if got != "file backend/app/pricing.py file backend/app/tax.py baseline baseline test_command true" {
					t.Errorf("selective got %q, want the answered files and the passed params", got)
				}
			}
		})
	}
}

// Triage killed with SIGKILL while the level it called runs is finished
// by rbflow resume --yes on the triage run: the child goes on (it is not
// started again) and the outcome is that of an uninterrupted run.
func TestTriageKilledDuringTheLevelResumes(t *testing.T) {
	t.Parallel()
	aux := t.TempDir()
	flag := filepath.Join(aux, "slow-once")
	args := func(flag string) []string {
		slow := fmt.Sprintf("if [ ! -f %[1]q ]; then touch %[1]q; sleep 60; fi; true", flag)
		return append(append([]string{"run", "triage"}, symptoms([]string{"major_broken"}, nil)...), "--set", "sprint=3", "--set", "test_command="+slow)
	}
	want := seedRepo(t)
	testkit.WriteFile(t, flag+".ref", "")
	if o, e, code := rbflow(t, want, args(flag+".ref")...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d\n%s%s", code, o, e)
	}

	dir := seedRepo(t)
	cmd := rbflowCmd(t, dir, args(flag)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testkit.WaitFor(t, 30*time.Second, "the sprint level's slow tests", func() bool { _, err := os.Stat(flag); return err == nil })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	id := lastRunID(t, dir)
	children := childRuns(t, dir, id)
	if len(children) != 1 || children[0].Status == string(engine.RunSucceeded) {
		t.Fatalf("after the kill: children %+v, want the sprint run cut off\n%s", children, out.String())
	}
	if o, e, code := rbflow(t, dir, "resume", "--yes"); code != 0 {
		t.Fatalf("resume --yes: exit %d\n%s%s", code, o, e)
	}
	after := childRuns(t, dir, id)
	if len(after) != 1 || after[0].ID != children[0].ID || after[0].Status != "succeeded" {
		t.Errorf("after resume: children %+v, want the same sprint run %s succeeded", after, children[0].ID)
	}
	if st := statusOf(t, dir, id); st.Status != "succeeded" || stepOf(t, st, "record").Status != "succeeded" {
		t.Errorf("triage run %s, record %s; want both succeeded", st.Status, stepOf(t, st, "record").Status)
	}
	if got, want := sprintOutcome(t, dir, 3), sprintOutcome(t, want, 3); got != want {
		t.Errorf("killed and resumed, the outcome differs from an uninterrupted run\n--- want\n%s\n--- got\n%s", want, got)
	}
}

// A "no" to a symptom is an answer (SPEC §8, §12): the question's step
// succeeded with confirmed false, and neither the live view, status nor the
// summary shows it as a failed step.
func TestTriageNoIsAnAnswer(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	args := append([]string{"run", "triage"}, symptoms(nil, []string{"users_affected", "fixable_in_30m"})...)
	args = append(args, "--answer", "ask_users_affected=no", "--answer", "ask_fixable_in_30m=no")
	out, errOut, code := rbflow(t, dir, args...)
	if code != 0 {
		t.Fatalf("triage: exit %d\n%s%s", code, out, errOut)
	}
	id := lastRunID(t, dir)
	st := statusOf(t, dir, id)
	for _, q := range []string{"ask_users_affected", "ask_fixable_in_30m"} {
		s := stepOf(t, st, q)
		if s.Status != "succeeded" || s.Outcome == "failed" || s.Error != "" || s.Outputs["confirmed"] != false || s.Outputs["answer"] != "no" {
			t.Errorf("step %s: status %s, outcome %s, error %q, outputs %v; want succeeded with confirmed false", q, s.Status, s.Outcome, s.Error, s.Outputs)
		}
	}
	if st.Status != "succeeded" {
		t.Errorf("triage run %s, want succeeded", st.Status)
	}
	if strings.Contains(out+errOut, "❌") || strings.Contains(out+errOut, "answered no") {
		t.Errorf("the live view shows a no as a failure:\n%s%s", out, errOut)
	}
	if sum := summaryOf(t, dir, id); strings.Contains(sum, "❌") {
		t.Errorf("the summary shows a no as a failure:\n%s", sum)
	}
	if o, _, _ := query(t, dir, "status", id); strings.Contains(o, "failed") || strings.Contains(o, "❌") {
		t.Errorf("status shows a no as a failure:\n%s", o)
	}
}
