package git

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// discover finds the work tree that contains dir the way git rev-parse
// does, from the files alone, for the plain layout that nearly every
// repository has: a .git directory at the top of the work tree, its
// configuration naming no other work tree, owned by whoever runs rbflow,
// on the same file system as dir. Every rbflow command starts by finding
// its repository, and a git process for that costs more than the rest of
// a short command's start. ok is false for anything else (a linked
// worktree or submodule, whose .git is a file; a bare repository; core.worktree,
// includes or extensions in the configuration; another owner, whom git
// may refuse; GIT_CEILING_DIRECTORIES and the like; not a repository at
// all): Open asks git then, and git's answer, or its error, stands.
func discover(dir string) (r *Repo, ok bool) {
	for _, v := range []string{"GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "SUDO_UID"} {
		if _, set := os.LookupEnv(v); set {
			return nil, false
		}
	}
	start, err := realDir(dir)
	if err != nil {
		return nil, false
	}
	var first syscall.Stat_t
	if syscall.Stat(start, &first) != nil {
		return nil, false
	}
	for d := start; ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) != nil || st.Dev != first.Dev {
			return nil, false // a mount point: git stops there
		}
		if isGitDir(d) {
			return nil, false // inside a git directory, or a bare repository
		}
		gitDir := filepath.Join(d, ".git")
		fi, err := os.Lstat(gitDir)
		switch {
		case err == nil && fi.IsDir() && isGitDir(gitDir) && plainGitDir(gitDir) && ownedBySelf(d, gitDir):
			return &Repo{Dir: d, gitDir: gitDir, commonDir: gitDir, indexFile: filepath.Join(gitDir, "index"), format: "sha1"}, true
		case err == nil || !isNotExist(err):
			return nil, false // a .git file, link or odd directory: git knows
		}
		if d == filepath.Dir(d) {
			return nil, false // not in a repository: git says so
		}
	}
}

func isNotExist(err error) bool {
	return os.IsNotExist(err) || err == syscall.ENOTDIR
}

// isGitDir is git's test for a git directory: objects and refs
// directories, and a HEAD that is a ref or an object id.
func isGitDir(d string) bool {
	for _, sub := range []string{"objects", "refs"} {
		if fi, err := os.Stat(filepath.Join(d, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	b, err := os.ReadFile(filepath.Join(d, "HEAD"))
	if err != nil {
		return false
	}
	line := strings.TrimRight(string(b), "\n")
	return strings.HasPrefix(line, "ref: refs/") || isObjectID(line)
}

// plainGitDir reports whether the git directory holds nothing that
// changes where the work tree, the common directory or the object format
// are: no commondir file (a linked worktree's), and a configuration
// without core.worktree, core.bare, includes or extensions.
func plainGitDir(gitDir string) bool {
	if _, err := os.Lstat(filepath.Join(gitDir, "commondir")); !isNotExist(err) {
		return false
	}
	b, err := os.ReadFile(filepath.Join(gitDir, "config"))
	if err != nil {
		return isNotExist(err)
	}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.ToLower(strings.TrimSpace(sc.Text()))
		if strings.HasSuffix(line, "\\") {
			return false // a value continued on the next line
		}
		if strings.HasPrefix(line, "[") {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return false
			}
			section = strings.TrimSpace(line[1:end])
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return false // a key on the header's line
			}
			if strings.Contains(section, "include") || strings.HasPrefix(section, "extensions") {
				return false
			}
			continue
		}
		if section != "core" && !strings.HasPrefix(section, "core ") && !strings.HasPrefix(section, "core.") {
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		switch strings.TrimSpace(key) {
		case "worktree":
			return false
		case "bare":
			if v := strings.TrimSpace(value); v != "false" && v != "no" && v != "off" && v != "0" {
				return false
			}
		}
	}
	return sc.Err() == nil
}

// ownedBySelf reports whether the work tree's top and its git directory
// belong to the user rbflow runs as: git refuses others' repositories
// unless safe.directory names them, which git itself then judges.
func ownedBySelf(paths ...string) bool {
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != os.Geteuid() {
			return false
		}
	}
	return true
}
