package git

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
)

// secretLikePatterns are the base names (path.Match patterns, lower case)
// of files that a commit of everything never takes while git does not
// track them (SPEC §12): environment files, private keys, certificate
// bundles and credential files. This list is the only place that says so.
var secretLikePatterns = []string{
	".env", ".env.*",
	"*.pem", "*.key", "*.p12", "*.pfx",
	"id_rsa*", "id_ed25519*",
	"credentials*",
}

// SecretLikePatterns returns the patterns SecretLike matches base names
// against.
func SecretLikePatterns() []string {
	return append([]string(nil), secretLikePatterns...)
}

// SecretLike reports whether the base name of the slash-separated path p
// looks like a secret, and the pattern it matches. Case is ignored
// (ID_RSA and Server.PEM are keys too); a trailing '/' (an untracked
// nested repository, as git ls-files lists it) is not part of the name.
func SecretLike(p string) (pattern string, ok bool) {
	name := strings.ToLower(path.Base(strings.TrimSuffix(p, "/")))
	for _, pat := range secretLikePatterns {
		if m, _ := path.Match(pat, name); m {
			return pat, true
		}
	}
	return "", false
}

// Untracked returns the untracked files that git does not ignore, relative
// to the top of the work tree, as they are on disk (read NUL-separated, so
// spaces, newlines and non-ASCII names come back whole), sorted.
func (r *Repo) Untracked(ctx context.Context) ([]string, error) {
	out, err := r.run(ctx, runOpts{}, "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil, fmt.Errorf("list untracked files: %w", err)
	}
	files := splitZ(out)
	sort.Strings(files)
	return files, nil
}

// UntrackedSecrets returns the untracked, not ignored files whose names
// look like secrets (SecretLike), sorted: the files AddAll leaves out.
func (r *Repo) UntrackedSecrets(ctx context.Context) ([]string, error) {
	files, err := r.Untracked(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if _, ok := SecretLike(f); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// AddAll stages every change as git add -A does (tracked files modified or
// deleted, untracked files that are not ignored) except untracked files
// whose names look like secrets, and returns those it left out. They are
// never hashed into the object store: each is excluded by a literal
// pathspec, handed to git NUL-separated, so no name is read as a pattern,
// an option or two names. Tracked files are staged whatever their names:
// they are in the history already.
func (r *Repo) AddAll(ctx context.Context) ([]string, error) {
	leave, err := r.UntrackedSecrets(ctx)
	if err != nil {
		return nil, err
	}
	var spec strings.Builder
	spec.WriteString(":/\x00")
	for _, f := range leave {
		spec.WriteString(":(exclude,literal)" + f + "\x00")
	}
	if _, err := r.run(ctx, runOpts{stdin: []byte(spec.String())}, "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"); err != nil {
		return nil, fmt.Errorf("stage the work tree: %w", err)
	}
	return leave, nil
}
