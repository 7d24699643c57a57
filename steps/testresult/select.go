package testresult

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Rule maps changed files to the tests they affect.
//
// Match is a regular expression (RE2) over a repo-relative, slash-separated
// path; it must match the whole path. Tests are templates for test paths
// or Go package patterns: $1 or ${1} is the first group, $0 the whole path,
// $$ a dollar sign. $1_test is group 1 followed by "_test" (unlike
// regexp.Expand, where it would name a group "1_test").
type Rule struct {
	Match string
	Tests []string
}

// DefaultRules returns the rules Select uses when given none, the seed's
// incremental validation made general:
//
//   - a changed Python test file (test_*.py, *_test.py) selects itself;
//   - X/app/M.py selects X/tests/unit/M_test.py (the seed's mapping),
//     X/tests/unit/D/test_B.py and the same two under X/tests/, where M is
//     D/B;
//   - any other D/B.py selects tests/test_B.py and tests/unit/test_B.py;
//   - a changed .go file (tests included) in directory D selects ./D, the
//     package itself and not ./D/...: the directories below D are other
//     packages, which a change in D affects only if they import D, and a
//     path rule cannot know that (a rule mapping to ./D/... is one line);
//   - a file under D/testdata selects ./D;
//   - a changed go.mod or go.sum in D selects ./D/... (every package of
//     that module may see the new dependencies).
func DefaultRules() []Rule {
	return []Rule{
		{Match: `(?:.*/)?(?:test_[^/]*|[^/]*_test)\.py`, Tests: []string{"$0"}},
		{Match: `((?:.*/)?)app/((?:.*/)?)([^/]+)\.py`, Tests: []string{
			"${1}tests/unit/${2}${3}_test.py",
			"${1}tests/unit/${2}test_${3}.py",
			"${1}tests/${2}${3}_test.py",
			"${1}tests/${2}test_${3}.py",
		}},
		{Match: `(?:.*/)?([^/]+)\.py`, Tests: []string{"tests/test_$1.py", "tests/unit/test_$1.py"}},
		{Match: `(.+)/[^/]+\.go`, Tests: []string{"./$1"}},
		{Match: `[^/]+\.go`, Tests: []string{"."}},
		{Match: `(.+?)/testdata/.*`, Tests: []string{"./$1"}},
		{Match: `testdata/.*`, Tests: []string{"."}},
		{Match: `((?:.*/)?)go\.(?:mod|sum)`, Tests: []string{"./${1}..."}},
	}
}

type compiledRule struct {
	re    *regexp.Regexp
	tests []string
}

// ValidateRules checks every rule's regular expression and templates, so
// that a procedure's rules can be checked when it is loaded. The error
// names the rule by its number (from 1) and its Match.
func ValidateRules(rules []Rule) error {
	_, err := compileRules(rules)
	return err
}

func compileRules(rules []Rule) ([]compiledRule, error) {
	out := make([]compiledRule, 0, len(rules))
	for i, r := range rules {
		re, err := regexp.Compile(`^(?:` + r.Match + `)$`)
		if err != nil {
			return nil, fmt.Errorf("test selection rule %d (match %q): invalid regular expression: %w", i+1, r.Match, err)
		}
		if len(r.Tests) == 0 {
			return nil, fmt.Errorf("test selection rule %d (match %q): no tests to map to", i+1, r.Match)
		}
		for _, t := range r.Tests {
			if _, err := expand(t, nil, re.NumSubexp()); err != nil {
				return nil, fmt.Errorf("test selection rule %d (match %q): test %q: %w", i+1, r.Match, t, err)
			}
		}
		out = append(out, compiledRule{re: re, tests: r.Tests})
	}
	return out, nil
}

