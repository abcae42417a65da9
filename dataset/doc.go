// Package dataset builds the reference's simulation datasets (experiments/generate_dataset.py
// and pipelines/scenarios.py; numerical-core.md §15.4, integration-ops.md §4.4, §11.4):
// the scenario presets (small, medium, large, benchmark) and parameter sweeps (minimal,
// default, extended) expand into samples, each sample is one ReactionDiffusionEngine run
// with history whose 18 features make one row, and rows are written as CSV (pandas'
// to_csv text) or Parquet, atomically.
//
// Sample seeds are base seed + sim_id, so a row depends only on its sample: the dataset
// is the same whatever the order or concurrency the samples run in. Running them is the
// caller's business (mfn dataset uses a jobs.Pool); RunSample is pure and safe for
// concurrent use, as are the writers on distinct outputs.
package dataset
