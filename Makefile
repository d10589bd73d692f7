SHELL := /bin/bash
# xoverlay: `make demo` and `make test` do all the set-up on a fresh Debian
# machine (as root): packages, a private test dockerd, images, the binary.

GO        ?= go
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/xoverlay/xoverlay/orchestrator/api.Version=$(VERSION)
XO        := bin/xo
BENCH     ?= all
E2E_RUN   ?= .
export CGO_ENABLED = 0
export GOFLAGS    += -trimpath

.PHONY: all build deps unit e2e test bench demo lint fmt vet clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(XO) ./cmd/xo

deps:
	@bash contrib/testenv/deps.sh

# Pure logic and in-process tests, with the race detector (needs cgo), plus
# the kernel tests, which make throwaway network namespaces (root).
unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

# End-to-end tests against real dockerd engines in simulated hosts.
e2e: deps build
	$(GO) test -tags e2e -count=1 -timeout 40m -run '$(E2E_RUN)' ./contrib/e2e/...

test: deps vet unit e2e

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./contrib/...
	$(GO) vet -tags bench ./contrib/bench/...

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags e2e,bench ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Benchmarks, side by side with their peers; writes contrib/bench/REPORT.md.
bench: deps build
	BENCH=$(BENCH) bash contrib/bench/run.sh

demo: deps build
	bash contrib/demo/demo.sh

clean:
	bash contrib/testenv/hosts.sh down || true
	rm -rf bin .e2e.log
