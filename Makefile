GO ?= go
BIN := bin/rbflow

.PHONY: build test test-long test-undo test-graphs test-fleet check bench demo fuzz clean

# rbflow-fleet (fleet mode on Temporal) is a second binary beside rbflow:
# the Temporal SDK would make rbflow itself larger and slower to start.
build:
	CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/rbflow
	CGO_ENABLED=1 $(GO) build -o $(BIN)-fleet ./cmd/rbflow-fleet

# -timeout is per package. Most tests wait on the processes they start, so
# four run at once (-parallel; the default is one per core).
#
# The packages run under the race detector, but for cmd/rbflow: its tests
# drive rbflow end to end as processes (rbflow built once by the test
# binary, with -race when the test binary has it), which -race makes two
# to three times slower (326 s against 141 s on this two-core machine,
# busy), while the concurrency they go through (engine, steps, proc,
# store) is race-tested in its own packages. engine/eval runs without
# -race too: its time goes to the thousands of bash processes of the shell
# differential, and it has no concurrency of its own. The two go test runs
# go one after the other: each keeps both cores busy on its own, and side
# by side they spent a sixth more CPU time switching between thousands of
# short processes (9 m 49 s of CPU against 8 m 29 s, and 5 m 09 s of wall
# time against 4 m 34 s, on this machine). test-long runs the random
# sweeps whole (RBFLOW_TEST_LONG), and everything under -race.
# GORACE=atexit_sleep_ms=0: a race-built binary otherwise sleeps a second
# when it exits, and under make test-long every rbflow process and every
# run's supervisor is one.
# -ldflags=-w: test binaries without DWARF link in two thirds of the CPU
# time (stack traces do not need it); fifteen of them are linked per run.
# -trimpath: the compiled packages are cached without the folder they were
# built in, so a fresh clone elsewhere (CI's) compiles nothing that an
# earlier make test compiled from the same sources (a minute of CPU).
TESTFLAGS := -count=1 -parallel 4 -ldflags=-w -trimpath
NORACE_PKGS := ./cmd/rbflow ./engine/eval
RACE_PKGS = $$($(GO) list ./... | grep -v -e '/cmd/rbflow$$' -e '/engine/eval$$')

# RBFLOW_TEST_PYTHON: the interpreter behind a python3 shim (pyenv's),
# asked once here rather than by each test binary (testkit.unshimPython).
#
# TestInvalidGolden loads megabytes of hostile YAML in one goroutine: the
# race detector finds nothing there and makes it six times slower (9 s of
# CPU against 1.5 s), so it runs without -race once the raced packages are
# done, beside the end-to-end tests.
test:
	export RBFLOW_TEST_PYTHON="$${RBFLOW_TEST_PYTHON:-$$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)}"; \
	GORACE=atexit_sleep_ms=0 CGO_ENABLED=1 $(GO) test -race $(TESTFLAGS) -timeout 12m -skip '^TestInvalidGolden$$' $(RACE_PKGS); units=$$?; \
	CGO_ENABLED=1 $(GO) test $(TESTFLAGS) -timeout 12m -run '^TestInvalidGolden$$' ./engine & golden=$$!; \
	CGO_ENABLED=1 $(GO) test $(TESTFLAGS) -timeout 12m $(NORACE_PKGS); e2e=$$?; \
	wait $$golden; golden=$$?; \
	if [ $$units -ne 0 ] || [ $$golden -ne 0 ] || [ $$e2e -ne 0 ]; then echo "make test: FAILED"; exit 1; fi

test-long:
	CGO_ENABLED=1 RBFLOW_TEST_LONG=1 $(GO) test -race $(TESTFLAGS) -timeout 60m ./...

# test-undo: 240 random dirty trees (16 of each kind of testkit.TreeKinds)
# through snapshot + rollback + restore, and 240 through the built-in
# emergency procedure + rbflow undo, each compared by an exact manifest.
test-undo:
	@for t in 'TestExactRestoreRandom ./engine/git' 'TestUndoRestoresRandomTrees ./cmd/rbflow'; do \
		set -- $$t; log=$$(mktemp); \
		CGO_ENABLED=1 $(GO) test -count=1 -timeout 60m -run "^$$1$$" -v $$2 -args -trees 240 >$$log 2>&1; rc=$$?; \
		grep -E 'seed|trees per kind|FAIL|differs|^ok' $$log; rm -f $$log; \
		[ $$rc -eq 0 ] || exit $$rc; \
	done

# test-fleet runs fleet mode end to end against a real Temporal server:
# the Temporal CLI's dev server (go install
# github.com/temporalio/cli/cmd/temporal@v1.5.1, found on PATH or in
# $(go env GOPATH)/bin), two workers as two hosts with their repositories,
# one SIGKILLed mid-step and restarted, a prompt, a cancel, the history
# searched for a secret, and the per-step overhead against a local run
# (logged). cmd/rbflow-fleet/e2e_test.go, behind the fleet_e2e build tag:
# make test never compiles it.
#
# RBFLOW_RECORD_REPLAY=1 make test-fleet also writes the histories of two
# incidents and of their procedure workflows, as the server holds them
# (payloads opened), to engine/fleet/testdata/replay/server-*.json, which
# make test replays (TestReplayServerHistories): run it, and commit them,
# after a change to the workflow code goes behind workflow.GetVersion.
test-fleet: build
	CGO_ENABLED=1 RBFLOW_BIN=$(CURDIR)/bin $(GO) test -tags fleet_e2e -count=1 -timeout 10m -run '^TestFleetEndToEnd$$' -v ./cmd/rbflow-fleet

# test-graphs draws every built-in's and example's graph with mermaid-cli
# (npm i -g @mermaid-js/mermaid-cli, PUPPETEER_SKIP_DOWNLOAD=1, with
# Debian's chromium) and checks the pictures: about 10 s a graph.
test-graphs:
	CGO_ENABLED=1 RBFLOW_TEST_LONG=1 $(GO) test -count=1 -timeout 30m -run '^TestGraphMermaidRenders$$' -v ./cmd/rbflow

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(MAKE) test

bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v '/cmd/rbflow$$')
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench SideBySide -benchtime 1x -timeout 60m -v ./cmd/rbflow

fuzz:
	$(GO) test ./engine/spec -run '^$$' -fuzz FuzzLoad -fuzztime 60s
	$(GO) test ./engine/eval -run '^$$' -fuzz FuzzCompile -fuzztime 60s
	$(GO) test ./engine/eval -run '^$$' -fuzz FuzzShell -fuzztime 60s
	$(GO) test ./steps/testresult -run '^$$' -fuzz FuzzParse -fuzztime 60s

demo: build
	./examples/demo/run.sh

clean:
	rm -rf bin
