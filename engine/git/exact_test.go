package git

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// TestExactRestoreRandom: on trees made by testkit.DirtyTree (eol
// attributes, autocrlf, modes, empty directories, intent-to-add,
// skip-worktree, assume-unchanged, merge, cherry-pick and rebase conflicts,
// a dirty submodule, symlinks, odd names), a snapshot, the emergency
// rollback's git steps (forget the operation, switch to the baseline
// discarding changes, reset --hard, clean -fdx) and a restore give back the
// tree, the index with its flags and stages, HEAD, the branch, the
// operation in progress and the refs, exactly; only ignored reinstallable
// trees differ, as documented. make test takes 6 trees from a new seed
// (tree i has kind i, others at random); make test-long and make test-undo
// take 240, 16 of each kind.
func TestExactRestoreRandom(t *testing.T) {
	t.Parallel()
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	n := *treesFlag
	if n == 0 {
		n = 6
		if testkit.Long() {
			n = 16 * len(testkit.TreeKinds)
		}
	}
	t.Logf("seed %d, %d trees", seed, n)
	var mu sync.Mutex // the subtests run in parallel
	covered := map[string]int{}
	for i := 0; i < n; i++ {
		i := i
		rnd := rand.New(rand.NewSource(seed + int64(i)))
		t.Run(fmt.Sprintf("tree%03d", i), func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce: go test -run 'TestExactRestoreRandom/tree%03d$' ./engine/git -args -seed %d", i, seed)
				}
			})
			// Kinds rotate from a seeded start, so that runs with fewer
			// trees than kinds still cover every kind over time.
			kinds := exactRoundTrip(t, rnd, i+int(uint64(seed)%uint64(len(testkit.TreeKinds))))
			mu.Lock()
			for _, k := range kinds {
				covered[k]++
			}
			mu.Unlock()
		})
	}
	t.Cleanup(func() { t.Logf("trees per kind: %v", covered) })
}

func exactRoundTrip(t *testing.T, rnd *rand.Rand, i int) []string {
	ctx := context.Background()
	dir, kinds := testkit.DirtyTree(t, rnd, i)
	t.Logf("kinds: %s", strings.Join(kinds, " "))
	r, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	before := testkit.TreeManifest(t, dir)
	snap, err := r.Snapshot(ctx, "refs/rbflow/t/before", SnapshotOptions{IncludeIgnored: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := testkit.TreeManifest(t, dir); got != before {
		t.Fatalf("Snapshot changed the tree (kinds %v):\n%s", kinds, testkit.LineDiff(before, got))
	}
	for _, sp := range snap.Skipped {
		if sp.Reason != SkipReinstallable && sp.Reason != SkipSubmodule {
			t.Errorf("skipped %+v, which must be saved", sp)
		}
	}
	// What emergency does.
	if err := r.PrepareDiscard(ctx); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"switch", "-q", "--discard-changes", "baseline"},
		{"reset", "-q", "--hard", "baseline"},
		{"clean", "-q", "-fdx", "-e", ".env"},
	} {
		if _, err := r.Git(ctx, args...); err != nil {
			t.Fatalf("kinds %v: %v", kinds, err)
		}
	}
	testkit.Git(t, dir, "branch", "made-by-the-run")
	testkit.Git(t, dir, "tag", "-d", "light")
	after, err := r.Snapshot(ctx, "refs/rbflow/t/after", snap.Options())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(ctx, snap, RestoreOptions{After: after, Backup: "refs/rbflow/t/backup"}); err != nil {
		t.Fatalf("kinds %v: %v", kinds, err)
	}
	if got := testkit.TreeManifest(t, dir); got != before {
		t.Fatalf("Restore differs (kinds %v):\n%s", kinds, testkit.LineDiff(before, got))
	}
	return kinds
}
