package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeletedWALSavedByTheWriter: the write-ahead log is deleted while the
// store is open, and a step is saved while the durable connection is busy
// elsewhere (a durable write of a step beside it). The records since the
// deletion are only in the deleted log, which the connections opened
// before it still hold; a connection opened after it makes a new, empty
// log, and a checkpoint through that one saves nothing. state.db alone,
// as a killed rbflow leaves it to the next process, must hold the step.
func TestDeletedWALSavedByTheWriter(t *testing.T) {
	dir := t.TempDir()
	s := openStoreIn(t, dir)
	ctx := context.Background()
	if err := s.CreateRun(ctx, fullRun("run"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveStep(ctx, fullStep("run", "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, DBName+"-wal")); err != nil {
		t.Fatal(err)
	}
	busy, err := s.durable.Conn(ctx) // the durable pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	saveErr := s.SaveStep(ctx, fullStep("run", "b"))
	busy.Close()
	if saveErr != nil {
		t.Fatalf("SaveStep after the log was deleted: %v", saveErr)
	}

	// What the next process finds: state.db, without the deleted log.
	after := t.TempDir()
	b, err := os.ReadFile(filepath.Join(dir, DBName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(after, DBName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	next := openStoreIn(t, after)
	steps, err := next.Steps(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, st := range steps {
		ids = append(ids, st.StepID)
	}
	if len(ids) != 2 {
		t.Fatalf("state.db holds steps %v, want a and b: the record saved after the log was deleted is lost", ids)
	}
}

// TestDeletedWALPartialCheckpointFails: the log deleted while another
// process reads an older state; the checkpoint cannot take every frame
// (it waits the busy timeout, ten seconds, for the reader). The save must
// say its record is not safe, not pass as saved.
func TestDeletedWALPartialCheckpointFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStoreIn(t, dir)
	ctx := context.Background()
	if err := s.CreateRun(ctx, fullRun("run"), nil); err != nil {
		t.Fatal(err)
	}
	reader, err := sql.Open("sqlite3", dsn(filepath.Join(dir, DBName), "_busy_timeout=500"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM runs").Scan(&n); err != nil { // the reader's state is now fixed
		t.Fatal(err)
	}
	if err := s.SaveStep(ctx, fullStep("run", "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, DBName+"-wal")); err != nil {
		t.Fatal(err)
	}
	err = s.SaveStep(ctx, fullStep("run", "b"))
	if err == nil || !strings.Contains(err.Error(), "could not be saved") {
		t.Fatalf("SaveStep with the log deleted and a reader on an older state: %v, want an error that the records could not be saved", err)
	}
}
