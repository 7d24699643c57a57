package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// openStore opens a store in a new temporary folder, closed at the end of
// the test. Without cgo it skips: TestCgo reports that failure once.
func openStore(t *testing.T) *Store {
	t.Helper()
	return openStoreIn(t, t.TempDir())
}

func openStoreIn(t *testing.T, dir string) *Store {
	t.Helper()
	if checkCgo() != nil {
		t.Skip("the SQLite store needs cgo; see TestCgo")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%q) = %v, want a store", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}

// at returns a time as the store gives it back: local, no monotonic reading.
func at(sec int64) time.Time { return time.Unix(sec, 123456789) }

func fullRun(id string) *engine.Run {
	return &engine.Run{
		ID:         id,
		Procedure:  "emergency",
		Source:     "name: emergency\nsteps: []\n",
		SourcePath: "builtin:emergency",
		Hash:       "sha256:abc",
		Params: map[string]any{
			"baseline": "v1.2",
			"count":    3,
			"ratio":    0.5,
			"whole":    2.0,
			"force":    true,
			"files":    []any{"a.go", "b.go"},
			"nested":   map[string]any{"n": 1, "x": []any{1.5, "s"}},
			"nothing":  nil,
		},
		Repo:       "/src/app",
		StateDir:   "/src/app/.git/rbflow",
		Status:     engine.RunFailed,
		StartedAt:  at(1700000000),
		EndedAt:    at(1700000100),
		ParentRun:  "parent",
		ParentStep: "call-it",
		Target:     15 * time.Minute,
		Generation: 2,
		FailedStep: "reset",
		OwnerPID:   4242,
		OwnerStart: 987654321,
	}
}

func fullStep(runID, stepID string) *engine.StepRecord {
	return &engine.StepRecord{
		RunID:      runID,
		StepID:     stepID,
		Section:    "main",
		Status:     engine.StepFailed,
		Outcome:    engine.StepFailed,
		Conclusion: engine.StepSucceeded,
		StartedAt:  at(1700000010),
		EndedAt:    at(1700000020),
		ExitCode:   2,
		Attempts:   3,
		Outputs:    map[string]any{"head": "abc123", "passed": 7, "duration": 1.25},
		Error:      "exit status 2",
		DefHash:    "sha256:def",
		PID:        4243,
		PIDStart:   123456,
		Tail:       "line 1\nline 2\n",
		LogPath:    "/src/app/.git/rbflow/runs/r/step.log",
	}
}

func TestRunRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	tests := []struct {
		name string
		run  *engine.Run
	}{
		{"every field set", fullRun("01full")},
		{"zero values", &engine.Run{ID: "01zero"}},
		{"empty params", &engine.Run{ID: "01empty", Params: map[string]any{}, StartedAt: at(5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateRun(ctx, tt.run, nil); err != nil {
				t.Fatalf("CreateRun(%q) = %v, want nil", tt.run.ID, err)
			}
			got, err := s.Run(ctx, tt.run.ID)
			if err != nil {
				t.Fatalf("Run(%q) = %v, want the run", tt.run.ID, err)
			}
			if !reflect.DeepEqual(got, tt.run) {
				t.Errorf("Run(%q) = %#v\nwant %#v", tt.run.ID, got, tt.run)
			}
		})
	}
	if err := s.CreateRun(ctx, fullRun("01full"), nil); err == nil {
		t.Errorf("CreateRun of an existing id = nil, want an error")
	}
}

func TestUpdateRun(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	orig := fullRun("01upd")
	orig.Status = engine.RunRunning
	orig.EndedAt = time.Time{}
	if err := s.CreateRun(ctx, orig, nil); err != nil {
		t.Fatal(err)
	}

	upd := *orig
	upd.Status = engine.RunSucceeded
	upd.EndedAt = at(1700000200)
	upd.OwnerPID = 99
	upd.OwnerStart = 77
	upd.Source = "name: emergency\n# edited\n"
	upd.SourcePath = "/tmp/edited.yaml"
	upd.Hash = "sha256:new"
	upd.FailedStep = ""
	upd.Generation = 3
	// Fields that are not mutable must not change.
	changedImmutable := upd
	changedImmutable.Procedure = "other"
	changedImmutable.Params = map[string]any{"x": 1}
	changedImmutable.Repo = "/elsewhere"
	changedImmutable.StartedAt = at(1)
	changedImmutable.Target = time.Second
	changedImmutable.ParentRun = "p2"
	if err := s.UpdateRun(ctx, &changedImmutable); err != nil {
		t.Fatalf("UpdateRun = %v, want nil", err)
	}
	got, err := s.Run(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &upd) {
		t.Errorf("Run(%q) after UpdateRun = %#v\nwant %#v", orig.ID, got, &upd)
	}

	err = s.UpdateRun(ctx, &engine.Run{ID: "missing"})
	if !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("UpdateRun(%q) = %v, want %v", "missing", err, engine.ErrNotFound)
	}
}

