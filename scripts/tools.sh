#!/bin/sh
# Prints the directory holding the lint and security tools at the versions pinned below,
# installing them first with `go install pkg@version` (from the Go module proxy) when
# they are missing. They live in a per-version cache directory outside the module, so
# go.mod never lists them and a new pin installs beside the old one.
set -eu

STATICCHECK_VERSION=v0.8.2 # honnef.co/go/tools, supports Go 1.26
GOSEC_VERSION=v2.30.0      # github.com/securego/gosec/v2
GOVULNCHECK_VERSION=v1.9.0 # golang.org/x/vuln

bin="${XDG_CACHE_HOME:-$HOME/.cache}/mfn-tools/staticcheck-$STATICCHECK_VERSION-gosec-$GOSEC_VERSION-govulncheck-$GOVULNCHECK_VERSION"
if [ ! -x "$bin/staticcheck" ] || [ ! -x "$bin/gosec" ] || [ ! -x "$bin/govulncheck" ]; then
	mkdir -p "$bin"
	# Outside the module directory, so the tools' own go.mod decides their dependencies.
	cd "$bin"
	for pkg in "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" \
		"github.com/securego/gosec/v2/cmd/gosec@$GOSEC_VERSION" \
		"golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"; do
		GOBIN="$bin" GOFLAGS= go install "$pkg" >&2
	done
fi
echo "$bin"
