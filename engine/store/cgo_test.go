package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// TestCgo fails when the test binary was built with CGO_ENABLED=0: go-sqlite3
// then compiles to a stub that fails at runtime, and rbflow cannot keep state.
func TestCgo(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatalf("sql.Open(sqlite3) = %v; build with CGO_ENABLED=1 and gcc installed", err)
	}
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version); err != nil {
		t.Fatalf("the sqlite3 driver does not work: %v; build with CGO_ENABLED=1 and gcc installed", err)
	}
	t.Logf("SQLite %s", version)

	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("Open = %v, want a store", err)
	}
	defer s.Close()
	if err := s.CreateRun(ctx, &engine.Run{ID: "r1", Status: engine.RunRunning}, nil); err != nil {
		t.Fatalf("CreateRun = %v, want nil", err)
	}
	if _, err := s.Run(ctx, "r1"); err != nil {
		t.Fatalf("Run(%q) = %v, want the run", "r1", err)
	}
}
