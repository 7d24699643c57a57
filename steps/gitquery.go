package steps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// gitQuery runs a read-only git command, argv only, in dir and returns its
// standard output. GIT_OPTIONAL_LOCKS=0 keeps git status from taking the
// index lock that a concurrent git step may need.
func gitQuery(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out.String(), nil
}

// splitNUL splits the output of a git command run with -z.
func splitNUL(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "\x00") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkRef refuses a ref that git would read as an option and one that
// does not name a commit, with a message that says which.
func checkRef(ctx context.Context, repo, what, ref string) error {
	if ref == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.HasPrefix(ref, "-") {
		return fmt.Errorf("%s %q starts with '-': not a ref", what, ref)
	}
	if _, err := gitQuery(ctx, repo, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}"); err != nil {
		return fmt.Errorf("%s %q is not a commit in %s", what, ref, repo)
	}
	return nil
}
