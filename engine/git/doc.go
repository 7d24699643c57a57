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
//	S        tree: the work tree as it was (tracked + untracked + saved ignored)
//	         parents: HEAD (absent when HEAD was unborn), then I
//	         message: a subject, the caller's message, and Rbflow-* trailers
//	         (HEAD sha, branch, index tree, options, skipped paths)
//	I = S^2  (S^1 when HEAD was unborn) tree: the index as it was
//	         parents: HEAD (absent when HEAD was unborn)
//
// By hand, without rbflow: `git read-tree I` brings back the index and
// `git restore --source=S --worktree -- .` the files.
package git
