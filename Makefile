# Every CI step is a target here; .ci/run calls them.
GO ?= go
PYTHON ?= python3
# Inputs per fuzz target in fuzz-smoke: a count, not a duration. Go 1.26's
# fuzz coordinator can fail a target with "context deadline exceeded" when a
# duration runs out while a worker is mid-input (golang/go#75804, fixed in
# Go 1.27); a count has no deadline to race.
FUZZTIME ?= 100000x

.PHONY: build test test-go test-e2e test-python test-js test-endpoints test-etcd test-cluster test-browser test-terraform soak fuzz-smoke bench bench-smoke bench-cloudmap bench-dns bench-health bench-xds bench-cluster bench-scale lint gen check-clean ci

build:
	$(GO) build -buildvcs=auto -o bin/mapmesh ./cmd/mapmesh

# The README's test command: Go tests with the race detector, the
# end-to-end suites (tag e2e: the README walkthrough, the whole-system
# tests, process kills), then the boto3 and AWS CLI tests against the built
# binary. `go test ./...` alone is the quick loop (no e2e suites).
test: test-go test-e2e test-python

test-go:
	$(GO) test -race ./...

E2E_PACKAGES = ./test/readme ./test/system ./test/durability

test-e2e: build
	MAPMESH_BIN=$(CURDIR)/bin/mapmesh $(GO) test -race -tags e2e $(E2E_PACKAGES)

test-python: build
	MAPMESH_BIN=$(CURDIR)/bin/mapmesh $(PYTHON) -m unittest discover -s test/python -v

# The AWS SDK for JavaScript v3 against the built binary: node's test
# runner (node 20+) on test/js, with the packages pinned in
# test/js/package-lock.json (npm ci fetches them from the npm registry).
test-js: build
	cd test/js && npm ci --no-audit --no-fund
	cd test/js && MAPMESH_BIN=$(CURDIR)/bin/mapmesh node --test

# The endpoint forms that need no client option (README, "The data- host
# prefix"), each client resolving names its own way, inside mount and
# network namespaces of their own (test/netns/run; needs root and
# unshare): Go with cgo and without, boto3 and the AWS CLI, the JavaScript
# SDK. The *.localhost form needs nss-myhostname (Debian:
# libnss-myhostname, or its library in MAPMESH_NSS_DIR); without it, those
# cases skip.
NETNS = MAPMESH_BIN=$(CURDIR)/bin/mapmesh $(CURDIR)/test/netns/run
test-endpoints: build
	$(GO) test -c -o bin/sdk.test ./test/sdk
	CGO_ENABLED=0 $(GO) test -c -o bin/sdk-nocgo.test ./test/sdk
	$(NETNS) bin/sdk.test -test.run '^TestSystemResolver$$' -test.v
	$(NETNS) bin/sdk-nocgo.test -test.run '^TestSystemResolver$$' -test.v
	$(NETNS) $(PYTHON) -m unittest discover -s test/python -p test_endpoints.py -v
	cd test/js && npm ci --no-audit --no-fund
	cd test/js && $(NETNS) node --test

# Terraform with the hashicorp/aws provider against the built binary
# (test/terraform): Cloud Map and App Mesh resources applied, planned,
# imported and destroyed. Offline: the provider comes from the filesystem
# mirror TF_MIRROR (default /opt/tf-plugins); without terraform or the
# mirror the test skips. Two to three minutes on 2 CPUs, most of it the
# provider starting, so it is not part of test-e2e.
TF_MIRROR ?= /opt/tf-plugins
test-terraform: build
	MAPMESH_BIN=$(CURDIR)/bin/mapmesh TF_MIRROR=$(TF_MIRROR) $(GO) test -tags e2e -count=1 -timeout 20m -v ./test/terraform

# The web console driven in headless Chromium (Debian's chromium package;
# the tests skip without /usr/bin/chromium). Screenshots go to
# $(ARTIFACTS)/<test>/ when set, else to temporary directories.
ARTIFACTS ?=
test-browser:
	MAPMESH_ARTIFACTS=$(ARTIFACTS) $(GO) test -tags browser -count=1 -v -timeout 5m ./test/browser

# The long run of the whole-system tests (test/system): both APIs, health
# checks, DNS and xDS under load for SOAK (default 5m), kill -9 rounds, the
# sequential-writers scenario. The short run is part of test-go.
SOAK ?= 5m
soak:
	MAPMESH_SOAK=$(SOAK) $(GO) test -tags e2e -count=1 -timeout 60m -run 'TestMixedLoad|TestKill9MixedLoad|TestMirrorHang' -v ./test/system

# The etcd store against a 3-member etcd cluster of child processes, built
# from the pinned go.etcd.io/etcd/server/v3 (no etcd install needed): the
# conformance suite through all three endpoints, and members killed with
# SIGKILL under a write load. Plain `go test ./...` runs the store against
# an embedded etcd only.
test-etcd:
	$(GO) test -race -tags etcd -count=1 -run '^TestCluster' ./internal/store/etcdstore/ ./internal/watch/

# Cluster mode end to end (test/cluster): real mapmesh processes on a
# 3-member etcd cluster of processes; registrations seen across servers,
# probes owned by one live server, etcd members killed under load, etcd
# without a quorum. Three minutes or so (2.5-3 on a busy 2-CPU machine).
test-cluster:
	$(GO) test -tags etcd -count=1 -timeout 15m -v ./test/cluster

# Each fuzz target runs briefly (FUZZTIME inputs, 3-20 s each here); a crasher
# fails the build and is written to testdata/fuzz for a regression test.
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzJSON11$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzRESTJSON$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzSigV4$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzSigV4AgreesWithSDK$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzCredentialScope$$' -fuzztime $(FUZZTIME) ./internal/awsapi
	$(GO) test -run '^$$' -fuzz '^FuzzOperations$$' -fuzztime $(FUZZTIME) ./internal/cloudmap
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeStored$$' -fuzztime $(FUZZTIME) ./internal/cloudmap
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFlat$$' -fuzztime $(FUZZTIME) ./internal/cloudmap
	$(GO) test -run '^$$' -fuzz '^FuzzServeDNS$$' -fuzztime $(FUZZTIME) ./internal/dnsserver
	$(GO) test -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME) ./internal/watch
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

bench-cluster:
	test/bench/cluster.sh

# 300,000 instances by default (BENCH_INSTANCES=1000000 for the million);
# takes long. BENCH_QUICK=1 for a small run that only prints.
bench-scale:
	test/bench/scale.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e,browser,etcd ./...
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags e2e,browser,etcd ./...

gen:
	$(GO) generate ./...

# Generated files and go.mod must be committed as generated and tidied.
check-clean: gen
	$(GO) mod tidy
	git diff --exit-code
	@untracked=$$(git status --porcelain --untracked-files=all | grep '^??' || true); if [ -n "$$untracked" ]; then echo "untracked files after gen:"; echo "$$untracked"; exit 1; fi

ci: lint test test-etcd fuzz-smoke bench-smoke check-clean
