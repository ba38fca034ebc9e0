# Qasmat build, test and benchmark entry points. See README.md.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/qasmat
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/staticcheck)
GOTEST_FLAGS ?= -timeout 25m
WEBAPP := webui/app

.PHONY: all build build-go web run test test-go test-web test-e2e bench lint fmt clean

all: build

## build: the dashboard (needs Node 20 + npm) and then the static binary in bin/qasmat
build: web build-go

## build-go: the static binary alone (serves a minimal page instead of the dashboard if it was never built)
build-go:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

web:
	@if [ -f $(WEBAPP)/package.json ]; then \
		cd $(WEBAPP) && npm ci --no-audit --no-fund && npm run build; \
	fi

## run: build everything and start a local cluster (proxy + 3 storage servers) on port 3000
run: build
	./$(BIN) dev

## test: every test (Go unit and integration tests, dashboard unit tests, browser tests)
test: build test-go test-web test-e2e

test-go:
	QASMAT_BIN=$(CURDIR)/$(BIN) $(GO) test $(GOTEST_FLAGS) ./...

test-web:
	@if [ -f $(WEBAPP)/package.json ]; then cd $(WEBAPP) && npm test; fi

test-e2e:
	@if [ -f $(WEBAPP)/e2e/run.sh ]; then QASMAT_BIN=$(CURDIR)/$(BIN) bash $(WEBAPP)/e2e/run.sh; fi

## bench: the benchmarks with the issue targets (single core for the math; run on a quiet machine, ~10 min)
bench: build-go
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./crypto/...
	$(GO) test -run '^$$' -bench . -benchmem ./transport/... ./store/...
	$(GO) test -run '^$$' -bench Transit -benchtime 20x ./kms/
	QASMAT_BENCH_MIB=1024 $(GO) test -run '^$$' -bench 'DevCluster$$' -benchtime 1x -timeout 30m ./roles/dev/
	$(GO) test -run '^$$' -bench DevClusterQKD -benchtime 2x ./roles/dev/
	QASMAT_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench ProtectRetrieve1GiB -benchtime 1x -timeout 30m ./test/cluster/
	QASMAT_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench SmallFilesConcurrent -benchtime 2000x ./test/cluster/
	QASMAT_BIN=$(CURDIR)/$(BIN) QASMAT_RENEW_BENCH_MIB=1024 $(GO) test -run '^$$' -bench BenchmarkRenew -benchtime 1x -timeout 30m ./test/cluster/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

.PHONY: image test-deploy
IMAGE ?= qasmat:$(VERSION)

## image: a FROM scratch container image of the static bin/qasmat (a Docker engine, nothing pulled); IMAGE=name:tag
image: build-go
	bash deploy/docker/build-image.sh $(BIN) $(IMAGE)

## test-deploy: the deployment tests (Ansible, systemd, container, Caddy, backup, Kubernetes manifests); run as root with the tools .ci/run installs
test-deploy: build-go
	QASMAT_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 15m ./test/deploy/...
	cd deploy/kubernetes && $(GO) vet ./... && $(GO) test -count=1 ./...
