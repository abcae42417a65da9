package main

import (
	"fmt"
	"io"
	"runtime"

	"mfn/internal/version"
)

// printVersion is `mfn version`: one key=value per line, so scripts can grep it.
func printVersion(stdout io.Writer) int {
	fmt.Fprintf(stdout, "version=%s\nrevision=%s\napi_version=%s\ngo=%s\n",
		version.Build(), version.Revision(), version.API, runtime.Version())
	return 0
}
