package eval

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostileValues try to break out of every shell context.
var hostileValues = []string{
	"plain", "two words", "", "$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '",
	`"; touch CANARY; "`, "a\nEOF\ntouch CANARY", `\`, `\\$(touch CANARY)`, "$HOME", "!x", "line1\nline2",
	"ünïcödé", "'", `"`, `' "`, "$((1+1))", "${PATH}", "-n", "*", "~", "a\\\nb", "\t", ") ; touch CANARY ; (",
}

// shellContexts are scripts with one interpolation in every context the
// scanner knows; each prints the value and then "end".
var shellContextScripts = map[string]string{
	"bare":               "printf '%s|' ${{ params.v }}\necho end",
	"double":             "printf '%s|' \"${{ params.v }}\"\necho end",
	"double with text":   "printf '%s|' \"<${{ params.v }}>\"\necho end",
	"single":             "printf '%s|' '${{ params.v }}'\necho end",
	"heredoc":            "cat <<EOF\n${{ params.v }}\nEOF\necho end",
	"heredoc quoted":     "cat <<'EOF'\n${{ params.v }}\nEOF\necho end",
	"heredoc strip tabs": "cat <<-EOF\n\t${{ params.v }}\n\tEOF\necho end",
	"comment":            "true # ${{ params.v }}\necho end",
	"substitution":       "printf '%s|' \"$(printf '%s' ${{ params.v }})\"\necho end",
	"after heredoc":      "cat <<EOF\nx\nEOF\nprintf '%s|' \"${{ params.v }}\"\necho end",
}

// want is what each script should print for a value.
func want(ctx, v string) string {
	switch ctx {
	case "bare":
		return v + "|end\n"
	case "double", "single":
		return v + "|end\n"
	case "after heredoc":
		return "x\n" + v + "|end\n"
	case "double with text":
		return "<" + v + ">|end\n"
	case "heredoc", "heredoc quoted", "heredoc strip tabs":
		return v + "\nend\n"
	case "comment":
		return "end\n"
	case "substitution":
		return strings.TrimRight(v, "\n") + "|end\n"
	}
	return ""
}

// TestShellInterpolationIsInert runs every hostile value in every context
// through bash: the script prints the value exactly and runs nothing.
func TestShellInterpolationIsInert(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "v", Type: "string"}}})
	dir := t.TempDir()
	for name, src := range shellContextScripts {
		tpl, err := c.Template(src)
		if err != nil {
			t.Fatalf("Template(%q): %v", src, err)
		}
		for _, v := range hostileValues {
			d := &Data{Params: map[string]any{"v": v}}
			script, err := tpl.Shell(c.Env(d))
			if strings.HasPrefix(name, "heredoc") && strings.Contains(v, "\nEOF\n") {
				if err == nil {
					t.Errorf("%s: value %q that ends the here-document was accepted:\n%s", name, v, script)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: Shell(%q): %v", name, v, err)
				continue
			}
			cmd := exec.Command("bash", "--noprofile", "--norc", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "HOME=/nonexistent-home")
			out, err := cmd.CombinedOutput()
			if _, serr := os.Stat(filepath.Join(dir, "CANARY")); serr == nil {
				t.Fatalf("%s: value %q ran a command; script:\n%s", name, v, script)
			}
			if err != nil {
				t.Errorf("%s: value %q: bash failed: %v\nscript:\n%s\noutput:\n%s", name, v, err, script, out)
				continue
			}
			w := want(name, v)
			if name == "bare" && v == "" {
				w = "|end\n" // one empty word
			}
			if name == "heredoc strip tabs" {
				w = strings.TrimLeft(v, "\t") + "\nend\n"
				if strings.Contains(v, "\n") {
					continue // each line loses its leading tabs; checked by the canary only
				}
			}
			if string(out) != w {
				t.Errorf("%s: value %q printed %q, want %q\nscript:\n%s", name, v, out, w, script)
			}
		}
	}
}

func TestShellListsAreWords(t *testing.T) {
	c := NewCompiler(Decl{Params: []Param{{Name: "l", Type: "list"}}})
	tpl, err := c.Template("printf '<%s>' ${{ params.l }}; printf '[%s]' \"${{ params.l }}\"")
	if err != nil {
		t.Fatal(err)
	}
	script, err := tpl.Shell(c.Env(&Data{Params: map[string]any{"l": []string{"a b", "$(id)", "c"}}}))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "<a b><$(id)><c>[a b $(id) c]"; got != want {
		t.Errorf("lists: %q, want %q (script %s)", got, want, script)
	}
}
