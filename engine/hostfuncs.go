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
	"github.com/rbflow/rbflow/engine/git"
)

// hostFuncs returns the §2.3 functions for a repository (nil outside git),
// relative to base (the repository root, or the working directory outside
// git). Git queries end with ctx, so Ctrl-C is not held up by them, and
// after 30 seconds in any case.
func hostFuncs(ctx context.Context, repo *git.Repo, base string, env map[string]string) eval.Funcs {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	query := func(f func(ctx context.Context) error) bool {
		if repo == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return f(ctx) == nil
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
			var out []string
			query(func(ctx context.Context) (err error) {
				out, err = repo.ChangedFiles(ctx, b)
				return err
			})
			return out
		},
		RefExists: func(ref string) bool {
			return ref != "" && query(func(ctx context.Context) error {
				_, err := repo.ResolveCommit(ctx, ref)
				return err
			})
		},
		CurrentBranch: func() string {
			var b string
			query(func(ctx context.Context) (err error) {
				b, err = repo.Branch(ctx)
				return err
			})
			return b
		},
		IsDirty: func() bool {
			var dirty bool
			query(func(ctx context.Context) (err error) {
				dirty, err = repo.IsDirty(ctx)
				return err
			})
			return dirty
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