// Select returns the tests affected by the changed paths (repo-relative,
// as git diff --name-only prints them): every test that a matching rule
// maps a path to and that exists, deduplicated and sorted. All matching
// rules apply, not only the first. No rules means DefaultRules; a nil
// exists keeps every candidate. Go package patterns inside directories the
// go tool ignores (testdata, vendor, names starting with . or _) are
// dropped. An empty result means no test is affected.
func Select(changed []string, rules []Rule, exists func(string) bool) ([]string, error) {
	if len(rules) == 0 {
		rules = DefaultRules()
	}
	compiled, err := compileRules(rules)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var tests []string
	for _, p := range changed {
		p = strings.TrimPrefix(filepath.ToSlash(strings.TrimSpace(p)), "./")
		if p == "" {
			continue
		}
		for _, r := range compiled {
			m := r.re.FindStringSubmatchIndex(p)
			if m == nil {
				continue
			}
			groups := make([]string, len(m)/2)
			for g := range groups {
				if m[2*g] >= 0 {
					groups[g] = p[m[2*g]:m[2*g+1]]
				}
			}
			for _, tmpl := range r.tests {
				t, _ := expand(tmpl, groups, len(groups)-1) // checked in compileRules
				if t == "" || seen[t] || ignoredGoPattern(t) {
					continue
				}
				seen[t] = true
				if exists == nil || exists(t) {
					tests = append(tests, t)
				}
			}
		}
	}
	sort.Strings(tests)
	return tests, nil
}

// expand fills a template with groups; groups may be nil to only check
// the template against a regexp with ngroups groups.
func expand(tmpl string, groups []string, ngroups int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(tmpl) {
			return "", fmt.Errorf("template ends with a lone $ (write $$ for a dollar sign)")
		}
		var num string
		switch next := tmpl[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
			continue
		case next == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ at byte %d", i)
			}
			num = tmpl[i+2 : i+end]
			i += end
		case next >= '0' && next <= '9':
			j := i + 1
			for j < len(tmpl) && tmpl[j] >= '0' && tmpl[j] <= '9' {
				j++
			}
			num = tmpl[i+1 : j]
			i = j - 1
		default:
			return "", fmt.Errorf("$ must be followed by a group number, {number} or $ at byte %d", i)
		}
		g, err := strconv.Atoi(num)
		if err != nil || g < 0 {
			return "", fmt.Errorf("${%s} is not a group number", num)
		}
		if g > ngroups {
			return "", fmt.Errorf("$%d but the match has only %d groups", g, ngroups)
		}
		if groups != nil {
			b.WriteString(groups[g])
		}
	}
	return b.String(), nil
}

// isGoPattern reports whether a selected test is a Go package pattern
// ("." or "./dir" or "dir/...") rather than a file.
func isGoPattern(t string) bool {
	if isPython(t) {
		return false
	}
	return t == "." || t == "./..." || strings.HasPrefix(t, "./") || strings.HasSuffix(t, "/...")
}

func isPython(t string) bool {
	return strings.HasSuffix(t, ".py") || strings.Contains(t, ".py::")
}

// ignoredGoPattern reports a Go pattern inside a directory the go tool
// never treats as a package.
func ignoredGoPattern(t string) bool {
	if !isGoPattern(t) {
		return false
	}
	dir := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(t, "./"), "..."), "/")
	if dir == "" || dir == "." {
		return false
	}
	for _, seg := range strings.Split(dir, "/") {
		if seg == "testdata" || seg == "vendor" || (len(seg) > 1 && (seg[0] == '.' || seg[0] == '_')) {
			return true
		}
	}
	return false
}

// Group splits selected tests by how they are run: Python test files
// (and pytest node ids) for pytest, Go package patterns ("." "./dir"
// "./dir/...") for go test, and everything else. Order is kept.
func Group(tests []string) (python, goPkgs, other []string) {
	for _, t := range tests {
		switch {
		case isPython(t):
			python = append(python, t)
		case isGoPattern(t):
			goPkgs = append(goPkgs, t)
		default:
			other = append(other, t)
		}
	}
	return python, goPkgs, other
}

// ExistsIn returns an exists function for Select over the work tree at
// root: a file exists if it is a regular file; "./dir" and "." exist if
// the directory holds a .go file (it is a Go package); "dir/..." exists if
// the directory does. Paths that leave root never exist.
func ExistsIn(root string) func(string) bool {
	return func(p string) bool {
		dirOnly := false
		if rest, ok := strings.CutSuffix(p, "..."); ok && (rest == "" || rest == "./" || strings.HasSuffix(rest, "/")) {
			p, dirOnly = rest, true
			if p == "" {
				p = "."
			}
		}
		clean := path.Clean(p)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return false
		}
		full := filepath.Join(root, filepath.FromSlash(clean))
		fi, err := os.Stat(full)
		if err != nil {
			return false
		}
		if fi.Mode().IsRegular() {
			return !dirOnly
		}
		if !fi.IsDir() {
			return false
		}
		if dirOnly {
			return true
		}
		entries, err := os.ReadDir(full)
		if err != nil {
			return false
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
				return true
			}
		}
		return false
	}
}
