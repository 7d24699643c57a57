package steps

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/store"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/procedures"
)

// serveEnv makes the test binary a small HTTP server on the address it
// holds: tests start it as a real service process.
const serveEnv = "RBFLOW_TEST_SERVE"

func TestMain(m *testing.M) {
	testkit.Main()
	if addr := os.Getenv(serveEnv); addr != "" {
		os.Exit(serve(addr))
	}
	os.Exit(m.Run())
}

// serve answers /health with 200 "healthy" until it is signalled.
func serve(addr string) int {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "healthy") })
	fmt.Println("serving on", addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// harness runs procedures against a real store in a temp state folder.
type harness struct {
	t     *testing.T
	repo  string
	state string
	st    *store.Store
	reg   *engine.Registry
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, repo: t.TempDir(), state: t.TempDir(), reg: engine.NewRegistry()}
	Register(h.reg)
	st, err := store.Open(h.state)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st = st
	return h
}

func (h *harness) runner() *engine.Runner {
	return &engine.Runner{
		// Grace is also the time finally gets after a cancel
		// (TestReportInterrupted renders five reports in it).
		Store: h.st, StateDir: h.state, Repo: h.repo, WorkDir: h.repo, Grace: 10 * time.Second,
		Loader: &engine.Loader{Registry: h.reg, Resolve: procedures.Resolver(h.repo, nil)},
	}
}

// run writes a procedure to a file in the repository and runs it; the
// error is the run's.
func (h *harness) run(name, text string) (*engine.Run, map[string]*engine.StepRecord, error) {
	h.t.Helper()
	return h.runSet(name, text)
}

// runSet is run with params given as on the command line (NAME=VALUE).
func (h *harness) runSet(name, text string, sets ...string) (*engine.Run, map[string]*engine.StepRecord, error) {
	h.t.Helper()
	path := filepath.Join(h.repo, name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
	plan, err := h.runner().Loader.Load(engine.Source{Path: path, Text: []byte(text)})
	if err != nil {
		h.t.Fatalf("load %s: %v", name, err)
	}
	params, err := engine.ResolveParams(plan.Procedure, engine.ParamInput{Sets: sets})
	if err != nil {
		h.t.Fatal(err)
	}
	run, runErr := h.runner().Start(context.Background(), plan, params, path)
	return run, h.steps(run.ID), runErr
}

func (h *harness) steps(runID string) map[string]*engine.StepRecord {
	h.t.Helper()
	recs, err := h.st.Steps(context.Background(), runID)
	if err != nil {
		h.t.Fatal(err)
	}
	m := map[string]*engine.StepRecord{}
	for _, r := range recs {
		m[r.StepID] = r
	}
	return m
}

// mustSucceed fails the test unless the run succeeded.
func mustSucceed(t *testing.T, recs map[string]*engine.StepRecord, err error) {
	t.Helper()
	if err != nil {
		var lines []string
		for id, r := range recs {
			lines = append(lines, fmt.Sprintf("  %s: %s %s", id, r.Status, r.Error))
		}
		t.Fatalf("run failed: %v\n%s", err, strings.Join(lines, "\n"))
	}
}

func intOutput(t *testing.T, rec *engine.StepRecord, key string) int {
	t.Helper()
	if rec == nil {
		t.Fatalf("no step record for output %s", key)
	}
	n, ok := rec.Outputs[key].(int)
	if !ok {
		t.Fatalf("step %s output %s = %#v, want an int", rec.StepID, key, rec.Outputs[key])
	}
	return n
}
