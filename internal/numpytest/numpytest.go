// Package numpytest finds a Python with numpy for the tests that load mfn's .npy/.npz
// files the way its users do. It is imported by tests only.
package numpytest

import (
	"os/exec"
	"testing"
)

// Python returns a Python with numpy (Debian's python3-numpy, in /usr/bin, first: a pyenv
// python3 on PATH may lack it), or skips the test saying how to get one; CI installs it.
func Python(tb testing.TB) string {
	tb.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import numpy").Run() == nil { // #nosec G204 -- py is one of the two fixed names above
			return py
		}
	}
	tb.Skip("no python3 with numpy (apt-get install -y python3-numpy): numpy load checks skipped")
	return ""
}