func TestRunPrefix(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for i, id := range []string{"01HAAA", "01HAAB", "01HB00", "02X_1", "02XA1"} {
		r := &engine.Run{ID: id, StartedAt: at(int64(100 + i))}
		if err := s.CreateRun(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		id      string
		want    string // id of the run found, "" if an error is wanted
		wantErr error
		wantMsg []string
	}{
		{id: "01HAAA", want: "01HAAA"},
		{id: "01HB", want: "01HB00"},
		{id: "01HAAB", want: "01HAAB"},
		{id: "01HAA", wantErr: ErrAmbiguous, wantMsg: []string{`"01HAA"`, "01HAAA", "01HAAB"}},
		{id: "01", wantErr: ErrAmbiguous, wantMsg: []string{"01HB00, 01HAAB, 01HAAA"}},
		{id: "02X_", want: "02X_1"}, // '_' is not a wildcard
		{id: "02X%", wantErr: engine.ErrNotFound},
		{id: "03", wantErr: engine.ErrNotFound, wantMsg: []string{`"03"`}},
		{id: "", wantErr: engine.ErrNotFound},
		{id: "01HAAAB", wantErr: engine.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.Run(ctx, tt.id)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Run(%q) = %v, %v, want error %v", tt.id, got, err, tt.wantErr)
				continue
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Run(%q) error = %q, want it to contain %q", tt.id, err, m)
				}
			}
			continue
		}
		if err != nil || got.ID != tt.want {
			t.Errorf("Run(%q) = %v, %v, want run %q", tt.id, got, err, tt.want)
		}
	}
}

