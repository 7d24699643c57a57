package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rbflow/rbflow/engine/git"
)

// RepoRoot returns the git work tree that holds dir, or "" when dir is not in
// one. With must set (an explicit --repo), not being in git is an error.
func RepoRoot(ctx context.Context, dir string, must bool) (string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", usageErr("repository %s: not a directory", dir)
	}
	r, err := git.Open(ctx, dir)
	if err != nil || r.Dir == "" {
		if must {
			return "", usageErr("repository %s: not inside a git work tree", dir)
		}
		return "", nil
	}
	return r.Dir, nil
}

// StateDir returns where runs are kept (SPEC §4.1): the explicit dir, else
// $RBFLOW_STATE, else <git common dir>/rbflow (it survives git clean -fdx and
// checkouts), else, outside git, a folder of the working directory wd's
// own under $XDG_STATE_HOME/rbflow/dirs/ (named after it and a hash of its
// path), so that two directories never share runs, locks or services.
func StateDir(ctx context.Context, explicit, repo, wd string) (string, error) {
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	if env := os.Getenv("RBFLOW_STATE"); env != "" {
		return filepath.Abs(env)
	}
	if repo != "" {
		if r, err := git.Open(ctx, repo); err == nil && r.CommonDir() != "" {
			return filepath.Join(r.CommonDir(), "rbflow"), nil
		}
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no state folder: not in a git repository and no $HOME; pass --state DIR")
		}
		base = filepath.Join(home, ".local", "state")
	}
	abs, err := filepath.Abs(wd)
	if err != nil {
		return "", fmt.Errorf("no state folder for %s: %w; pass --state DIR", wd, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	sum := sha256.Sum256([]byte(abs))
	name := filepath.Base(abs)
	if name == string(filepath.Separator) || name == "." {
		name = "root"
	}
	return filepath.Join(base, "rbflow", "dirs", fmt.Sprintf("%s-%x", name, sum[:6])), nil
}
