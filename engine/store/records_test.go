package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
)

func TestSnapshots(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, id := range []string{"r1", "r2"} {
		if err := s.CreateRun(ctx, &engine.Run{ID: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	snaps := []engine.Snapshot{
		{RunID: "r1", StepID: "reset", Ref: "refs/rbflow/r1/reset", Commit: "c1", CreatedAt: at(10),
			Skipped: []string{"node_modules", "big.bin (over 50 MB)"}},
		{RunID: "r2", StepID: "clean", Ref: "refs/rbflow/r2/clean", Commit: "c2", CreatedAt: at(20)},
		{RunID: "r1", StepID: "clean", Ref: "refs/rbflow/r1/clean", Commit: "c3", CreatedAt: at(30), Skipped: []string{}},
	}
	for _, snap := range snaps {
		if err := s.SaveSnapshot(ctx, snap); err != nil {
			t.Fatalf("SaveSnapshot(%s) = %v", snap.Ref, err)
		}
	}
	tests := []struct {
		runID string
		want  []engine.Snapshot
	}{
		{"", snaps},
		{"r1", []engine.Snapshot{snaps[0], snaps[2]}},
		{"r2", []engine.Snapshot{snaps[1]}},
		{"r3", nil},
	}
	for _, tt := range tests {
		got, err := s.Snapshots(ctx, tt.runID)
		if err != nil {
			t.Fatalf("Snapshots(%q) = %v", tt.runID, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Snapshots(%q) = %+v\nwant %+v", tt.runID, got, tt.want)
		}
	}

	before := time.Now()
	if err := s.SaveSnapshot(ctx, engine.Snapshot{RunID: "r2", Ref: "refs/rbflow/r2/x"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Snapshots(ctx, "r2")
	if last := got[len(got)-1]; last.CreatedAt.Before(before.Truncate(time.Second)) {
		t.Errorf("CreatedAt of a snapshot saved without one = %v, want about now", last.CreatedAt)
	}
	if err := s.SaveSnapshot(ctx, engine.Snapshot{RunID: "missing", Ref: "x"}); err == nil {
		t.Errorf("SaveSnapshot for an unknown run = nil, want an error")
	}
}

func TestServices(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	web := engine.Service{Repo: "/app", Name: "web", PID: 100, PIDStart: 5555, BootID: "boot-1",
		Command: "npm start", Dir: "/app/frontend", LogPath: "/logs/web.log", RunID: "r1", StartedAt: at(10)}
	api := engine.Service{Repo: "/app", Name: "api", PID: 101, Command: "go run .", StartedAt: at(11)}
	other := engine.Service{Repo: "/other", Name: "web", PID: 200}
	for _, svc := range []engine.Service{web, api, other} {
		if err := s.SaveService(ctx, svc); err != nil {
			t.Fatalf("SaveService(%s) = %v", svc.Name, err)
		}
	}

	got, err := s.Service(ctx, "/app", "web")
	if err != nil || !reflect.DeepEqual(got, &web) {
		t.Errorf("Service(%q, %q) = %+v, %v, want %+v", "/app", "web", got, err, web)
	}
	if _, err := s.Service(ctx, "/app", "db"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Service(%q, %q) = %v, want %v", "/app", "db", err, engine.ErrNotFound)
	}

	tests := []struct {
		repo string
		want []*engine.Service
	}{
		{"/app", []*engine.Service{&api, &web}},
		{"", []*engine.Service{&api, &web, &other}},
		{"/none", nil},
	}
	for _, tt := range tests {
		got, err := s.Services(ctx, tt.repo)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Services(%q) = %+v, %v, want %+v", tt.repo, got, err, tt.want)
		}
	}

	if err := s.MarkServiceStopped(ctx, "/app", "web", at(50)); err != nil {
		t.Fatalf("MarkServiceStopped = %v", err)
	}
	got, _ = s.Service(ctx, "/app", "web")
	if want := at(50); !got.StoppedAt.Equal(want) {
		t.Errorf("StoppedAt after MarkServiceStopped = %v, want %v", got.StoppedAt, want)
	}
	if err := s.MarkServiceStopped(ctx, "/app", "db", at(50)); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("MarkServiceStopped of an unknown service = %v, want %v", err, engine.ErrNotFound)
	}

	// Starting it again replaces the record.
	restarted := web
	restarted.PID = 300
	if err := s.SaveService(ctx, restarted); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Service(ctx, "/app", "web")
	if !reflect.DeepEqual(got, &restarted) {
		t.Errorf("Service after restart = %+v, want %+v", got, restarted)
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	rollback := map[string]any{"cause": "bad deploy", "severity": "high", "level": 1, "minutes": 12.5}
	if err := s.AddEvent(ctx, "r1", "rollback", rollback); err != nil {
		t.Fatalf("AddEvent = %v", err)
	}
	if err := s.AddEvent(ctx, "", "note", nil); err != nil {
		t.Fatalf("AddEvent = %v", err)
	}
	if err := s.AddEvent(ctx, "r2", "rollback", map[string]any{"level": 2}); err != nil {
		t.Fatalf("AddEvent = %v", err)
	}

	got, err := s.Events(ctx, "rollback")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Events(%q) = %d events, want 2", "rollback", len(got))
	}
	if got[0].RunID != "r1" || got[0].Kind != "rollback" || !reflect.DeepEqual(got[0].Data, rollback) {
		t.Errorf("Events(%q)[0] = %+v, want run r1 with %v", "rollback", got[0], rollback)
	}
	if got[0].CreatedAt.IsZero() || got[1].ID <= got[0].ID {
		t.Errorf("Events(%q) = %+v, want creation times and increasing ids", "rollback", got)
	}
	all, err := s.Events(ctx, "")
	if err != nil || len(all) != 3 || all[1].Kind != "note" || all[1].Data != nil {
		t.Errorf("Events(%q) = %+v, %v, want 3 events, the second a note without data", "", all, err)
	}
}

func TestChecklist(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.CreateRun(ctx, &engine.Run{ID: "r1"}, nil); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	for _, step := range []struct {
		item string
		done bool
	}{
		{"services verified", true},
		{"lessons documented", true},
		{"lessons documented", false},
		{"team notified", true},
	} {
		if err := s.SetChecklistItem(ctx, "r1", step.item, step.done); err != nil {
			t.Fatalf("SetChecklistItem(%q, %v) = %v", step.item, step.done, err)
		}
	}
	got, err := s.Checklist(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"services verified": true, "lessons documented": false, "team notified": true}
	if len(got) != len(want) {
		t.Errorf("Checklist(%q) = %v, want %d items", "r1", got, len(want))
	}
	for item, done := range want {
		it := got[item]
		if it.Item != item || it.Done != done || it.DoneAt.IsZero() == done || (done && it.DoneAt.Before(before)) {
			t.Errorf("Checklist(%q)[%q] = %+v, want done %v (with a time if done)", "r1", item, it, done)
		}
	}
	if got, err := s.Checklist(ctx, "r2"); err != nil || len(got) != 0 {
		t.Errorf("Checklist(%q) = %v, %v, want empty", "r2", got, err)
	}
	if err := s.SetChecklistItem(ctx, "missing", "x", true); err == nil {
		t.Errorf("SetChecklistItem for an unknown run = nil, want an error")
	}
}

func TestAnswers(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	alice := engine.Actor{User: "alice (sudo as root)", Host: "db-1"}
	given := []engine.Answer{{StepID: "pick", Value: "b", Source: engine.AnswerFlag, Actor: alice, At: at(5)}}
	if err := s.CreateRun(ctx, &engine.Run{ID: "r1"}, given); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveQuestion(ctx, engine.Asked{RunID: "r1", Question: engine.Question{Step: "confirm", Text: "Reset?", Type: "confirm", Default: "no"},
		AskedAt: at(8), Until: at(68), Where: "db-1, pid 42"}); err != nil {
		t.Fatal(err)
	}
	bob := engine.Actor{User: "bob", Host: "laptop"}
	for _, a := range []engine.Answer{
		{RunID: "r1", StepID: "confirm", Value: "no", Source: engine.AnswerCommand, Actor: bob, Via: "rbflow answer, pid 7", At: at(10)},
		{RunID: "r1", StepID: "confirm", Value: "yes", Source: engine.AnswerTerminal, Actor: alice, At: at(20)},
	} {
		if err := s.SaveAnswer(ctx, a); err != nil {
			t.Fatalf("SaveAnswer(%+v) = %v", a, err)
		}
	}
	got, err := s.Answers(ctx, "r1")
	want := []engine.Answer{
		{RunID: "r1", StepID: "pick", Value: "b", Source: engine.AnswerFlag, Actor: alice, At: at(5)},
		{RunID: "r1", StepID: "confirm", Value: "yes", Source: engine.AnswerTerminal, Actor: alice, At: at(20), Question: "Reset?"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Answers(%q) = %+v, %v, want %+v", "r1", got, err, want)
	}
	if a, err := s.Answer(ctx, "r1", "confirm"); err != nil || !reflect.DeepEqual(*a, want[1]) {
		t.Errorf("Answer(r1, confirm) = %+v, %v, want %+v", a, err, want[1])
	}
	if _, err := s.Answer(ctx, "r1", "other"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Answer(r1, other) = %v, want ErrNotFound", err)
	}
	q, err := s.Question(ctx, "r1", "confirm")
	wantQ := engine.Asked{RunID: "r1", Question: engine.Question{Step: "confirm", Text: "Reset?", Type: "confirm", Default: "no"},
		AskedAt: at(8), Until: at(68), Where: "db-1, pid 42"}
	if err != nil || !reflect.DeepEqual(*q, wantQ) {
		t.Errorf("Question(r1, confirm) = %+v, %v, want %+v", q, err, wantQ)
	}
	if _, err := s.Question(ctx, "r1", "pick"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Question(r1, pick) = %v, want ErrNotFound", err)
	}
	if err := s.SaveAnswer(ctx, engine.Answer{RunID: "missing", StepID: "x", Value: "y"}); err == nil {
		t.Errorf("SaveAnswer for an unknown run = nil, want an error")
	}
	if err := s.SaveQuestion(ctx, engine.Asked{RunID: "missing", Question: engine.Question{Step: "x"}}); err == nil {
		t.Errorf("SaveQuestion for an unknown run = nil, want an error")
	}
}

// TestActorsKept: a run and its step attempts keep who ran them, and where.
func TestActorsKept(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	alice := engine.Actor{User: "alice", Host: "db-1"}
	if err := s.CreateRun(ctx, &engine.Run{ID: "r1", Actor: alice}, nil); err != nil {
		t.Fatal(err)
	}
	bob := engine.Actor{User: "bob (sudo as root)", Host: "db-2"}
	if err := s.SaveStep(ctx, &engine.StepRecord{RunID: "r1", StepID: "a", Actor: bob}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Run(ctx, "r1"); err != nil || r.Actor != alice {
		t.Errorf("Run(r1).Actor = %+v, %v, want %+v", r.Actor, err, alice)
	}
	if recs, err := s.Steps(ctx, "r1"); err != nil || len(recs) != 1 || recs[0].Actor != bob {
		t.Errorf("Steps(r1) = %+v, %v, want one step by %+v", recs, err, bob)
	}
}

// TestNotifications: what a run's hooks sent is kept per attempt, replaced
// when sent again, forgotten on demand, and gone with its run's id only.
func TestNotifications(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.SaveNotification(ctx, engine.SentNotification{RunID: "nope", Generation: 1, Event: "start"}); err == nil {
		t.Error("SaveNotification for a run that does not exist = nil, want an error")
	}
	if err := s.CreateRun(ctx, &engine.Run{ID: "r1"}, nil); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	for i, n := range []engine.SentNotification{
		{Generation: 1, Hook: 0, Event: "start", Status: 200},
		{Generation: 1, Hook: 1, Event: "finish", Status: 500, Error: "the webhook answered 500"},
		{Generation: 1, Hook: 0, Event: "finish", Status: 200},
		{Generation: 2, Hook: 0, Event: "start", Status: 200},
		{Generation: 1, Hook: 1, Event: "finish", Status: 502, Error: "the webhook answered 502"}, // sent again
	} {
		n.RunID, n.SentAt = "r1", base.Add(time.Duration(i)*time.Second)
		if err := s.SaveNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Notifications(ctx, "r1")
	if err != nil || len(got) != 4 {
		t.Fatalf("Notifications = %d, %v; want 4", len(got), err)
	}
	if last := got[3]; last.Hook != 1 || last.Status != 502 || !last.SentAt.Equal(base.Add(4*time.Second)) {
		t.Errorf("the record sent again = %+v, want status 502 at its new time, listed last", last)
	}
	if w := engine.NotificationWarnings(got, 1); len(w) != 1 || w[0] != "notification 2 (finish) was not delivered: the webhook answered 502" {
		t.Errorf("NotificationWarnings = %q", w)
	}
	if err := s.ForgetNotifications(ctx, "r1", 1, []string{"finish", "failure"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Notifications(ctx, "r1")
	if len(got) != 2 || got[0].Event != "start" || got[1].Generation != 2 {
		t.Errorf("after forgetting attempt 1's finish: %+v, want the two starts", got)
	}
}
