# mfn — run `make help` for the list of targets.
GO        ?= go
BIN       ?= bin/mfn
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE    ?= $(shell git remote get-url origin 2>/dev/null)
IMAGE     ?= mfn:$(VERSION)
LDFLAGS   := -s -w -X mfn/internal/version.version=$(VERSION) -X mfn/internal/version.revision=$(REVISION)
BENCHTIME ?= 3s

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the static binary into bin/mfn
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $(BIN) .

.PHONY: run
run: ## serve on :8000 with the embedded defaults
	$(GO) run .

.PHONY: test
test: ## the whole suite, with the race detector
	$(GO) test -race -timeout 30m ./...

.PHONY: test-fast
test-fast: ## the suite without the race detector and the long soak/load tests (-short)
	$(GO) test -short -timeout 15m ./...

.PHONY: bench
bench: ## micro-benchmarks and the loopback load benchmarks (bounded in time)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./sim ./nprand ./jobs ./federated ./validation
	$(GO) test -run '^$$' -bench DatasetMedium -benchtime 3x -count 5 .
	./scripts/loadbench.sh
	$(GO) test -run '^$$' -bench KafkaThroughput -benchtime 400x -count 5 ./pipeline
	$(GO) test -run '^$$' -bench KafkaVsREST -benchtime 3000x -count 5 ./bench

.PHONY: fmt
fmt: ## rewrite every Go file with gofmt
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: ## gofmt, go vet and staticcheck (pinned in scripts/tools.sh)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	"$$(./scripts/tools.sh)/staticcheck" ./...

.PHONY: security-scan
security-scan: ## gosec, and govulncheck where its database can be reached
	./scripts/security-scan.sh

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	./scripts/fuzz.sh $(or $(FUZZTIME),20s)

.PHONY: cover
cover: ## test coverage report in coverage.html
	$(GO) test -coverprofile=coverage.out ./...
	$(GO) tool cover -html=coverage.out -o coverage.html

.PHONY: proto
proto: ## regenerate proto/*.pb.go (Debian protobuf-compiler + pinned Go plugins)
	./proto/gen.sh

.PHONY: check-proto
check-proto: proto ## fail when the committed generated code is stale
	git diff --exit-code -- proto

.PHONY: docker
docker: ## build the container image $(IMAGE) (BUILD_IMAGE=... for an offline Go image)
	docker build -t $(IMAGE) \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg SOURCE=$(SOURCE) \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		$(if $(BUILD_IMAGE),--build-arg BUILD_IMAGE=$(BUILD_IMAGE)) .

.PHONY: docker-test
docker-test: ## build and run the image against a local Docker engine (TestDockerImage)
	$(GO) test -count=1 -run 'TestDockerImage$$' -v .

.PHONY: k8s-apply
k8s-apply: ## apply k8s.yaml to the current kubectl context
	kubectl apply -f k8s.yaml
