GO ?= go
BIN := bin/rbflow

.PHONY: build test check bench demo fuzz clean

build:
	CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/rbflow

test:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

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
