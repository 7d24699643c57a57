// Package git is rbflow's safe git plumbing: the layer under the git step
// kind and `rbflow undo`, and the code behind the "nothing lost" promise.
//
// Git always runs as an argv (exec.CommandContext), never through a shell, and
// values that come from users are checked first (CheckRef, CheckPath,
// ResolveCommit). A Snapshot is a commit stored under refs/rbflow/... that holds
// HEAD, the index and the whole work tree (tracked, untracked and ignored
// files, except reinstallable trees and oversized ignored files, which it
// lists). It is built with a temporary index, so taking one changes nothing in
// the work tree, the index, the stash or HEAD. Restore brings a snapshot back
// after checking that it would not overwrite changes made after the run, and
// Traces reports what a git process that died left behind, for resume.
//
// Layout of a snapshot commit S (compatible in spirit with git stash):
//
//	S        tree: the work tree as it was on disk (tracked + untracked +
//	         saved ignored files, raw bytes: no clean filter, no eol rule)
//	         parents: HEAD (absent when HEAD was unborn), then I, then M
//	         message: a subject, the caller's message, and Rbflow-* trailers
//	         (HEAD sha, branch, index tree, meta commit, options, skipped paths)
//	I = S^2  (S^1 when HEAD was unborn) tree: the index as it was
//	         parents: HEAD (absent when HEAD was unborn)
//	M        tree: what trees cannot hold (see meta in exact.go): the index
//	         file byte for byte (conflict stages, intent-to-add, skip-worktree,
//	         assume-unchanged), the permission bits of every saved file and
//	         directory (empty ones too), the state of a merge, cherry-pick,
//	         revert or rebase in progress, and refs/heads + refs/tags
//	         parents: the commits those refs and that state point at, which
//	         the snapshot so keeps alive through git gc
//
// Snapshots older than M lack it; Restore then works as git would (umask
// modes, index from I). By hand, without rbflow: `git read-tree I` brings
// back the index and `git restore --source=S --worktree -- .` the files
// (through the repository's filters), `git cat-file blob M:index >
// .git/index` the index exactly.
package git
