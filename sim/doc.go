// Package sim is the reference's mycelium field simulation (simulate_mycelium_field)
// with numpy-exact statistics, box-counting fractal dimension, the IFS fractal with its
// "Lyapunov exponent", the history Lyapunov estimate with stability metrics, and the
// nine streaming features; and the reference's ReactionDiffusionEngine (Engine: the
// simulator of datasets, with periodic, Neumann and Dirichlet boundaries, metrics and
// NaN/Inf checks) with the 18 dataset features (ComputeFeatures).
//
// Engine differs from Simulator as the reference's two simulators do (numerical-core.md
// §5.4): it always draws A and I, its inhibitor update uses the old activator, and every
// Simulate restarts from the seed. With Turing on and the default threshold both give the
// same field for the same seed (the activator never reaches the threshold).
//
// Units: potentials are volts internally (float64); only Features reports mV. Fields are
// N×N row-major []float64 (index i·N + j is row i, column j) on a torus (periodic
// boundaries).
//
// Parity: with an nprand.Generator seeded like numpy's default_rng(seed), Simulator
// reproduces the reference's fields and growth events bit for bit: the RNG draws come in
// the reference's order and every floating-point expression keeps its order of
// operations (products are wrapped in float64(...) so no FMA is fused). Mean, Std and Sum
// reproduce numpy's pairwise summation, so they match numpy to the last bit too; values
// that pass through log/exp/sin/cos (dimensions, IFS, Lyapunov) agree within ~1e-15
// relative. Reference quirks are kept on purpose (numerical-core.md §22): the Turing
// activator never reaches its default threshold (W-1), the −60 mV binarisation of a
// default field is empty so its dimension is 0 (W-5), box sizes follow numpy's geomspace
// truncation ([2, 4, 7, 16, 32] at 64×64, W-7), jitter variance is in V² (W-9) and there
// is no leak term (W-10). The one fix: StreamFractalDimension returns 0, not NaN, for an
// all-inactive field (W-13).
//
// Speed (docs/performance.md): Step is one pass over the state per step (diffusion,
// Turing, mask and clamps fused). On amd64 an assembly kernel does 8 cells per
// instruction with AVX-512 or 4 with AVX, with the same per-lane operations as the scalar
// Go kernel (no FMA), so results are identical; it needs the Simulator's layout (V, A, I
// back to back, each followed by a pad for the periodic wrap windows). The kernel is
// picked by CPU feature detection; MFN_KERNEL=scalar|avx|avx512 forces one (read once
// at start-up; KernelError reports a bad value). Other architectures use the scalar
// kernel. Grids from 128² on, run without an observer, advance in temporal blocks of up
// to 8 steps (block.go): the spikes' draws do not depend on the field, so they are drawn
// first and the steps computed as a wavefront over row rings that stay in the L2 cache.
// Params.Workers splits each step (or block) into row bands run at the same time
// (bands.go), with a barrier between them.
//
// Concurrency: a Simulator and the Generator it draws from belong to one goroutine.
// Every other function is pure and safe for concurrent use. Simulator.Step allocates
// nothing on one worker; a banded step allocates its goroutines.
package sim
