package engine

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
)

// hostFuncs returns the §2.3 functions for a repository, relative to base
// (the repository root, or the working directory outside git).
func hostFuncs(repo, base string, env map[string]string) eval.Funcs {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	query := func(args ...string) (string, bool) {
		if repo == "" {
			return "", false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := git(ctx, repo, args...)
		return out, err == nil
	}
	lines := func(s string) []string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	return eval.Funcs{
		FileExists: func(p string) bool {
			_, err := os.Stat(abs(p))
			return err == nil
		},
		Glob: func(pattern string) []string {
			matches, _ := filepath.Glob(abs(pattern))
			out := make([]string, 0, len(matches))
			for _, m := range matches {
				if rel, err := filepath.Rel(base, m); err == nil && !strings.HasPrefix(rel, "..") {
					out = append(out, rel)
				} else {
					out = append(out, m)
				}
			}
			return out
		},
		ChangedFiles: func(b string) []string {
			if strings.HasPrefix(b, "-") {
				return nil
			}
			diff, ok := query("diff", "--name-only", "--end-of-options", b, "--")
			if !ok {
				return nil
			}
			untracked, _ := query("ls-files", "--others", "--exclude-standard")
			seen := map[string]bool{}
			var out []string
			for _, f := range append(lines(diff), lines(untracked)...) {
				if !seen[f] {
					seen[f] = true
					out = append(out, f)
				}
			}
			return out
		},
		RefExists: func(ref string) bool {
			if ref == "" || strings.HasPrefix(ref, "-") {
				return false
			}
			_, ok := query("rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
			return ok
		},
		CurrentBranch: func() string {
			b, _ := query("branch", "--show-current")
			return b
		},
		IsDirty: func() bool {
			s, ok := query("status", "--porcelain")
			return ok && s != ""
		},
		DiskUsedPercent: func(p string) float64 {
			var st syscall.Statfs_t
			if err := syscall.Statfs(abs(p), &st); err != nil || st.Blocks == 0 {
				return 0
			}
			used := float64(st.Blocks-st.Bfree) * 100 / float64(st.Blocks-st.Bfree+st.Bavail)
			return float64(int(used*10+0.5)) / 10
		},
		MemAvailableMB: memAvailableMB,
		EnvOr: func(name, def string) string {
			if v, ok := env[name]; ok && v != "" {
				return v
			}
			if v := os.Getenv(name); v != "" {
				return v
			}
			return def
		},
	}
}

func memAvailableMB() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			return float64(int(kb/1024*10+0.5)) / 10
		}
	}
	return 0
}
