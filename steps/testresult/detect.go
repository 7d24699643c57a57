package testresult

import (
	"path"
	"strings"
)

// Detect picks the format for "auto" from a test command and the result
// files found for it (with.results, or the path in the command):
//
//   - a JUnit results path in the command (see ResultsPath), or a .xml
//     file: junit
//   - go test with -json: go-json
//   - a .tap file: tap
//   - pytest, py.test, python -m pytest (any wrapper, any path): pytest
//   - prove, or a --tap / --reporter=tap style flag: tap
//   - anything else: exit-code
//
// The command is split into words the way a shell would for the simple
// cases (quotes, &&, ;, |); it is not run.
func Detect(command string, files []string) string {
	if ResultsPath(command) != "" {
		return FormatJUnit
	}
	words := shellWords(command)
	for i := 0; i+1 < len(words); i++ {
		if path.Base(words[i]) == "go" && words[i+1] == "test" {
			for _, w := range words[i+2:] {
				if isSeparator(w) {
					break
				}
				if w == "-json" || w == "--json" || w == "-json=true" || w == "--json=true" {
					return FormatGoJSON
				}
			}
		}
	}
	for _, f := range files {
		switch strings.ToLower(path.Ext(f)) {
		case ".xml":
			return FormatJUnit
		case ".tap":
			return FormatTAP
		}
	}
	for i, w := range words {
		switch base := path.Base(w); {
		case base == "pytest" || base == "py.test" || strings.HasPrefix(base, "pytest-3"):
			return FormatPytest
		case w == "-m" && i+1 < len(words) && words[i+1] == "pytest":
			return FormatPytest
		}
	}
	for _, w := range words {
		switch {
		case path.Base(w) == "prove":
			return FormatTAP
		case w == "--tap" || w == "-tap" || w == "--format=tap" || w == "--reporter=tap" ||
			w == "--test-reporter=tap" || w == "--output-format=tap":
			return FormatTAP
		}
	}
	return FormatExitCode
}

// ResultsPath returns the JUnit XML file a test command writes, from
// --junitxml=PATH, --junitxml PATH, --junit-xml (pytest's spellings) or
// gotestsum's --junitfile; "" when the command names none. When the
// option is given twice the last one wins, as in pytest.
func ResultsPath(command string) string {
	words := shellWords(command)
	var found string
	for i, w := range words {
		for _, opt := range []string{"--junitxml", "--junit-xml", "--junitfile"} {
			if v, ok := strings.CutPrefix(w, opt+"="); ok {
				found = v
			} else if w == opt && i+1 < len(words) && !isSeparator(words[i+1]) {
				found = words[i+1]
			}
		}
	}
	return found
}

func isSeparator(w string) bool {
	switch w {
	case "&&", "||", ";", "|", "&":
		return true
	}
	return false
}

// shellWords splits a command line into words: whitespace separates,
// single and double quotes group, a backslash escapes the next byte
// outside single quotes, and ; | & are words of their own.
func shellWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		have  bool // cur is a word, possibly empty ("")
		quote byte
	)
	flush := func() {
		if have {
			words = append(words, cur.String())
		}
		cur.Reset()
		have = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, have = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			have = true
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '&' && i > 0 && (s[i-1] == '>' || s[i-1] == '<'):
			cur.WriteByte(c) // 2>&1 is a redirection, not a separator
		case c == ';' || c == '|' || c == '&':
			flush()
			op := string(c)
			if (c == '|' || c == '&') && i+1 < len(s) && s[i+1] == c {
				op += string(c)
				i++
			}
			words = append(words, op)
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	flush()
	return words
}
