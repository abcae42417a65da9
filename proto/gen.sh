#!/bin/sh
# Regenerates proto/*.pb.go from proto/mycelium.proto with Debian's protoc
# (protobuf-compiler) and the Go plugins at the versions pinned below. Idempotent: with
# the same protoc the output is byte-identical, so `make proto && git diff --exit-code`
# checks that the committed code is current.
set -eu

PROTOC_GEN_GO_VERSION=v1.36.12     # google.golang.org/protobuf, matches go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2  # needs grpc >= v1.81 at run time; go.mod has v1.85.0
PROTOC_VERSION="libprotoc 3.21.12" # Debian bookworm/trixie protobuf-compiler

cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null 2>&1; then
	echo "gen.sh: protoc not found; install Debian's protobuf-compiler" >&2
	exit 1
fi
if [ "$(protoc --version)" != "$PROTOC_VERSION" ]; then
	# The version is written into the generated headers, so another protoc makes a diff.
	echo "gen.sh: warning: $(protoc --version) is not $PROTOC_VERSION; headers will differ" >&2
fi

# The plugins live in a per-version cache directory, outside the module: `go install
# pkg@version` never touches go.mod.
bin="${XDG_CACHE_HOME:-$HOME/.cache}/mfn-protoc/go-$PROTOC_GEN_GO_VERSION-grpc-$PROTOC_GEN_GO_GRPC_VERSION"
if [ ! -x "$bin/protoc-gen-go" ] || [ ! -x "$bin/protoc-gen-go-grpc" ]; then
	mkdir -p "$bin"
	GOBIN="$bin" GOFLAGS=-mod=mod go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
	GOBIN="$bin" GOFLAGS=-mod=mod go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

protoc \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--proto_path=proto \
	--go_out=proto --go_opt=paths=source_relative \
	--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	proto/mycelium.proto
