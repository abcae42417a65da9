// Package federated is Byzantine-robust gradient aggregation: Krum and the reference's
// hierarchical Krum (HierarchicalKrumAggregator), in float32 like the reference's
// tensors.
//
// Aggregation follows numerical-core.md §13 step by step so that, for the same input,
// the same clients are sampled, clustered and picked as in the reference:
//
//   - above 1000 clients a sample of int(n·sample_fraction) clients is drawn without
//     replacement (numpy Choice), at least one ([FIX]: the reference can sample none);
//   - clients are assigned to min(num_clusters, n) clusters by n integer draws;
//   - each non-empty cluster elects a representative by Krum with
//     f = max(1, int(size·byzantine_fraction));
//   - the result is 0.7·Krum(representatives) + 0.3·median(representatives), where the
//     median is torch's: the lower middle value for an even count.
//
// Krum scores use Euclidean (not squared) distances, as the reference does although
// the Blanchard et al. paper squares them. Distances and scores are accumulated in
// float64 from the float32 values and the self-distance is excluded explicitly (torch
// computes them in float32 and, above 25 rows, with a formula whose self-distance is
// rounding noise); selections can therefore only differ from the reference on scores
// that tie within float32 rounding. The output values are exact copies (Krum, median)
// combined with float32 multiplications and addition, so they match the reference bit
// for bit whenever the selection does.
//
// Aggregate, with no generator given, seeds numpy's default_rng(42) on every call, so
// the same input always gives the same output. Bad input (no gradients, empty, ragged
// or non-finite vectors, parameters out of range) is reported as an *InputError naming
// the field and wrapping one of the Err* sentinels.
//
// Memory is quadratic: Krum holds an n×n float64 distance matrix for a cluster of n
// gradients, and clusters are drawn at random, so bound the sampled count before
// calling (jobs does, PITFALLS §9.5). AggregateContext and Aggregator.AggregateContext
// stop with ctx.Err() within one row of that matrix once ctx is done.
//
// All functions are pure (inputs are never modified) and safe for concurrent use; an
// *nprand.Generator passed in is not, and must not be shared between goroutines.
package federated
