package git

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// KeptPrefix begins the refs rbflow keeps: snapshots, and the branches and
// tags its steps deleted (refs/rbflow/<run>/<step>...).
const KeptPrefix = "refs/rbflow/"

// IsKept reports whether ref is one rbflow keeps in its own store.
func IsKept(ref string) bool { return strings.HasPrefix(ref, KeptPrefix) }

// The kept refs live in a bare repository of rbflow's own, next to the
// repository's objects: <common dir>/rbflow/snapshots.git. Two promises
// follow from that, and no ref namespace inside the repository could keep
// both: a push of the repository, --mirror included, sends only the
// repository's refs, so no snapshot (with its ignored .env files and
// uncommitted work) leaves with it; and git gc of the repository never
// looks into another object store, so it cannot prune what a snapshot
// holds. The store's objects/info/alternates names the repository's
// objects: what the repository's refs reach when a ref is kept is shared,
// not copied (it stays as long as those refs or their reflogs hold it);
// everything else the kept ref needs is packed into the store.
func (r *Repo) keepDir() string { return filepath.Join(r.commonDir, "rbflow", "snapshots.git") }

// KeepDir is the git directory of rbflow's store of kept refs, for people
// who look inside: git --git-dir=KEEPDIR show REF.
func (r *Repo) KeepDir() string { return r.keepDir() }

