package git

import (
	"fmt"
	"path"
	"strings"
)

// CheckRef reports whether name is acceptable as a ref name given by a user
// (a branch, tag or full ref such as refs/rbflow/run/step). It applies the
// rules of `git check-ref-format --allow-onelevel` and, in addition, refuses
// names that begin with '-', which git would read as an option.
func CheckRef(name string) error {
	bad := func(why string) error { return fmt.Errorf("invalid ref name %q: %s", name, why) }
	if name == "" {
		return fmt.Errorf("invalid ref name: it is empty")
	}
	if name[0] == '-' {
		return bad("it begins with '-', which git would read as an option")
	}
	if err := checkControl(name); err != nil {
		return bad(err.Error())
	}
	if name == "@" {
		return bad(`"@" alone is not a ref name`)
	}
	if i := strings.IndexAny(name, " ~^:?*[\\"); i >= 0 {
		return bad(fmt.Sprintf("it contains %q, which git does not allow in ref names", name[i]))
	}
	if strings.Contains(name, "..") {
		return bad(`it contains ".."`)
	}
	if strings.Contains(name, "@{") {
		return bad(`it contains "@{"`)
	}
	if strings.HasSuffix(name, ".") {
		return bad("it ends with '.'")
	}
	for _, c := range strings.Split(name, "/") {
		switch {
		case c == "":
			return bad("it has an empty component (a leading, trailing or doubled '/')")
		case c[0] == '.':
			return bad(fmt.Sprintf("component %q begins with '.'", c))
		case strings.HasSuffix(c, ".lock"):
			return bad(fmt.Sprintf("component %q ends with \".lock\"", c))
		}
	}
	return nil
}

// CheckPath reports whether p is acceptable as a work tree path given by a
// user (for example a file to restore). It must be relative, stay inside the
// work tree after path.Clean, and not point into .git.
//
// It refuses what could change the meaning of a git command line:
//   - a leading '-' (an option) and a leading ':' (pathspec magic); write
//     "./-name" or "./:name" for a file that really begins with one;
//   - control characters, newlines included. Git allows newlines in file
//     names, and snapshots save and restore such files, but in a parameter
//     a newline is far more likely a mistake or an injection than a name.
//
// Callers still pass paths after "--" and, because '*', '?' and '[' are
// glob characters in pathspecs, with `git --literal-pathspecs` when a path
// must mean exactly that file.
func CheckPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("invalid path %q: %s", p, why) }
	if p == "" {
		return fmt.Errorf("invalid path: it is empty")
	}
	if err := checkControl(p); err != nil {
		return bad(err.Error())
	}
	switch p[0] {
	case '-':
		return bad("it begins with '-', which git would read as an option; write ./" + p + " for a file of that name")
	case ':':
		return bad("it begins with ':', which git reads as pathspec magic; write ./" + p + " for a file of that name")
	case '/':
		return bad("it is absolute; give a path relative to the top of the repository")
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return bad("it leads outside the repository")
	}
	for _, part := range strings.Split(c, "/") {
		if strings.EqualFold(part, ".git") {
			return bad("it points into .git, which is not part of the work tree")
		}
	}
	return nil
}

// checkRev checks a revision expression from a user: not empty, no leading
// '-', no control characters. Git itself judges the rest.
func checkRev(rev string) error {
	if rev == "" {
		return fmt.Errorf("invalid revision: it is empty")
	}
	if rev[0] == '-' {
		return fmt.Errorf("invalid revision %q: it begins with '-', which git would read as an option", rev)
	}
	if err := checkControl(rev); err != nil {
		return fmt.Errorf("invalid revision %q: %v", rev, err)
	}
	return nil
}

func checkControl(s string) error {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n' || c == '\r':
			return fmt.Errorf("it contains a line break")
		case c == 0:
			return fmt.Errorf("it contains a NUL byte")
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("it contains the control character %q", c)
		}
	}
	return nil
}
