package engine

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/proc"
)

// policyKind is a step kind for the resume policy tests: its argument is
// the default on_resume of its steps ("rerun" or "ask").
type policyKind struct{}

type policyAction struct{ onResume string }

func (policyKind) Signature() Signature { return Signature{Arg: "rerun or ask"} }

func (policyKind) Compile(c *KindContext) Action {
	return policyAction{onResume: c.Step.Arg.Str}
}

func (a policyAction) Execute(context.Context, *Exec) (Result, error)  { return Result{}, nil }
func (a policyAction) Describe(context.Context, *Exec) (string, error) { return a.onResume, nil }
func (a policyAction) DefaultOnResume() string                         { return a.onResume }

// resumeProcedure is a sequence a → b → c with on_failure and finally; b's
// on_resume comes from the case.
func resumeProcedure(t *testing.T, bOnResume string) *Plan {
	t.Helper()
	b := "  - {id: b, run: rerun}\n"
	if bOnResume != "" {
		b = "  - {id: b, run: rerun, on_resume: " + bOnResume + "}\n"
	}
	text := "version: 1\nname: resume\nsteps:\n  - {id: a, run: rerun}\n" + b +
		"  - {id: c, run: rerun}\n  - {id: d, needs: [a], run: ask}\non_failure:\n  - {id: f, run: rerun}\nfinally:\n  - {id: z, run: rerun}\n"
	reg := NewRegistry()
	reg.Register("run", policyKind{})
	plan, err := Load("resume.yaml", []byte(text), reg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return plan
}

// selfForTest owns the records the tests make.
var selfForTest = proc.Self()

// rec is a stored step record in a state.
func rec(plan *Plan, id string, status StepStatus, continued bool) *StepRecord {
	st, _ := plan.Step(id)
	r := &StepRecord{RunID: "r", StepID: id, Section: st.Section, DefHash: st.DefHash}
	switch status {
	case StepRunning:
		r.start(selfForTest, time.Unix(100, 0))
	case StepSkipped:
		r.skip("", time.Unix(100, 0))
	default:
		r.start(selfForTest, time.Unix(100, 0))
		switch status {
		case StepSucceeded:
			r.succeed(time.Unix(101, 0))
		case StepFailed:
			r.fail("boom", continued, time.Unix(101, 0))
		case StepInterrupted:
			r.interrupt("cut off", time.Unix(101, 0))
		case StepWaiting:
			r.wait("asks", time.Unix(101, 0))
		case StepCancelled:
			r.cancel(time.Unix(101, 0))
		}
	}
	return r
}

func TestDecideResume(t *testing.T) {
	type state struct {
		id        string
		status    StepStatus
		continued bool
	}
	for _, c := range []struct {
		name        string
		bOnResume   string
		recs        []state
		opt         ResumeOptions
		yes         bool
		rerun       []string // records dropped (only steps that had one)
		interrupted []string
		moved       map[string]StepStatus
		asks        []string
		added       []string
		err         string
	}{
		{name: "running step of a dead owner reruns by default",
			recs:  []state{{"a", StepSucceeded, false}, {"b", StepRunning, false}},
			rerun: []string{"b"}, interrupted: []string{"b"}, moved: map[string]StepStatus{"b": StepInterrupted}},
		{name: "on_resume ask stops and asks, keeping every record",
			bOnResume: "ask", recs: []state{{"a", StepSucceeded, false}, {"b", StepRunning, false}, {"z", StepSucceeded, false}},
			moved: map[string]StepStatus{"b": StepInterrupted}, asks: []string{"b"}},
		{name: "a kind that asks by default asks",
			recs:  []state{{"a", StepSucceeded, false}, {"d", StepInterrupted, false}},
			asks:  []string{"d"},
			moved: map[string]StepStatus{}},
		{name: "--yes turns ask into rerun",
			bOnResume: "ask", yes: true, recs: []state{{"a", StepSucceeded, false}, {"b", StepInterrupted, false}},
			rerun: []string{"b"}, interrupted: []string{"b"}},
		{name: "on_resume skip skips the step and goes on after it",
			bOnResume: "skip", recs: []state{{"a", StepSucceeded, false}, {"b", StepRunning, false}},
			moved: map[string]StepStatus{"b": StepSkipped}},
		{name: "on_resume fail fails the step; what it skipped runs again",
			bOnResume: "fail", recs: []state{{"a", StepSucceeded, false}, {"b", StepInterrupted, false}, {"c", StepSkipped, false}, {"z", StepSucceeded, false}},
			rerun: []string{"c", "z"}, moved: map[string]StepStatus{"b": StepFailed}},
		{name: "failed, waiting and cancelled steps run again with the steps they skipped",
			recs:  []state{{"a", StepSucceeded, false}, {"b", StepFailed, false}, {"c", StepSkipped, false}, {"d", StepWaiting, false}, {"f", StepSucceeded, false}, {"z", StepCancelled, false}},
			rerun: []string{"b", "c", "d", "f", "z"}},
		{name: "a failure under continue_on_error stands",
			recs:  []state{{"a", StepSucceeded, false}, {"b", StepFailed, true}, {"c", StepSucceeded, false}},
			rerun: nil},
		{name: "a skip by if: stands when its cause stands",
			recs:  []state{{"a", StepSucceeded, false}, {"b", StepSkipped, false}, {"c", StepSucceeded, false}},
			rerun: nil},
		{name: "--from runs the step and everything after it again",
			recs: []state{{"a", StepSucceeded, false}, {"b", StepSucceeded, false}, {"c", StepSucceeded, false}, {"d", StepSucceeded, false}},
			opt:  ResumeOptions{From: "a"}, rerun: []string{"a", "b", "c", "d"}},
		{name: "--from an unknown step is a usage error with a hint",
			opt: ResumeOptions{From: "bb"}, err: `--from: no step "bb" in resume (did you mean "b"?)`},
		{name: "--skip an unknown step is a usage error",
			opt: ResumeOptions{Skip: []string{"nosuch"}}, err: `--skip: no step "nosuch" in resume`},
		{name: "--skip records the step skipped",
			recs: []state{{"a", StepSucceeded, false}, {"b", StepFailed, false}},
			opt:  ResumeOptions{Skip: []string{"b"}}, rerun: []string{"b"}, added: []string{"b"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := resumeProcedure(t, c.bOnResume)
			recs := map[string]*StepRecord{}
			for _, s := range c.recs {
				recs[s.id] = rec(plan, s.id, s.status, s.continued)
			}
			before := map[string]StepStatus{}
			for id, r := range recs {
				before[id] = r.Status
			}
			d, err := decideResume(plan, recs, c.opt, c.yes, time.Unix(200, 0))
			if c.err != "" {
				if err == nil || err.Error() != c.err || !IsUsage(err) {
					t.Fatalf("decideResume = %v, want the usage error %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for id, r := range recs {
				if r.Status != before[id] {
					t.Errorf("decideResume changed the record of %s in place: %s → %s", id, before[id], r.Status)
				}
			}
			var rerun []string
			for id := range d.rerun {
				if _, had := recs[id]; had {
					rerun = append(rerun, id)
				}
			}
			sort.Strings(rerun)
			if !slices.Equal(rerun, c.rerun) && !(len(rerun) == 0 && len(c.rerun) == 0) {
				t.Errorf("records dropped = %v, want %v", rerun, c.rerun)
			}
			var interrupted []string
			for id := range d.interrupted {
				interrupted = append(interrupted, id)
			}
			sort.Strings(interrupted)
			if !slices.Equal(interrupted, c.interrupted) && !(len(interrupted) == 0 && len(c.interrupted) == 0) {
				t.Errorf("interrupted = %v, want %v", interrupted, c.interrupted)
			}
			if c.moved != nil {
				got := map[string]StepStatus{}
				for _, m := range d.moved {
					got[m.StepID] = m.Status
				}
				for id, want := range c.moved {
					if got[id] != want {
						t.Errorf("%s moved to %q, want %q (moves %v)", id, got[id], want, got)
					}
				}
				if len(got) != len(c.moved) {
					t.Errorf("moves = %v, want %v", got, c.moved)
				}
			}
			if !slices.Equal(d.asks, c.asks) {
				t.Errorf("asks = %v, want %v", d.asks, c.asks)
			}
			var added []string
			for _, a := range d.added {
				added = append(added, a.StepID)
				if a.Status != StepSkipped || a.Error != "skipped with --skip" {
					t.Errorf("--skip record of %s = %s %q", a.StepID, a.Status, a.Error)
				}
			}
			if !slices.Equal(added, c.added) {
				t.Errorf("added = %v, want %v", added, c.added)
			}
		})
	}
}

// A reloaded plan runs the steps whose definition changed and what follows
// them; a step no longer in the plan is forgotten.
func TestDecideResumeReload(t *testing.T) {
	plan := resumeProcedure(t, "")
	recs := map[string]*StepRecord{}
	for _, id := range []string{"a", "b", "c", "d"} {
		recs[id] = rec(plan, id, StepSucceeded, false)
	}
	recs["b"].DefHash = "old"
	recs["gone"] = &StepRecord{RunID: "r", StepID: "gone", Status: StepSucceeded}
	d, err := decideResume(plan, recs, ResumeOptions{Reload: true}, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": false, "gone": true} {
		if d.rerun[id] != want {
			t.Errorf("reload: %s runs again = %v, want %v", id, d.rerun[id], want)
		}
	}
}

// Status, outcome and conclusion change only through transitions, and a
// move the state machine does not have is a bug that shows.
func TestStepTransitions(t *testing.T) {
	r := &StepRecord{StepID: "s"}
	r.start(selfForTest, time.Unix(1, 0))
	r.fail("boom", true, time.Unix(2, 0))
	if r.Status != StepFailed || r.Outcome != StepFailed || r.Conclusion != StepSucceeded || !r.Done() {
		t.Errorf("fail under continue_on_error = %s/%s/%s done=%v", r.Status, r.Outcome, r.Conclusion, r.Done())
	}
	for _, c := range []struct {
		from StepStatus
		move func(*StepRecord)
	}{
		{StepSucceeded, func(r *StepRecord) { r.start(selfForTest, time.Now()) }},
		{StepSucceeded, func(r *StepRecord) { r.fail("x", false, time.Now()) }},
		{StepSkipped, func(r *StepRecord) { r.succeed(time.Now()) }},
		{StepWaiting, func(r *StepRecord) { r.succeed(time.Now()) }},
		{StepCancelled, func(r *StepRecord) { r.interrupt("x", time.Now()) }},
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(string), "cannot go from") {
					t.Errorf("move from %s: recover() = %v, want an illegal-move panic", c.from, p)
				}
			}()
			r := &StepRecord{StepID: "s", Status: c.from}
			c.move(r)
		}()
	}
	run := &Run{ID: "r"}
	run.begin(selfForTest)
	run.end(RunSucceeded, "", time.Unix(3, 0))
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("a succeeded run was cancelled")
			}
		}()
		run.cancel(time.Now())
	}()
	run.reopen(selfForTest, true)
	if run.Status != RunRunning || run.Generation != 2 || !run.EndedAt.IsZero() {
		t.Errorf("retry reopened the run as %s, generation %d, ended %v", run.Status, run.Generation, run.EndedAt)
	}
}