func TestRunPrefixManyCandidates(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for i := range 8 {
		if err := s.CreateRun(ctx, &engine.Run{ID: fmt.Sprintf("r%d", i), StartedAt: at(int64(i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Run(ctx, "r")
	want := `store: ambiguous run id: "r" matches r7, r6, r5, r4, r3, ...; give more of the id`
	if err == nil || err.Error() != want {
		t.Errorf("Run(%q) = %v, want %v", "r", err, want)
	}
}

func TestRunsOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	runs := []*engine.Run{
		{ID: "a", Repo: "/one", StartedAt: at(10)},
		{ID: "b", Repo: "/two", StartedAt: at(30)},
		{ID: "c", Repo: "/one", StartedAt: at(20)},
		{ID: "d", Repo: "/one", StartedAt: at(20)}, // same start as c: id breaks the tie
		{ID: "e", Repo: "/two", StartedAt: at(5)},
	}
	for _, r := range runs {
		if err := s.CreateRun(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		repo string
		want []string
	}{
		{"", []string{"b", "d", "c", "a", "e"}},
		{"/one", []string{"d", "c", "a"}},
		{"/two", []string{"b", "e"}},
		{"/none", nil},
	}
	for _, tt := range tests {
		got, err := s.Runs(ctx, tt.repo)
		if err != nil {
			t.Fatalf("Runs(%q) = %v", tt.repo, err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("Runs(%q) = %v, want %v", tt.repo, ids, tt.want)
		}
	}
}

// TestChildRunsAndFamily: ChildRuns lists the runs one run called, oldest
// first, and nothing else; engine.RunFamily builds on it, the run first,
// then its calls in the order they started, at any depth.
func TestChildRunsAndFamily(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, r := range []*engine.Run{
		{ID: "top", StartedAt: at(10)},
		{ID: "c2", ParentRun: "top", StartedAt: at(30)},
		{ID: "c1", ParentRun: "top", StartedAt: at(20)},
		{ID: "g1", ParentRun: "c1", StartedAt: at(25)},
		{ID: "other", StartedAt: at(15)},
		{ID: "oc", ParentRun: "other", StartedAt: at(16)},
	} {
		if err := s.CreateRun(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(runs []*engine.Run) []string {
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	for parent, want := range map[string][]string{"top": {"c1", "c2"}, "c1": {"g1"}, "g1": nil, "": nil} {
		got, err := s.ChildRuns(ctx, parent)
		if err != nil || !reflect.DeepEqual(ids(got), want) {
			t.Errorf("ChildRuns(%q) = %v, %v; want %v", parent, ids(got), err, want)
		}
	}
	family, err := engine.RunFamily(ctx, s, "top")
	if got, want := ids(family), []string{"top", "c1", "c2", "g1"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("RunFamily(top) = %v, %v; want %v", got, err, want)
	}
}

func TestStepRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.CreateRun(ctx, &engine.Run{ID: "run"}, nil); err != nil {
		t.Fatal(err)
	}
	full := fullStep("run", "full")
	zero := &engine.StepRecord{RunID: "run", StepID: "zero"}
	for _, rec := range []*engine.StepRecord{full, zero} {
		if err := s.SaveStep(ctx, rec); err != nil {
			t.Fatalf("SaveStep(%q) = %v, want nil", rec.StepID, err)
		}
	}
	got, err := s.Steps(ctx, "run")
	if err != nil {
		t.Fatalf("Steps(%q) = %v", "run", err)
	}
	want := []*engine.StepRecord{full, zero}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Steps(%q) = %#v\nwant %#v", "run", got, want)
	}
}

func stepIDs(t *testing.T, s *Store, runID string) []string {
	t.Helper()
	recs, err := s.Steps(context.Background(), runID)
	if err != nil {
		t.Fatalf("Steps(%q) = %v", runID, err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.StepID)
	}
	return ids
}

func TestStepOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	for _, id := range []string{"run", "other"} {
		if err := s.CreateRun(ctx, &engine.Run{ID: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	save := func(runID, stepID string, status engine.StepStatus) {
		t.Helper()
		rec := &engine.StepRecord{RunID: runID, StepID: stepID, Status: status}
		if err := s.SaveStep(ctx, rec); err != nil {
			t.Fatalf("SaveStep(%q) = %v", stepID, err)
		}
	}
	save("run", "first", engine.StepRunning)
	save("other", "x", engine.StepRunning)
	save("run", "second", engine.StepRunning)
	save("run", "third", engine.StepRunning)
	save("run", "first", engine.StepSucceeded) // replacing keeps its place

	if got, want := stepIDs(t, s, "run"), []string{"first", "second", "third"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Steps(%q) = %v, want %v", "run", got, want)
	}
	recs, _ := s.Steps(ctx, "run")
	if recs[0].Status != engine.StepSucceeded {
		t.Errorf("Steps(%q)[0].Status = %v, want %v", "run", recs[0].Status, engine.StepSucceeded)
	}

	if err := s.DeleteStep(ctx, "run", "second"); err != nil {
		t.Fatalf("DeleteStep = %v", err)
	}
	if err := s.DeleteStep(ctx, "run", "never"); err != nil {
		t.Errorf("DeleteStep of a step without record = %v, want nil", err)
	}
	save("run", "second", engine.StepRunning) // saved again, it goes last
	if got, want := stepIDs(t, s, "run"), []string{"first", "third", "second"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Steps(%q) after delete and save = %v, want %v", "run", got, want)
	}
	if got, want := stepIDs(t, s, "other"), []string{"x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Steps(%q) = %v, want %v", "other", got, want)
	}
	if got := stepIDs(t, s, "unknown"); got != nil {
		t.Errorf("Steps(%q) = %v, want none", "unknown", got)
	}
}

func TestSaveStepsAtomic(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.CreateRun(ctx, &engine.Run{ID: "run"}, nil); err != nil {
		t.Fatal(err)
	}
	first := &engine.StepRecord{RunID: "run", StepID: "a", Status: engine.StepRunning}
	if err := s.SaveSteps(ctx, first); err != nil {
		t.Fatal(err)
	}

	// Finishing a and starting b, where writing b fails (its run does not
	// exist): a must stay running and b must not appear.
	done := &engine.StepRecord{RunID: "run", StepID: "a", Status: engine.StepSucceeded}
	bad := &engine.StepRecord{RunID: "no-such-run", StepID: "b", Status: engine.StepRunning}
	err := s.SaveSteps(ctx, done, bad)
	if err == nil || !strings.Contains(err.Error(), `save step b of run no-such-run`) {
		t.Fatalf("SaveSteps(done, bad) = %v, want an error about step b", err)
	}
	recs, err := s.Steps(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Status != engine.StepRunning {
		t.Errorf("Steps after failed SaveSteps = %+v, want only a, running", recs)
	}
	if got := stepIDs(t, s, "no-such-run"); got != nil {
		t.Errorf("Steps(%q) = %v, want none", "no-such-run", got)
	}

	next := &engine.StepRecord{RunID: "run", StepID: "b", Status: engine.StepRunning}
	if err := s.SaveSteps(ctx, done, next); err != nil {
		t.Fatalf("SaveSteps(done, next) = %v", err)
	}
	recs, _ = s.Steps(ctx, "run")
	if len(recs) != 2 || recs[0].Status != engine.StepSucceeded || recs[1].Status != engine.StepRunning {
		t.Errorf("Steps after SaveSteps = %+v, want a succeeded, b running", recs)
	}

	if err := s.SaveSteps(ctx, nil); err == nil {
		t.Errorf("SaveSteps(nil) = nil, want an error")
	}
	if err := s.SaveSteps(ctx); err != nil {
		t.Errorf("SaveSteps() = %v, want nil", err)
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	if checkCgo() != nil {
		t.Skip("the SQLite store needs cgo; see TestCgo")
	}
	dir := t.TempDir()
	ms, err := migrations()
	if err != nil {
		t.Fatalf("migrations() = %v", err)
	}
	if len(ms) == 0 {
		t.Fatal("migrations() = none, want at least 0001_init.sql")
	}

	for i := range 3 { // opening again applies nothing and keeps the data
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("Open #%d = %v", i+1, err)
		}
		var v int
		if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != len(ms) {
			t.Errorf("user_version after Open #%d = %d, want %d", i+1, v, len(ms))
		}
		if err := s.CreateRun(ctx, &engine.Run{ID: fmt.Sprint(i)}, nil); err != nil {
			t.Fatal(err)
		}
		runs, err := s.Runs(ctx, "")
		if err != nil || len(runs) != i+1 {
			t.Errorf("Runs after Open #%d = %d runs, %v, want %d", i+1, len(runs), err, i+1)
		}
		s.Close()
	}

	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(dir)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema = nil, want an error")
	}
	want := fmt.Sprintf("schema version 99 is newer than this rbflow knows (%d)", len(ms))
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Join(dir, DBName)) {
		t.Errorf("Open of a newer schema = %v, want an error naming the file and containing %q", err, want)
	}
}

func TestOpenSpecialPath(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "we?ird #dir%20", "state")
	s := openStoreIn(t, dir)
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	if _, err := os.Stat(filepath.Join(dir, DBName)); err != nil {
		t.Errorf("database not where expected: %v", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != "we?ird #dir%20" {
		t.Errorf("entries of the parent folder = %v, want only the state folder's parent", entries)
	}
	if err := s.CreateRun(context.Background(), &engine.Run{ID: "x"}, nil); err != nil {
		t.Errorf("CreateRun = %v", err)
	}
}

func TestOpenRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	s := openStoreIn(t, "rel")
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "rel"); s.Dir() != want {
		t.Errorf("Dir() = %q, want %q", s.Dir(), want)
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	// Hold several connections at once so that the pool must open new ones.
	// Step records commit with synchronous=NORMAL, what must survive a
	// power cut (runs, snapshots) with FULL. The durable pool has one
	// connection (see openDurable).
	for _, pool := range []struct {
		db    *sql.DB
		sync  string
		conns int
	}{{s.db, "1", 4}, {s.durable, "2", 1}} {
		checkPragmas(t, ctx, pool.db, pool.sync, pool.conns)
	}
	if n := s.durable.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("the durable pool may open %d connections, want 1", n)
	}
}

func checkPragmas(t *testing.T, ctx context.Context, db *sql.DB, sync string, n int) {
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  sync,
		"foreign_keys": "1",
		"busy_timeout": "10000",
	}
	for i, c := range conns {
		for pragma, w := range want {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
			}
			if got != w {
				t.Errorf("conn %d: PRAGMA %s = %q, want %q", i, pragma, got, w)
			}
		}
	}
}

// TestImmediateTransactions checks _txlock=immediate: a transaction holds
// the write lock from its start, so a reader that wants to write later
// cannot be overtaken and fail with SQLITE_BUSY halfway.
func TestImmediateTransactions(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	// A second connection that does not wait for locks.
	other, err := sql.Open("sqlite3", "file:"+filepath.Join(s.Dir(), DBName)+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, "INSERT INTO events (run_id, kind, data_json) VALUES ('', 'x', '{}')")
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("write while a transaction is open = %v, want database is locked", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stores := []*Store{openStoreIn(t, dir), openStoreIn(t, dir)}
	const perStore = 25
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore)
	for w, s := range stores {
		wg.Go(func() {
			for i := range perStore {
				id := fmt.Sprintf("w%d-%02d", w, i)
				r := &engine.Run{ID: id, Status: engine.RunRunning, StartedAt: time.Now()}
				if err := s.CreateRun(ctx, r, nil); err != nil {
					errs <- err
					return
				}
				a := &engine.StepRecord{RunID: id, StepID: "a", Status: engine.StepSucceeded}
				b := &engine.StepRecord{RunID: id, StepID: "b", Status: engine.StepRunning}
				if err := s.SaveSteps(ctx, a, b); err != nil {
					errs <- err
					return
				}
				// One record alone is one statement, without BEGIN: it
				// waits for the other store's writes as a transaction does.
				c := &engine.StepRecord{RunID: id, StepID: "b", Status: engine.StepSucceeded}
				if err := s.SaveStep(ctx, c); err != nil {
					errs <- err
					return
				}
				if steps, err := s.Steps(ctx, id); err != nil {
					errs <- err
					return
				} else if len(steps) != 2 || steps[1].Status != engine.StepSucceeded {
					errs <- fmt.Errorf("run %s: steps %+v, want a and b, b succeeded", id, steps)
					return
				}
				r.Status = engine.RunSucceeded
				if err := s.UpdateRun(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	runs, err := stores[0].Runs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != len(stores)*perStore {
		t.Errorf("Runs after concurrent writes = %d runs, want %d", len(runs), len(stores)*perStore)
	}
	for _, r := range runs {
		if r.Status != engine.RunSucceeded {
			t.Errorf("run %s status = %v, want %v", r.ID, r.Status, engine.RunSucceeded)
		}
	}
	if err := stores[1].IntegrityCheck(ctx); err != nil {
		t.Errorf("IntegrityCheck = %v, want nil", err)
	}
}

// TestStepsSideBySide: steps that run side by side save their records
// from as many goroutines through one store (one write at a time, on the
// store's writer connection): every record is kept, each with its own
// place in the run.
func TestStepsSideBySide(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.CreateRun(ctx, &engine.Run{ID: "r", Status: engine.RunRunning, StartedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				rec := &engine.StepRecord{RunID: "r", StepID: fmt.Sprintf("s%d-%02d", w, i), Status: engine.StepRunning}
				if err := s.SaveStep(ctx, rec); err != nil {
					errs <- err
					return
				}
				// A read between the writes, on another connection.
				if _, err := s.Run(ctx, "r"); err != nil {
					errs <- err
					return
				}
				rec.Status = engine.StepSucceeded
				if err := s.SaveStep(ctx, rec); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	steps, err := s.Steps(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != workers*each {
		t.Fatalf("%d step records, want %d", len(steps), workers*each)
	}
	seen := map[string]bool{}
	for _, st := range steps {
		if seen[st.StepID] || st.Status != engine.StepSucceeded {
			t.Errorf("step %s: listed twice or not succeeded (%s)", st.StepID, st.Status)
		}
		seen[st.StepID] = true
	}
}

func TestIntegrityCheck(t *testing.T) {
	const pageSize = 4096
	tests := []struct {
		name   string
		damage func(db []byte) // changes the database file's bytes
		want   string          // in the error
	}{
		{
			name: "row out of step with its index",
			damage: func(db []byte) {
				// The table row holds the id followed by the source; the
				// index entry holds the id followed by the rowid.
				i := bytes.Index(db, []byte("r150step: x"))
				if i < 0 {
					t.Fatal("row r150 not found in the database file")
				}
				db[i] = 'q'
			},
			want: "database is damaged: row",
		},
		{
			name: "garbage page",
			damage: func(db []byte) {
				page := len(db) / pageSize / 2
				copy(db[page*pageSize:(page+1)*pageSize], bytes.Repeat([]byte{0xa5}, pageSize))
			},
			want: "malformed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s := openStoreIn(t, dir)
			source := strings.Repeat("step: x\n", 300)
			for i := range 200 {
				if err := s.CreateRun(ctx, &engine.Run{ID: fmt.Sprintf("r%03d", i), Source: source}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.IntegrityCheck(ctx); err != nil {
				t.Fatalf("IntegrityCheck of a sound database = %v, want nil", err)
			}
			if err := s.Close(); err != nil { // checkpoints the WAL into the file
				t.Fatal(err)
			}

			path := filepath.Join(dir, DBName)
			db, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(db)
			if err := os.WriteFile(path, db, 0o600); err != nil {
				t.Fatal(err)
			}

			// What Open's quick check sees, IntegrityCheck sees too (on a
			// store past quickCheckMax, Open leaves it to rbflow doctor).
			raw := &Store{path: path, dir: dir}
			if raw.db, err = sql.Open("sqlite3", dsn(path, dsnOptions)); err != nil {
				t.Fatal(err)
			}
			err = raw.IntegrityCheck(ctx)
			raw.db.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("IntegrityCheck of a damaged database = %v, want an error naming the file and containing %q", err, tt.want)
			}

			// Open sets the damaged store aside and starts a fresh one.
			s, err = Open(dir)
			if err != nil {
				t.Fatalf("Open of the damaged database = %v, want a fresh store", err)
			}
			defer s.Close()
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) == 0 || !strings.Contains(s.Notice, "was damaged") || !strings.Contains(s.Notice, aside[0]) {
				t.Errorf("Open of a damaged store: set aside %v, notice %q", aside, s.Notice)
			}
			if runs, err := s.Runs(ctx, ""); err != nil || len(runs) != 0 {
				t.Errorf("the fresh store has %d runs (%v), want none", len(runs), err)
			}
			if err := s.IntegrityCheck(ctx); err != nil {
				t.Errorf("IntegrityCheck of the fresh store = %v", err)
			}
		})
	}
}

// TestOpenReadOnly: shell completion opens the store read-only: a folder
// without a store stays without one (none is created), an existing store
// is read while another connection writes, and nothing is written through
// the read-only one.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "state")
	if s, err := OpenReadOnly(missing); err == nil || !errors.Is(err, os.ErrNotExist) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("OpenReadOnly(%s) = %v, want an error wrapping ErrNotExist", missing, err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenReadOnly created %s (stat: %v)", missing, err)
	}

	dir := t.TempDir()
	w := openStoreIn(t, dir)
	if err := w.CreateRun(ctx, fullRun("20260101-000000-aaaaaa"), nil); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatalf("OpenReadOnly(%s) = %v", dir, err)
	}
	defer r.Close()
	if err := w.CreateRun(ctx, fullRun("20260101-000001-bbbbbb"), nil); err != nil {
		t.Fatal(err)
	}
	runs, err := r.Runs(ctx, "")
	if err != nil || len(runs) != 2 {
		t.Fatalf("Runs through the read-only store = %d runs, %v; want 2", len(runs), err)
	}
	if err := r.CreateRun(ctx, fullRun("20260101-000002-cccccc"), nil); err == nil {
		t.Errorf("CreateRun through the read-only store succeeded")
	}
}

// TestMigrationKeepsAnswers: a store written before answers recorded who
// gave them (schema version 3) opens with its runs and answers, the
// answers taken as given with --answer, by nobody known.
func TestMigrationKeepsAnswers(t *testing.T) {
	ctx := context.Background()
	if checkCgo() != nil {
		t.Skip("the SQLite store needs cgo; see TestCgo")
	}
	dir := t.TempDir()
	ms, err := migrations()
	if err != nil || len(ms) < 4 {
		t.Fatalf("migrations() = %d, %v; want at least 4", len(ms), err)
	}
	db, err := sql.Open("sqlite3", dsn(filepath.Join(dir, DBName), dsnOptions))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:3] {
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	for _, q := range []string{
		"PRAGMA user_version = 3",
		`INSERT INTO runs (id, procedure, source, source_path, hash, params_json, repo, state_dir, status,
			parent_run, parent_step, target_ns, generation, failed_step, owner_pid, owner_start)
			VALUES ('r1', 'p', '', '', '', '{}', '', '', 'waiting', '', '', 0, 1, '', 0, 0)`,
		`INSERT INTO answers (run_id, step_id, value) VALUES ('r1', 'go', 'yes')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s := openStoreIn(t, dir)
	run, err := s.Run(ctx, "r1")
	if err != nil || run.Status != engine.RunWaiting || run.Actor != (engine.Actor{}) {
		t.Fatalf("Run(r1) after the migration = %+v, %v", run, err)
	}
	got, err := s.Answers(ctx, "r1")
	want := []engine.Answer{{RunID: "r1", StepID: "go", Value: "yes", Source: engine.AnswerFlag}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Answers(r1) after the migration = %+v, %v, want %+v", got, err, want)
	}
}
