GO ?= go
BIN := bin/rbflow

.PHONY: build test test-long check bench demo fuzz clean

build:
	CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/rbflow

# -timeout is per package; cmd/rbflow, the longest, takes about 2.5 minutes
# on a quiet two-core machine and 7 to 8 when other work keeps it at a load
# of 12. Most tests wait on the processes they start, so four run at once
# (-parallel; the default is one per core). test-long runs the random
# sweeps whole (RBFLOW_TEST_LONG).
TESTFLAGS := -race -count=1 -parallel 4

test:
	CGO_ENABLED=1 $(GO) test $(TESTFLAGS) -timeout 12m ./...

test-long:
	CGO_ENABLED=1 RBFLOW_TEST_LONG=1 $(GO) test $(TESTFLAGS) -timeout 60m ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(MAKE) test

bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test ./engine/spec -run '^$$' -fuzz FuzzLoad -fuzztime 60s
	$(GO) test ./engine/eval -run '^$$' -fuzz FuzzCompile -fuzztime 60s
	$(GO) test ./engine/eval -run '^$$' -fuzz FuzzShell -fuzztime 60s
	$(GO) test ./steps/testresult -run '^$$' -fuzz FuzzParse -fuzztime 60s

demo: build
	./examples/demo/run.sh

clean:
	rm -rf bin