// keepStore returns the store's git directory, making it on first use.
func (r *Repo) keepStore(ctx context.Context) (string, error) {
	dir := r.keepDir()
	if _, err := os.Stat(filepath.Join(dir, "objects", "info", "alternates")); err == nil {
		if r.format == "sha1" || r.format == "" {
			return dir, nil
		}
		// Older rbflow made every store in SHA-1, which cannot hold a
		// snapshot of a SHA-256 repository: such a store is empty (no ref
		// could be written to it) and is made again.
		if out, err := r.gitIn(ctx, true, "rev-parse", "--show-object-format"); err != nil || strings.TrimSpace(string(out)) == r.format {
			return dir, err
		}
		if refs, err := r.gitIn(ctx, true, "for-each-ref", "--count=1"); err != nil || len(refs) > 0 {
			return "", fmt.Errorf("snapshot store %s is not in the repository's object format %s", dir, r.format)
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("snapshot store: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return "", fmt.Errorf("snapshot store: %w", err)
	}
	// Made aside and renamed into place: a store is whole or absent, even
	// when rbflow is killed while making it or two processes race.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "snapshots.git.new-")
	if err != nil {
		return "", fmt.Errorf("snapshot store: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := r.run(ctx, runOpts{}, "init", "-q", "--bare", "--object-format="+cmp.Or(r.format, "sha1"), tmp); err != nil {
		return "", fmt.Errorf("snapshot store: %w", err)
	}
	objects, err := filepath.Abs(filepath.Join(r.commonDir, "objects"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "objects", "info", "alternates"), []byte(objects+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("snapshot store: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "objects", "info", "alternates")); serr == nil {
			return dir, nil // made by another rbflow meanwhile
		}
		return "", fmt.Errorf("snapshot store: %w", err)
	}
	return dir, nil
}

// storing returns a copy of r whose git commands write new objects into
// the store's object directory, and read those of the repository through
// the store's alternates. Commands that write what the repository itself
// must hold (its refs, its index) must not run on it.
func (r *Repo) storing(ctx context.Context) (*Repo, error) {
	dir, err := r.keepStore(ctx)
	if err != nil {
		return nil, err
	}
	objects, err := filepath.Abs(filepath.Join(dir, "objects"))
	if err != nil {
		return nil, err
	}
	w := *r
	w.Env = append(append([]string{}, r.Env...), "GIT_OBJECT_DIRECTORY="+objects)
	w.stored = objects
	return &w, nil
}

// gitIn runs git on the store (which must exist) when keep is set, on the
// repository otherwise.
func (r *Repo) gitIn(ctx context.Context, keep bool, args ...string) ([]byte, error) {
	if keep {
		args = append([]string{"--git-dir=" + r.keepDir()}, args...)
	}
	return r.run(ctx, runOpts{}, args...)
}

func (r *Repo) hasKeep() bool {
	_, err := os.Stat(filepath.Join(r.keepDir(), "objects", "info", "alternates"))
	return err == nil
}

// Keep points the kept ref ref at obj (a commit, tag or tree of the
// repository), which it must not point at yet: the objects obj needs that
// the repository's refs do not reach are packed into the store first.
func (r *Repo) Keep(ctx context.Context, ref, obj string) error {
	if err := checkKeptRef(ref); err != nil {
		return err
	}
	if _, err := r.keepStore(ctx); err != nil {
		return err
	}
	list, err := r.run(ctx, runOpts{}, "rev-list", "--objects", obj, "--not", "--all")
	if err != nil {
		return fmt.Errorf("keep %s: %w", ref, err)
	}
	if list, err = r.notStored(ctx, list); err != nil {
		return fmt.Errorf("keep %s: %w", ref, err)
	}
	return r.keepPacked(ctx, ref, obj, list)
}

// keepWith is Keep for a snapshot that knows which objects of the
// repository it holds that the refs may not reach (state.needs): those are
// packed into the store, with no walk of everything obj holds.
func (r *Repo) keepWith(ctx context.Context, ref, obj string, needs []string) error {
	if err := checkKeptRef(ref); err != nil {
		return err
	}
	var list []byte
	if len(needs) > 0 {
		list = []byte(strings.Join(needs, "\n") + "\n")
	}
	return r.keepPacked(ctx, ref, obj, list)
}

func checkKeptRef(ref string) error {
	if !IsKept(ref) {
		return fmt.Errorf("keep %s: a kept ref begins with %s", ref, KeptPrefix)
	}
	return CheckRef(ref)
}

// keepPacked packs the objects of list (one id a line) into the store,
// then points ref at obj there.
func (r *Repo) keepPacked(ctx context.Context, ref, obj string, list []byte) error {
	if len(list) > 0 {
		pack := filepath.Join(r.keepDir(), "objects", "pack", "pack")
		if _, err := r.run(ctx, runOpts{stdin: list}, "pack-objects", "-q", pack); err != nil {
			return fmt.Errorf("keep %s: %w", ref, err)
		}
	}
	// The empty old value makes git refuse if the ref exists.
	if err := r.updateKept(ctx, ref, "-m", "rbflow", ref, obj, ""); err != nil {
		if ok, _ := r.keptExists(ctx, ref); ok {
			return fmt.Errorf("keep %s: %w", ref, ErrRefExists)
		}
		return fmt.Errorf("keep %s: %w", ref, err)
	}
	return nil
}

// keptValue returns what the kept ref points at, in the store or, for a
// ref an older rbflow kept, in the repository; "" when it does not exist.
func (r *Repo) keptValue(ctx context.Context, ref string) (string, error) {
	if r.hasKeep() {
		if v, err := refValueIn(ctx, r, true, ref); err != nil || v != "" {
			return v, err
		}
	}
	return refValueIn(ctx, r, false, ref)
}

func refValueIn(ctx context.Context, r *Repo, keep bool, ref string) (string, error) {
	dir := r.commonDir
	if keep {
		dir = r.keepDir()
	}
	if id, ok := keptRefFromFiles(dir, ref); ok {
		return id, nil
	}
	out, err := r.gitIn(ctx, keep, "rev-parse", "-q", "--verify", "--end-of-options", ref)
	if err != nil {
		if exitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func (r *Repo) keptExists(ctx context.Context, ref string) (bool, error) {
	v, err := r.keptValue(ctx, ref)
	return v != "", err
}

// KeptRefs lists the kept refs that begin with prefix (a KeptPrefix path
// such as refs/rbflow/<run>/), sorted.
func (r *Repo) KeptRefs(ctx context.Context, prefix string) ([]string, error) {
	if !IsKept(prefix) {
		return nil, fmt.Errorf("kept refs: %q does not begin with %s", prefix, KeptPrefix)
	}
	seen := map[string]bool{}
	var out []string
	for _, keep := range []bool{true, false} {
		if keep && !r.hasKeep() {
			continue
		}
		b, err := r.gitIn(ctx, keep, "for-each-ref", "--format=%(refname)", prefix)
		if err != nil {
			return nil, fmt.Errorf("kept refs: %w", err)
		}
		for _, ref := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if ref != "" && !seen[ref] {
				seen[ref] = true
				out = append(out, ref)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// keptUpdates serializes this process's updates of kept refs (updateKept).
var keptUpdates sync.Mutex

// updateKept runs git update-ref with args on the store, for the kept ref
// ref. It first removes the lock file (<ref>.lock) that a git killed while
// updating ref leaves behind: a SIGKILL gives git no chance to remove it,
// and every later update of ref would fail ("cannot lock ref ...: File
// exists"). The lock can only be a dead git's. A kept ref names its run
// (refs/rbflow/<run>/...), and only the rbflow that owns the run updates
// it (rbflow gc deletes the refs of runs that are over): a resumed run
// starts no step before its previous owner and all that owner's processes
// are gone, and within this process keptUpdates lets one update at a time
// through.
func (r *Repo) updateKept(ctx context.Context, ref string, args ...string) error {
	keptUpdates.Lock()
	defer keptUpdates.Unlock()
	lock := filepath.Join(r.keepDir(), filepath.FromSlash(ref)+".lock")
	if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s, left by a git that was killed: %w", lock, err)
	}
	_, err := r.gitIn(ctx, true, append([]string{"update-ref"}, args...)...)
	return err
}

// DeleteKept deletes a kept ref (from the store and, where an older rbflow
// kept it, from the repository). A missing ref is not an error.
func (r *Repo) DeleteKept(ctx context.Context, ref string) error {
	if !IsKept(ref) {
		return fmt.Errorf("delete %s: not a kept ref", ref)
	}
	// Not there: nothing to delete (the after-state ref of a run's
	// first end), and no git started for it.
	if _, found, ok := refInFiles(r.keepDir(), ref); r.hasKeep() && (found || !ok || usesReftable(r.keepDir())) {
		if err := r.updateKept(ctx, ref, "-d", ref); err != nil {
			return fmt.Errorf("delete %s: %w", ref, err)
		}
	}
	if v, err := refValueIn(ctx, r, false, ref); err == nil && v != "" {
		if _, err := r.run(ctx, runOpts{}, "update-ref", "-d", ref); err != nil {
			return fmt.Errorf("delete %s: %w", ref, err)
		}
	}
	return nil
}

// PruneKept drops from the store the objects no kept ref needs any more
// (after DeleteKept of expired snapshots).
func (r *Repo) PruneKept(ctx context.Context) error {
	if !r.hasKeep() {
		return nil
	}
	_, err := r.gitIn(ctx, true, "-c", "gc.reflogExpire=now", "-c", "gc.reflogExpireUnreachable=now", "gc", "-q", "--prune=now")
	return err
}

// fetchKept makes sure the repository has every object the kept ref
// needs: restoring writes them into its index, HEAD and branches, which
// must not depend on rbflow's store. It returns the object id.
func (r *Repo) fetchKept(ctx context.Context, ref string) (string, error) {
	if r.hasKeep() {
		v, err := refValueIn(ctx, r, true, ref)
		if err != nil {
			return "", err
		}
		if v != "" {
			if _, err := r.run(ctx, runOpts{}, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "fetch.writeCommitGraph=false",
				"fetch", "-q", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules", r.keepDir(), ref); err != nil {
				return "", fmt.Errorf("read %s from the snapshot store: %w", ref, err)
			}
			return v, nil
		}
	}
	v, err := refValueIn(ctx, r, false, ref)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%w: %s", errNoKept, ref)
	}
	return v, nil
}

var errNoKept = errors.New("no such snapshot")

// notStored drops from list (rev-list --objects output) the objects that
// a Repo from storing wrote into the store itself: what remains are the
// objects the repository has but its refs do not reach (blobs the user
// staged, say), which must be packed into the store.
func (r *Repo) notStored(ctx context.Context, list []byte) ([]byte, error) {
	if r.stored == "" || len(list) == 0 {
		return list, nil
	}
	repo := *r // the repository alone, without the store
	repo.Env, repo.stored = nil, ""
	for _, kv := range r.Env {
		if kv != "GIT_OBJECT_DIRECTORY="+r.stored {
			repo.Env = append(repo.Env, kv)
		}
	}
	var ids bytes.Buffer
	lines := bytes.SplitAfter(list, []byte("\n"))
	for _, line := range lines {
		id, _, _ := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
		if len(id) > 0 {
			ids.Write(id)
			ids.WriteByte('\n')
		}
	}
	out, err := repo.run(ctx, runOpts{stdin: ids.Bytes()}, "cat-file", "--batch-check=%(objectname)")
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if isObjectID(l) {
			has[l] = true // missing ones print "ID missing"
		}
	}
	var keep bytes.Buffer
	for _, line := range lines {
		id, _, _ := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
		if has[string(id)] {
			keep.Write(line)
		}
	}
	return keep.Bytes(), nil
}
