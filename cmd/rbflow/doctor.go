package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/git"
	"github.com/rbflow/rbflow/engine/store"
)

type doctorCmd struct{}

func (*doctorCmd) Name() string  { return "doctor" }
func (*doctorCmd) Usage() string { return "" }
func (*doctorCmd) Summary() string {
	return "check the store, snapshots against their records, the lock and stale runs, and disk space; say how to repair each finding"
}
func (*doctorCmd) Flags(*pflag.FlagSet) {}

// finding is one thing doctor saw: ok, or a problem with its repair.
type finding struct {
	ok     bool
	what   string
	repair string
}

// Run checks, in order: the store's integrity (SQLite's full
// integrity_check) and damaged stores set aside; runs recorded as running
// whose rbflow is gone; the repository lock; every snapshot record against
// its ref in rbflow's snapshot store, and refs no record knows; free space
// where the state and the repository live. It exits 1 if anything needs a
// repair, and changes nothing.
func (*doctorCmd) Run(ctx context.Context, a *app, args []string) error {
	a.drives = true
	if len(args) > 0 {
		return usagef("doctor takes no arguments")
	}
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	var fs []finding
	add := func(ok bool, what, repair string) { fs = append(fs, finding{ok, what, repair}) }

	if err := s.store.IntegrityCheck(ctx); err != nil {
		add(false, "the store is damaged: "+err.Error(),
			fmt.Sprintf("move %s (and its -wal, -shm) aside: the next rbflow command starts a fresh store; snapshots are kept in the repository", filepath.Join(s.stateDir, store.DBName)))
	} else {
		add(true, "store integrity: ok ("+filepath.Join(s.stateDir, store.DBName)+")", "")
	}
	aside, _ := filepath.Glob(filepath.Join(s.stateDir, store.DBName+".damaged-*"))
	for _, p := range aside {
		if !strings.HasSuffix(p, "-wal") && !strings.HasSuffix(p, "-shm") {
			add(false, "a damaged store was set aside: "+p,
				"inspect it (sqlite3 "+p+" .recover), then delete it and its -wal, -shm files")
		}
	}

	runs, err := s.store.Runs(ctx, s.repo)
	if err != nil {
		return err
	}
	stale := 0
	for _, r := range runs {
		if r.Status == engine.RunRunning && r.Shown() == engine.RunInterrupted {
			stale++
			add(false, fmt.Sprintf("run %s (%s) is recorded as running, but its rbflow (pid %d) is gone", r.ID, r.Procedure, r.OwnerPID),
				fmt.Sprintf("finish it: rbflow resume %s, or give it up: rbflow cancel %s", r.ID, r.ID))
		}
	}
	if stale == 0 {
		add(true, fmt.Sprintf("runs: %d recorded, none left running by a dead rbflow", len(runs)), "")
	}

	if lk, err := engine.InspectLock(s.stateDir, s.repo); err != nil {
		add(false, "the lock "+lk.Path+" cannot be read: "+err.Error(), "check the state folder's permissions")
	} else if lk.Held && !lk.Holder.Alive() {
		add(false, fmt.Sprintf("the lock %s is held, but the rbflow it names (pid %d, run %s) is gone: a process it started still holds it", lk.Path, lk.Holder.PID, lk.RunID),
			"find it with: fuser "+lk.Path+" (end it by its pid if it is a leftover of that run)")
	} else if lk.Held {
		add(true, fmt.Sprintf("lock: held by rbflow pid %d for run %s (running now)", lk.Holder.PID, lk.RunID), "")
	} else {
		add(true, "lock: free", "")
	}

	if s.repo != "" {
		checkSnapshots(ctx, s, runs, add)
	}
	for _, dir := range []string{s.stateDir, s.repo} {
		if dir == "" {
			continue
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			continue
		}
		free, total := st.Bavail*uint64(st.Bsize), st.Blocks*uint64(st.Bsize)
		if free < 200<<20 || (total > 0 && free*100/total < 5) {
			add(false, "little disk space: "+strings.Trim(engine.FreeSpace(dir), " ()"),
				"free space before a rollback: snapshots, logs and the store need it, and a store that cannot write stops the run")
		} else {
			add(true, "disk space: "+strings.Trim(engine.FreeSpace(dir), " ()"), "")
		}
	}

	problems := 0
	for _, f := range fs {
		if f.ok {
			fmt.Fprintf(a.stdout, "ok    %s\n", f.what)
			continue
		}
		problems++
		fmt.Fprintf(a.stdout, "FIX   %s\n      → %s\n", f.what, f.repair)
	}
	if problems > 0 {
		return &reported{fmt.Errorf("doctor: %d findings need a repair", problems)}
	}
	fmt.Fprintln(a.stdout, "nothing to repair")
	return nil
}

// checkSnapshots compares the snapshot records of the store with the refs
// of rbflow's snapshot store: a record whose ref is gone cannot be undone;
// refs of runs the store does not know are kept, unlisted, by nothing.
func checkSnapshots(ctx context.Context, s *session, runs []*engine.Run, add func(bool, string, string)) {
	repo, err := git.Open(ctx, s.repo)
	if err != nil {
		return
	}
	snaps, err := s.store.Snapshots(ctx, "")
	if err != nil {
		add(false, "snapshot records cannot be read: "+err.Error(), "see the store's finding above")
		return
	}
	refs, err := repo.KeptRefs(ctx, git.KeptPrefix)
	if err != nil {
		add(false, "snapshot refs cannot be listed: "+err.Error(), "check "+repo.KeepDir())
		return
	}
	have := map[string]bool{}
	for _, r := range refs {
		have[r] = true
	}
	known := map[string]bool{}
	for _, r := range runs {
		known[r.ID] = true
	}
	recorded := map[string]bool{}
	missing := 0
	for _, sn := range snaps {
		recorded[sn.Ref] = true
		if !known[sn.RunID] {
			continue // a run of another repository sharing the state folder
		}
		if !have[sn.Ref] {
			missing++
			add(false, fmt.Sprintf("run %s: its snapshot %s is recorded but its ref is gone", sn.RunID, sn.Ref),
				fmt.Sprintf("rbflow undo %s cannot restore it; if the commit %s still exists: git --git-dir=%s update-ref %s %s", sn.RunID, sn.Commit, repo.KeepDir(), sn.Ref, sn.Commit))
		}
	}
	orphans := map[string]int{}
	for _, r := range refs {
		id, _, _ := strings.Cut(strings.TrimPrefix(r, git.KeptPrefix), "/")
		if !known[id] && !recorded[r] {
			orphans[id]++
		}
	}
	ids := make([]string, 0, len(orphans))
	for id := range orphans {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		add(false, fmt.Sprintf("%d snapshot refs of run %s, which the store does not know (a store set aside or lost?)", orphans[id], id),
			fmt.Sprintf("they still hold that run's files: git --git-dir=%s log --stat %s%s/; delete them when done: git --git-dir=%s for-each-ref --format='delete %%(refname)' %s%s/ | git --git-dir=%s update-ref --stdin",
				repo.KeepDir(), git.KeptPrefix, id, repo.KeepDir(), git.KeptPrefix, id, repo.KeepDir()))
	}
	if missing == 0 && len(orphans) == 0 {
		add(true, fmt.Sprintf("snapshots: %d refs, every record has its ref and every ref its run", len(refs)), "")
	}
}