// The items of a step with for_each that succeeded stand when the step
// runs again where it failed or was cut off; --from (or a reload that
// changed it) runs them all again.
func TestDecideResumeKeepsItemsThatSucceeded(t *testing.T) {
	reg := NewRegistry()
	reg.Register("run", policyKind{})
	plan, err := Load("loop.yaml", []byte("version: 1\nname: loop\nsteps:\n  - {id: each, for_each: [a, b], run: rerun}\n"), reg)
	if err != nil {
		t.Fatal(err)
	}
	item := func(i int, status StepStatus) *StepRecord {
		r := rec(plan, "each", status, false)
		r.StepID = ItemID("each", i)
		return r
	}
	for _, c := range []struct {
		name     string
		parent   StepStatus
		opt      ResumeOptions
		keep     bool
		wantGone []string
	}{
		{"failed", StepFailed, ResumeOptions{}, true, []string{"each"}},
		{"cut off", StepRunning, ResumeOptions{}, true, []string{"each"}},
		{"--from", StepFailed, ResumeOptions{From: "each"}, false, []string{"each", "each.0", "each.1"}},
	} {
		recs := map[string]*StepRecord{"each": rec(plan, "each", c.parent, false), "each.0": item(0, StepSucceeded), "each.1": item(1, StepRunning)}
		d, err := decideResume(plan, recs, c.opt, false, time.Unix(200, 0))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.keepItems["each"] != c.keep {
			t.Errorf("%s: keepItems = %v, want %v", c.name, d.keepItems["each"], c.keep)
		}
		st := &memRunStore{recs: recs}
		if err := d.apply(context.Background(), st, "r", recs); err != nil {
			t.Fatal(err)
		}
		sort.Strings(st.deleted)
		if !slices.Equal(st.deleted, c.wantGone) {
			t.Errorf("%s: deleted %v, want %v", c.name, st.deleted, c.wantGone)
		}
	}
}

// memRunStore is the part of a RunStore decideResume's apply uses: it
// notes the records deleted.
type memRunStore struct {
	RunStore
	recs    map[string]*StepRecord
	deleted []string
}

func (m *memRunStore) SaveStep(_ context.Context, r *StepRecord) error {
	m.recs[r.StepID] = r
	return nil
}

func (m *memRunStore) DeleteStep(_ context.Context, _, id string) error {
	m.deleted = append(m.deleted, id)
	return nil
}
