# Authrim: one binary, one node or a small cluster.
GO      ?= go
BIN     ?= bin/authrim
CONFIG  ?= config.yaml
# Stamped into the binary (authrim version): the nearest tag, else the
# commit, with -dirty for uncommitted changes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# make dist: where, and for which Linux architectures.
DIST    ?= dist
ARCHES  ?= amd64 arm64

.PHONY: all build run demo test test-short bench microbench cluster generate lint clean dist image

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/authrim

# Release binaries: static (no cgo, no libc), stripped, without build
# paths, one per architecture, named authrim-VERSION-linux-ARCH, and
# SHA256SUMS beside them (sha256sum -c SHA256SUMS checks a download).
dist:
	rm -rf $(DIST) && mkdir -p $(DIST)
	for arch in $(ARCHES); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' \
			-o $(DIST)/authrim-$(VERSION)-linux-$$arch ./cmd/authrim || exit 1; \
	done
	cd $(DIST) && sha256sum authrim-* > SHA256SUMS

# Starts a single node on the embedded default: bbolt under ./data, keys
# generated on first start, issuer http://localhost:8080.
run: build
	./$(BIN) serve --config $(CONFIG)

# The first five minutes: a node with a demo user, a demo client and a
# demo app at http://localhost:8080/demo that signs in and shows the ID
# token and userinfo. It prints the demo user's password. Its data lives
# in ./data-demo, apart from make run's ./data (a demo user with a printed
# password has no place in a real store).
demo: build
	AUTHRIM_STORAGE_DIR=./data-demo AUTHRIM_KEYS_KEK_FILE=./data-demo/kek ./$(BIN) serve --demo

# All tests, with the race detector. CI (.ci/run) calls exactly this.
# The Helm chart's check is a module of its own (deploy/helm/chartcheck:
# Helm and the Kubernetes API types stay out of the main go.mod).
# The three-process cluster tests run after the others, on their own: they
# pause and kill nodes against etcd lease and failure timeouts of a few
# seconds, which other packages' load on a 2-core machine can eat into.
# The fuzz runs are budgeted in executions, not seconds: with a duration,
# Go 1.26's fuzz coordinator can report "context deadline exceeded" when
# the time runs out under load (golang/go#75804, fixed in Go 1.27).
# -timeout is a hang guard: the node package (every front end, real
# Chromium, slapd and node-oidc-provider, under the race detector) takes
# about 15 minutes on 2 cores, so its guard is 50 (it took 32 with a second copy of it running).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 50m $$($(GO) list ./... | grep -v '/clustertest$$')
	$(GO) test -race -count=1 -timeout 15m ./clustertest
	$(GO) test -count=1 -run '^TestEtcdNodeImportsASeedOnce$$' ./node
	cd deploy/helm/chartcheck && $(GO) test -count=1 -timeout 15m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequestObject$$' -fuzztime 30000x ./http/auth
	$(GO) test -run '^$$' -fuzz '^FuzzParseRegistration$$' -fuzztime 50000x ./directory
	$(GO) test -run '^$$' -fuzz '^FuzzRedirectURI$$' -fuzztime 30000x ./directory
	$(GO) test -run '^$$' -fuzz '^FuzzParseCompact$$' -fuzztime 50000x ./actors/crypto
	$(GO) test -run '^$$' -fuzz '^FuzzSummary$$' -fuzztime 30000x ./internal/useragent

# The load benchmark: every endpoint on a fresh node; tables in BENCHMARKS.md.
bench: build
	./$(BIN) bench $(BENCHFLAGS)

# Go micro-benchmarks of the hot paths.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# A three-node cluster on loopback, in the foreground (Ctrl-C stops all).
cluster: build
	./examples/cluster/run.sh

# The container image (Containerfile, FROM scratch). The binary is built
# here, static and stripped, not in a builder stage (no registry needed);
# GOARCH=arm64 make image makes an arm64 image. docs/DEPLOY-container.md.
IMAGE   ?= localhost/authrim:dev
PODMAN  ?= podman
image:
	rm -rf bin/image && mkdir -p bin/image/data
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/image/authrim ./cmd/authrim
	cp /etc/ssl/certs/ca-certificates.crt deploy/container/config.yaml bin/image/
	$(PODMAN) build --format docker -f Containerfile -t $(IMAGE) bin/image

# Regenerates the protobuf code in actors/messages (committed).
generate:
	protoc --plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
		--go_out=. --go_opt=module=authrim actors/messages/*.proto

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...

clean:
	rm -rf bin $(DIST)
