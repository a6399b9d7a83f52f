# Every CI step is a target here; .ci/run calls them.
GO ?= go
PYTHON ?= python3
FUZZTIME ?= 10s

.PHONY: build test test-go test-python test-etcd fuzz-smoke bench bench-smoke bench-cloudmap bench-dns bench-health bench-xds lint gen check-clean ci

build:
	$(GO) build -o bin/mapmesh ./cmd/mapmesh

# The README's test command: Go tests with the race detector, then the boto3
# and AWS CLI smoke tests against the built binary.
test: test-go test-python

test-go:
	$(GO) test -race ./...

test-python: build
	MAPMESH_BIN=$(CURDIR)/bin/mapmesh $(PYTHON) -m unittest discover -s test/python -v

# The etcd store against a 3-member etcd cluster of child processes, built
# from the pinned go.etcd.io/etcd/server/v3 (no etcd install needed): the
# conformance suite through all three endpoints, and members killed with
# SIGKILL under a write load. Plain `go test ./...` runs the store against
# an embedded etcd only.
test-etcd:
	$(GO) test -race -tags etcd -count=1 -run '^TestCluster' ./internal/store/etcdstore/

# Each fuzz target runs briefly; a crasher fails the build and is written to
# testdata/fuzz for a regression test.
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzJSON11$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzRESTJSON$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzOperations$$' -fuzztime $(FUZZTIME) ./internal/cloudmap
	$(GO) test -run '^$$' -fuzz '^FuzzServeDNS$$' -fuzztime $(FUZZTIME) ./internal/dnsserver
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecords$$' -fuzztime $(FUZZTIME) ./internal/store/boltstore

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Benchmarks run once so they keep compiling and working.
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# The end-to-end benchmarks, each writing its section of docs/benchmarks.md.
bench-cloudmap:
	test/bench/cloudmap.sh

bench-dns:
	test/bench/dns.sh

bench-health:
	test/bench/health.sh

bench-xds:
	test/bench/xds.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

gen:
	$(GO) generate ./...

# Generated files and go.mod must be committed as generated and tidied.
check-clean: gen
	$(GO) mod tidy
	git diff --exit-code
	@untracked=$$(git status --porcelain --untracked-files=all | grep '^??' || true); if [ -n "$$untracked" ]; then echo "untracked files after gen:"; echo "$$untracked"; exit 1; fi

ci: lint test test-etcd fuzz-smoke bench-smoke check-clean
