// Package validation runs the reference's validation cycle (run_validation,
// numerical-core.md §14): a 16-sample dataset from the field simulation, a short
// training run of the small MyceliumFractalNet network, an example simulation and the
// Nernst checks, reported as 12 metrics.
//
// Parity. Everything numpy computes in the reference is reproduced bit for bit: one
// nprand generator seeded with cfg.Seed drives the 16 simulations, each followed by a
// 1000-point IFS draw on the same generator; the example run uses a second generator
// seeded with cfg.Seed+1. So pot_min_mV, pot_max_mV, lyapunov_mean,
// example_fractal_dim, lyapunov_exponent and growth_events equal the reference's for
// the same configuration. Potentials are volts inside and mV (×1000) in the metrics.
//
// The network. The reference trains with torch, whose initialisation and DataLoader
// shuffles cannot be reproduced; its losses are therefore not the reference's. The
// network here is the same architecture (input_proj 4→32; sparse top-k attention,
// which for 2-D input sees sequence length 1 and reduces to out_proj∘v_proj;
// 32→32→ReLU→16→ReLU→1), computed in float32 with hand-written backpropagation, MSE
// loss and Adam (lr 1e-3, β 0.9/0.999, ε 1e-8). Its weights are initialised like
// torch's nn.Linear default, U(±1/√fan_in), from an nprand generator seeded with
// cfg.Seed + 0x6D666E, which then also draws each epoch's Fisher–Yates shuffle. Losses
// are thus deterministic per seed (on every platform: products are rounded before
// they are summed, so no fused multiply-add can creep in), positive, and
// loss_start/loss_final are the pre-update MSE of the first batch and of the last
// batch of the last epoch (different batches, so loss_drop may be negative).
//
// Run allocates its buffers once per call and is safe for concurrent use; it checks
// ctx between simulations, between simulation steps and between training batches.
package validation
