# shoal: the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
# Go 1.27.3 carries security fixes (net/http, crypto/tls, crypto/x509) that
# govulncheck finds missing in 1.26.8; the go command fetches it from the
# module proxy on first use.
export GOTOOLCHAIN ?= go1.27.3
BIN     ?= bin/shoal
TRACKER_BIN ?= bin/shoal-tracker
PKGS    := ./...
# swarm/utp is a module of its own (it stands in for github.com/anacrolix/go-utp),
# so ./... does not reach it: its tests run separately.
UTP_DIR := swarm/utp
FUZZTIME ?= 30s

.PHONY: all build test test-short race vet lint vulncheck fuzz demo bench clean

all: build

# A static binary without the library's SQLite storage (shoal does not use
# it): 3.5 MiB smaller, runs on any Linux, and an idle tracker starts with
# fewer resident pages (bench/tracker/RESULTS.md).
build:
	CGO_ENABLED=0 $(GO) build -tags nosqlite -o $(BIN) ./cmd/shoal
	CGO_ENABLED=0 $(GO) build -o $(TRACKER_BIN) ./cmd/shoal-tracker

vet:
	$(GO) vet $(PKGS)
	cd $(UTP_DIR) && $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

# Unit, integration and interop tests. Tests that need a real peer
# (libtorrent, Transmission, opentracker) skip when it is missing, and fail
# instead with SHOAL_REQUIRE_PEERS=1 (set by .ci/run).
test: vet
	$(GO) test -count=1 -timeout 20m $(PKGS)
	cd $(UTP_DIR) && $(GO) test -count=1 ./...
	$(MAKE) fuzz FUZZTIME=5s
	$(MAKE) vulncheck

# govulncheck against the Go vulnerability database, built offline from the
# golang.org/x/vulndb module (scripts/vulncheck.sh).
vulncheck:
	./scripts/vulncheck.sh

# The race detector over the packages that run in-process (interop drives
# built binaries): about 4 minutes here, so not part of `make test`.
race:
	$(GO) test -race -count=1 -timeout 30m ./swarm/... ./tracker/... ./cmd/... ./tui/... ./internal/...

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Each fuzz target runs for FUZZTIME (5s in `make test`, 30s by default here).
fuzz:
	@./scripts/fuzz.sh $(FUZZTIME)

# Runs the main job offline: a local swarm on loopback and a download from it.
demo: build
	./scripts/demo.sh $(BIN)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin
