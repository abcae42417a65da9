package sim

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"mfn/nprand"
)

// BenchmarkStep reports cell-steps per second for Simulator.Step with Turing on (the
// per-step RNG draw and spike included) for every kernel this CPU has, from a grid that
// fits the L1/L2 caches (64²) to ones whose two states (48 B per cell) leave them
// (1024², 2048²). b.N counts steps; the cost per step does not depend on the state.
func BenchmarkStep(b *testing.B) {
	benchKernels(b, func(s *Simulator, steps int) {
		for range steps {
			s.Step()
		}
	})
}

// BenchmarkStepBlocked is BenchmarkStep through Advance, as Run steps without an
// observer: grids from 128² on advance in temporal blocks (block.go); smaller ones Step.
func BenchmarkStepBlocked(b *testing.B) {
	benchKernels(b, func(s *Simulator, steps int) {
		for done := 0; done < steps; {
			done += s.Advance(steps - done)
		}
	})
}

// benchKernels runs advance(s, b.N) for every kernel and grid size of the Step
// benchmarks and reports cell-steps per second.
func benchKernels(b *testing.B, advance func(s *Simulator, steps int)) {
	for _, name := range Kernels() {
		for _, n := range []int{64, 256, 1024, 2048} {
			b.Run(fmt.Sprintf("%s/%dx%d", name, n, n), func(b *testing.B) {
				useKernel(b, name)
				p := DefaultParams()
				p.GridSize = n
				s := New(p, nprand.New(42))
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := processCPU(b)
				advance(s, b.N)
				cpu := processCPU(b) - cpu0
				b.ReportMetric(float64(n*n)*float64(b.N)/b.Elapsed().Seconds(), "cell-steps/s")
				// On a machine shared with other work the process is descheduled for part of
				// the wall time; per CPU second that time does not count.
				b.ReportMetric(float64(n*n)*float64(b.N)/cpu.Seconds(), "cell-steps/cpu-s")
			})
		}
	}
}

// processCPU is the user plus system CPU time the whole test process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// BenchmarkRun is a whole run (initialisation included), as /simulate does it.
func BenchmarkRun(b *testing.B) {
	for _, sz := range []struct{ n, steps int }{{64, 64}, {64, 100}, {256, 256}, {1024, 16}} {
		b.Run(fmt.Sprintf("%dx%dx%d", sz.n, sz.n, sz.steps), func(b *testing.B) {
			p := DefaultParams()
			p.GridSize, p.Steps = sz.n, sz.steps
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := Run(context.Background(), nprand.New(42), p, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sz.n*sz.n*sz.steps)*float64(b.N)/b.Elapsed().Seconds(), "cell-steps/s")
		})
	}
}

// BenchmarkBoxCounting256 is box counting on rng(42).random((256,256)) > 0.5 (§19: < 0.5 s).
func BenchmarkBoxCounting256(b *testing.B) {
	mask := randomMask(42, 256, 0.5)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, err := BoxCountingDimension(mask, 256, 2, 0, 5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIFS10000 is generate_fractal_ifs with 10000 points (§19: < 1 s).
func BenchmarkIFS10000(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		IFS(nprand.New(42), 10000, 4)
	}
}

// BenchmarkLyapunov500x64 is the history Lyapunov estimate over 500 frames of 64×64 (§19: < 2 s).
func BenchmarkLyapunov500x64(b *testing.B) {
	rng := nprand.New(42)
	h := make([][]float64, 500)
	for t := range h {
		h[t] = make([]float64, 64*64)
		for k := range h[t] {
			h[t][k] = rng.Normal(-0.07, 0.01)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		LyapunovFromHistory(h, 1)
	}
}

// BenchmarkStreamFeatures64 is the 9 streaming features of one 64×64 field.
func BenchmarkStreamFeatures64(b *testing.B) {
	f, _, err := Run(context.Background(), nprand.New(42), DefaultParams(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		StreamFeatures(f, 64)
	}
}

// BenchmarkStateStream is the memory traffic of one unblocked step without its
// arithmetic: read three 2048² arrays, write three others. Its bytes/s (read + written,
// the write-allocate reads not counted) is the bandwidth term of the roofline in
// docs/performance.md.
func BenchmarkStateStream(b *testing.B) {
	const nn = 2048 * 2048
	src, dst := make([]float64, 3*nn), make([]float64, 3*nn)
	for k := range src {
		src[k] = float64(k)
	}
	b.SetBytes(int64(len(src)+len(dst)) * 8)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, x := range src {
			dst[k] = x * 0.5
		}
		src, dst = dst, src
	}
}

// BenchmarkRowKernel is the blocked wavefront's row kernel alone, computing the same rows
// over and over: one row per call (row1) or two (row2, AVX-512 only) from one level of
// ringSlots rows into another. At 256 cells the rows stay in the 48 KiB L1, at 1000 and
// beyond in the L2, so the difference is what the L2 costs the kernel; 1000 against 1024
// shows whether rows 4 KiB apart (same L1 sets) cost more.
func BenchmarkRowKernel(b *testing.B) {
	for _, name := range Kernels() {
		for _, n := range []int{256, 1000, 1024, 2048} {
			for _, rows := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%d/row%d", name, n, rows), func(b *testing.B) {
					useKernel(b, name)
					stride := ringSlots*n + bandPad
					in := level{blk: make([]float64, 3*stride), stride: stride, pad: ringSlots * n}
					out := level{blk: make([]float64, 3*stride), stride: stride, pad: ringSlots * n}
					for i := range in.blk {
						in.blk[i] = 0.5
					}
					if rows == 2 && !vectorRow2(&in, &out, 0, n, 2*n, 3*n, 0, n, n, 0.1, 0.5) {
						b.Skip("no two-row kernel")
					}
					b.ResetTimer()
					for range b.N {
						if rows == 2 {
							vectorRow2(&in, &out, 0, n, 2*n, 3*n, 0, n, n, 0.1, 0.5)
						} else {
							vectorRow(&in, &out, 0, n, 2*n, 0, n, 0.1, 0.5)
						}
					}
					b.ReportMetric(float64(rows*n)*float64(b.N)/b.Elapsed().Seconds(), "cell-steps/s")
				})
			}
		}
	}
}

// useKernel puts kernel name in use until b ends.
func useKernel(b *testing.B, name string) {
	k, err := selectKernel(name)
	if err != nil {
		b.Fatal(err)
	}
	old := kernel
	kernel = k
	b.Cleanup(func() { kernel = old })
}
