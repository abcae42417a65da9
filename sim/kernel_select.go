package sim

import (
	"fmt"
	"os"
	"strings"
)

// The step kernels, fastest last. Every one gives the same bits (TestKernelsMatchReference).
const (
	kernelScalar = iota // Go, one cell at a time; every architecture
	kernelAVX           // amd64 assembly, 4 float64 lanes
	kernelAVX512        // amd64 assembly, 8 float64 lanes
)

var kernelNames = [...]string{kernelScalar: "scalar", kernelAVX: "avx", kernelAVX512: "avx512"}

// KernelEnv names the environment variable that forces a step kernel (scalar, avx or
// avx512); empty or "auto" picks the fastest the CPU supports. It is read once, when the
// package is initialised, so that a whole test suite or server runs on one kernel.
const KernelEnv = "MFN_KERNEL"

// kernel is the kernel Step uses; tests switch it to compare kernels.
var kernel, kernelErr = selectKernel(os.Getenv(KernelEnv))

// selectKernel resolves a KernelEnv value. An unknown name or a kernel this CPU lacks is
// an error; the fastest available kernel is used instead so that the process still works.
func selectKernel(name string) (int, error) {
	best := kernelScalar
	for k := range kernelNames {
		if kernelAvailable(k) {
			best = k
		}
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" || name == "auto" {
		return best, nil
	}
	for k, kn := range kernelNames {
		if kn == name {
			if !kernelAvailable(k) {
				return best, fmt.Errorf("sim: %s=%s: this CPU does not support that kernel (available: %s)",
					KernelEnv, name, strings.Join(Kernels(), ", "))
			}
			return k, nil
		}
	}
	return best, fmt.Errorf("sim: %s=%q: unknown kernel (want auto, %s)", KernelEnv, name, strings.Join(kernelNames[:], ", "))
}

// Kernel is the name of the step kernel in use (scalar, avx or avx512).
func Kernel() string { return kernelNames[kernel] }

// KernelError reports an invalid KernelEnv value (nil when it is unset or valid). The
// package then runs on the fastest available kernel; main should refuse to start.
func KernelError() error { return kernelErr }

// Kernels lists the kernels this CPU can run, slowest first.
func Kernels() []string {
	var out []string
	for k, kn := range kernelNames {
		if kernelAvailable(k) {
			out = append(out, kn)
		}
	}
	return out
}
