GO ?= go
BIN := bin/rbflow

.PHONY: build test test-long check bench demo fuzz clean

build:
	CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/rbflow

# -timeout is per package. test-long runs the random sweeps whole
# (RBFLOW_TEST_LONG); test takes a sample of each.
TESTFLAGS := -race -count=1

test:
	CGO_ENABLED=1 $(GO) test $(TESTFLAGS) -timeout 8m ./...

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
	$(GO) test ./steps/testresult -run '^$$' -fuzz FuzzParse -fuzztime 60s

demo: build
	./examples/demo/run.sh

clean:
	rm -rf bin
