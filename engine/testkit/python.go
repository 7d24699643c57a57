package testkit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pythonDirEnv names the folder unshimPython put first on PATH, so that
// the processes a test starts (this binary again, as rbflow) do not look
// again.
const pythonDirEnv = "RBFLOW_TEST_PYTHON_DIR"

// pythonEnv, when set, names the interpreter the python3 on PATH runs,
// which unshimPython then need not ask the shim for.
const pythonEnv = "RBFLOW_TEST_PYTHON"

// unshimPython puts the interpreter that the python3 on PATH runs first on
// PATH, when that python3 is a script rather than the interpreter itself:
// pyenv's shim is a bash script that runs half a dozen more before it
// starts python, 0.4 s of CPU against 0.07 s for python alone, and the
// tests start python3 (the procedures' test runners, their probes) many
// times. The interpreter is the same one the shim starts; only the shim's
// cost goes.
func unshimPython() {
	if os.Getenv(pythonDirEnv) != "" {
		return
	}
	shim, err := exec.LookPath("python3")
	if err != nil || isBinary(shim) {
		return
	}
	// make test asks the shim once for all its test binaries.
	exe := os.Getenv(pythonEnv)
	if exe == "" {
		out, err := exec.Command(shim, "-c", "import sys; print(sys.executable)").Output()
		if err != nil {
			return
		}
		exe = strings.TrimSpace(string(out))
	}
	if !filepath.IsAbs(exe) || !isBinary(exe) {
		return
	}
	sum := sha256.Sum256([]byte(exe))
	// One folder per interpreter, kept between runs: it holds one link.
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("rbflow-test-python-%d-%s", os.Getuid(), hex.EncodeToString(sum[:6])))
	link := filepath.Join(dir, "python3")
	if target, err := os.Readlink(link); err != nil || target != exe {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return
		}
		tmp := fmt.Sprintf("%s.%d", link, os.Getpid())
		os.Remove(tmp)
		if os.Symlink(exe, tmp) != nil || os.Rename(tmp, link) != nil {
			os.Remove(tmp)
			return
		}
	}
	os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Setenv(pythonDirEnv, dir)
}

// isBinary reports whether the file at p is an ELF executable.
func isBinary(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := f.Read(head)
	return bytes.Equal(head[:n], []byte("\x7fELF"))
}
