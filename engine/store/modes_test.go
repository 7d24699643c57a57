//go:build unix

package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// TestModes checks that the state folder is 0700 and the database and its
// WAL files 0600 whatever the umask: runs hold params, some of them secret.
// It changes the process umask, so it must not run in parallel.
func TestModes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		umask    int
		existing os.FileMode // mode of a database file that already exists; 0 for none
	}{
		{name: "umask 0", umask: 0},
		{name: "umask 022", umask: 0o022},
		{name: "existing world-readable database", umask: 0o022, existing: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := syscall.Umask(tt.umask)
			defer syscall.Umask(old)

			dir := filepath.Join(t.TempDir(), "new", "state")
			if tt.existing != 0 {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, DBName), nil, tt.existing); err != nil {
					t.Fatal(err)
				}
				os.Chmod(filepath.Join(dir, DBName), tt.existing)
			}
			s := openStoreIn(t, dir)
			// Write something so that the WAL holds data.
			if err := s.CreateRun(ctx, &engine.Run{ID: "r", Params: map[string]any{"token": "secret"}}, nil); err != nil {
				t.Fatal(err)
			}
			want := map[string]os.FileMode{
				dir:                               0o700,
				filepath.Join(dir, DBName):        0o600,
				filepath.Join(dir, DBName+"-wal"): 0o600,
				filepath.Join(dir, DBName+"-shm"): 0o600,
			}
			for path, w := range want {
				info, err := os.Stat(path)
				if err != nil {
					t.Errorf("stat %s: %v", path, err)
					continue
				}
				if got := info.Mode().Perm(); got != w {
					t.Errorf("mode of %s = %v, want %v", filepath.Base(path), got, w)
				}
			}
		})
	}
}
