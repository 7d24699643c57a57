package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// git runs a read-only git query in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimRight(out.String(), "\n"), nil
}

// RepoRoot returns the git work tree that holds dir, or "" when dir is not in
// one. With must set (an explicit --repo), not being in git is an error.
func RepoRoot(ctx context.Context, dir string, must bool) (string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("repository %s: not a directory", dir)
	}
	top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil || top == "" {
		if must {
			return "", fmt.Errorf("repository %s: not inside a git work tree", dir)
		}
		return "", nil
	}
	return top, nil
}

// StateDir returns where runs are kept (SPEC §4.1): the explicit dir, else
// $RBFLOW_STATE, else <git common dir>/rbflow (it survives git clean -fdx and
// checkouts), else $XDG_STATE_HOME/rbflow.
func StateDir(ctx context.Context, explicit, repo string) (string, error) {
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	if env := os.Getenv("RBFLOW_STATE"); env != "" {
		return filepath.Abs(env)
	}
	if repo != "" {
		common, err := git(ctx, repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
		if err == nil && common != "" {
			return filepath.Join(common, "rbflow"), nil
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
	return filepath.Join(base, "rbflow"), nil
}
