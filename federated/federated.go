// Package federated is Krum and hierarchical Krum aggregation in float32.
package federated

// Aggregate is HierarchicalKrumAggregator(numClusters, byzantineFraction, 0.1).aggregate with default_rng(42).
func Aggregate(gradients [][]float32, numClusters int, byzantineFraction float64) ([]float32, error) {
	panic("federated: TODO")
}
