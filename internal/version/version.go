// Package version says which mfn this is: the API version of the reference contract that
// mfn serves (fixed by the wire contract) and the version of this build (from the linker
// or the Go build information). It has no state beyond link-time variables and is safe
// for concurrent use.
package version

import (
	"runtime/debug"
	"sync"
)

// API is the reference API version mfn implements. The wire contract fixes it where a
// client reads it: /health and gRPC HealthCheck `version`, the x-mfn-version header and
// the result envelope of pipelines. It changes only with the contract, never per build.
const API = "4.1.0"

// Set at link time by the Dockerfile and the Makefile:
//
//	go build -ldflags "-X mfn/internal/version.version=1.2.3 -X mfn/internal/version.revision=abc123"
//
// Left empty, Build and Revision fall back to what the Go toolchain recorded.
var version, revision string

var info = sync.OnceValues(func() (string, string) {
	v, r := version, revision
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return orDefault(v, "devel"), orDefault(r, "unknown")
	}
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if r == "" {
				r = s.Value
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	// `go install mfn@v1.2.3` and builds from a tagged checkout record a module version;
	// a plain `go build` in a work tree records "(devel)" and the VCS revision instead.
	if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if v == "" && r != "" {
		v = "devel-" + shorten(r)
		if dirty {
			v += "-dirty"
		}
	}
	return orDefault(v, "devel"), orDefault(r, "unknown")
})

// Build is the version of this binary: the linker's, else the module version, else
// devel-<revision>, else "devel".
func Build() string { v, _ := info(); return v }

// Revision is the source revision this binary was built from, or "unknown".
func Revision() string { _, r := info(); return r }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func shorten(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
