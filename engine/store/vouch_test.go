package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// storeWithRuns opens a store in dir, records n runs and closes it.
func storeWithRuns(t *testing.T, dir string, from, n int) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if err := s.CreateRun(context.Background(), &engine.Run{ID: fmt.Sprintf("r%03d", i), Source: strings.Repeat("step: x\n", 300)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkedHow opens the store in dir and says whether Open checked it in
// full ("full") or found it vouched for ("vouched").
func checkedHow(t *testing.T, dir string) (string, *Store) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case s.chain.IsZero():
		return "none", s
	case s.fullCheck:
		return "full", s
	}
	return "vouched", s
}

// TestCheckVouched: a store that the last checked session left as it was
// is not checked again in full at Open, and the chain keeps the time of
// the full check that began it; anything else is checked in full.
func TestCheckVouched(t *testing.T) {
	if checkCgo() != nil {
		t.Skip("the SQLite store needs cgo; see TestCgo")
	}
	dir := filepath.Join(t.TempDir(), "st*[a]te") // a folder whose name is a glob
	storeWithRuns(t, dir, 0, 50)
	v, ok := readVouch(filepath.Join(dir, DBName+checkedSuffix))
	if fi, err := os.Stat(filepath.Join(dir, DBName)); !ok || err != nil || v.size != fi.Size() {
		t.Fatalf("after a checked session, state.db-checked = %+v (%v), want the file's size %v", v, ok, fi)
	}
	if fi, err := os.Stat(filepath.Join(dir, DBName+checkedSuffix)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state.db-checked: %v %v, want mode 0600", fi, err)
	}
	// What a session killed before its rename left is removed once it is
	// a minute old; a newer one may be another session's, in flight.
	// Only in the store's own folder, whatever its name: a sibling that
	// its name would match as a glob keeps its files.
	stale, fresh := filepath.Join(dir, DBName+checkedSuffix+".111"), filepath.Join(dir, DBName+checkedSuffix+".222")
	sibling := filepath.Join(filepath.Dir(dir), "stXate", DBName+checkedSuffix+".333")
	os.MkdirAll(filepath.Dir(sibling), 0o700)
	for _, p := range []string{stale, fresh, sibling} {
		if err := os.WriteFile(p, []byte("rbflow-checked 1 1 0 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Minute)
	os.Chtimes(stale, old, old)
	os.Chtimes(sibling, old, old)
	storeWithRuns(t, dir, 50, 1)
	if _, err := os.Stat(sibling); err != nil {
		t.Errorf("%s, in another folder, was removed: %v", sibling, err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Errorf("%s, left two minutes ago, was not removed", stale)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("%s, written just now, was removed: %v", fresh, err)
	}
	os.Remove(fresh)
	v, _ = readVouch(filepath.Join(dir, DBName+checkedSuffix))

	// Back-date the chain by an hour, as if the full check ran then.
	v.full = v.full.Add(-time.Hour)
	if err := os.WriteFile(filepath.Join(dir, DBName+checkedSuffix), []byte(v.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	how, s := checkedHow(t, dir)
	if how != "vouched" || !s.chain.Equal(v.full) {
		t.Errorf("Open of the store as the last session left it: %s (chain %v), want vouched, chain %v", how, s.chain, v.full)
	}
	if err := s.CreateRun(context.Background(), &engine.Run{ID: "more"}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if how, s = checkedHow(t, dir); how != "vouched" || !s.chain.Equal(v.full) {
		t.Errorf("Open after a vouched session that wrote: %s (chain %v), want vouched, chain %v", how, s.chain, v.full)
	}
	s.Close()

	// The chain ends checkedFor after its full check.
	v, _ = readVouch(filepath.Join(dir, DBName+checkedSuffix))
	v.full = time.Now().Add(-checkedFor - time.Minute)
	os.WriteFile(filepath.Join(dir, DBName+checkedSuffix), []byte(v.String()), 0o600)
	if how, s = checkedHow(t, dir); how != "full" {
		t.Errorf("Open when the full check is over a day old: %s, want full", how)
	}
	s.Close()

	// A record that is not one, or from the future, vouches for nothing.
	for _, bad := range []string{"garbage\n", strings.Replace(v.String(), "rbflow-checked 1", "rbflow-checked 2", 1),
		vouch{size: v.size, sum: v.sum, full: time.Now().Add(time.Hour)}.String()} {
		os.WriteFile(filepath.Join(dir, DBName+checkedSuffix), []byte(bad), 0o600)
		if how, s = checkedHow(t, dir); how != "full" {
			t.Errorf("Open with state.db-checked %q: %s, want full", bad, how)
		}
		s.Close()
	}

	// A store left open by another connection is not vouched for by the
	// one that closes first, and records in its log send Open to the
	// full check.
	other, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.CreateRun(context.Background(), &engine.Run{ID: "other"}, nil); err != nil {
		t.Fatal(err)
	}
	if how, s = checkedHow(t, dir); how != "full" {
		t.Errorf("Open while another connection has records in the log: %s, want full", how)
	}
	before, _ := os.ReadFile(filepath.Join(dir, DBName+checkedSuffix))
	s.Close()
	if after, _ := os.ReadFile(filepath.Join(dir, DBName+checkedSuffix)); !bytes.Equal(before, after) {
		t.Errorf("a session that closed while another had the store open wrote state.db-checked:\n%s\nwas\n%s", after, before)
	}
	other.Close()
	if how, s = checkedHow(t, dir); how != "vouched" {
		t.Errorf("Open after the last session closed: %s, want vouched", how)
	}
	s.Close()
}

// TestVouchedStoreDamaged: a vouched-for store whose file changed behind
// rbflow's back, same size and same modification time, is still found
// damaged at Open and set aside.
func TestVouchedStoreDamaged(t *testing.T) {
	if checkCgo() != nil {
		t.Skip("the SQLite store needs cgo; see TestCgo")
	}
	dir := t.TempDir()
	storeWithRuns(t, dir, 0, 200)
	path := filepath.Join(dir, DBName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := readVouch(path + checkedSuffix); !ok {
		t.Fatal("no state.db-checked after a checked session")
	}
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(db, []byte("r150step: x")) // the row, out of step with its index now
	if i < 0 {
		t.Fatal("row r150 not found in the database file")
	}
	db[i] = 'q'
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open of the damaged store = %v, want a fresh one", err)
	}
	defer s.Close()
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) == 0 || !strings.Contains(s.Notice, "was damaged") {
		t.Errorf("Open of a vouched-for store damaged since: set aside %v, notice %q; want it set aside", aside, s.Notice)
	}
	if runs, err := s.Runs(context.Background(), ""); err != nil || len(runs) != 0 {
		t.Errorf("the fresh store has %d runs (%v), want none", len(runs), err)
	}
}
