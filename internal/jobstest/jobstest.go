// Package jobstest holds the test oracle shared by every package that decodes jobs
// requests from outside (jobs, server, pipeline): whatever passed Validate must lie
// inside the documented ranges. It is imported only by tests.
package jobstest

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"mfn/jobs"
)

// OutOfRange returns an error naming the first field of a validated request that lies
// outside its documented range (or a structural problem such as ragged gradients), and
// nil when the request is within them. Requests are value types, as the pool dispatches.
func OutOfRange(req jobs.Request) error {
	var bad error
	in := func(name string, v, lo, hi float64) {
		if bad == nil && (math.IsNaN(v) || v < lo || v > hi) {
			bad = fmt.Errorf("%s = %v outside [%v, %v]", name, v, lo, hi)
		}
	}
	switch r := req.(type) {
	case jobs.SimulateRequest:
		in("seed", float64(r.Seed), 0, math.MaxInt64)
		in("grid_size", float64(r.GridSize), jobs.MinGridSize, jobs.MaxGridSize)
		in("steps", float64(r.Steps), jobs.MinSteps, jobs.MaxSteps)
		in("alpha", r.Alpha, 0, 1)
		in("spike_probability", r.SpikeProbability, 0, 1)
		in("threshold_mV", r.ThresholdMV, jobs.MinThresholdMV, jobs.MaxThresholdMV)
	case jobs.ValidateRequest:
		in("seed", float64(r.Seed), 0, math.MaxInt64)
		in("epochs", float64(r.Epochs), jobs.MinEpochs, jobs.MaxEpochs)
		in("batch_size", float64(r.BatchSize), jobs.MinBatchSize, jobs.MaxBatchSize)
		in("grid_size", float64(r.GridSize), jobs.MinGridSize, jobs.MaxGridSize)
		in("steps", float64(r.Steps), jobs.MinSteps, jobs.MaxSteps)
	case jobs.NernstRequest:
		in("z_valence", float64(r.ZValence), jobs.MinValence, jobs.MaxValence)
		in("temperature_k", r.TemperatureK, jobs.MinTempK, jobs.MaxTempK)
		if r.ConcentrationOutMolar == nil || r.ConcentrationInMolar == nil {
			return fmt.Errorf("nernst request without concentrations")
		}
		in("concentration_out_molar", *r.ConcentrationOutMolar, math.SmallestNonzeroFloat64, math.MaxFloat64)
		in("concentration_in_molar", *r.ConcentrationInMolar, math.SmallestNonzeroFloat64, math.MaxFloat64)
	case jobs.FederatedRequest:
		in("num_clusters", float64(r.NumClusters), jobs.MinClusters, jobs.MaxClusters)
		in("byzantine_fraction", r.ByzantineFraction, 0, math.Nextafter(jobs.MaxByzantineFraction, 0))
		if len(r.Gradients) == 0 || len(r.Gradients[0]) == 0 {
			return fmt.Errorf("federated request without gradients")
		}
		for _, g := range r.Gradients {
			if len(g) != len(r.Gradients[0]) {
				return fmt.Errorf("federated request with ragged gradients")
			}
			for _, v := range g {
				in("gradient value", v, -math.MaxFloat32, math.MaxFloat32)
			}
		}
	default:
		return fmt.Errorf("unexpected request type %T", req)
	}
	return bad
}

// StartPool runs a pool with cfg (its metrics on a fresh registry) until the test ends.
func StartPool(t testing.TB, cfg jobs.PoolConfig) *jobs.Pool {
	t.Helper()
	p, err := jobs.NewPool(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// Simulate is what /simulate computes for req, run on pool.
func Simulate(t testing.TB, pool *jobs.Pool, req jobs.SimulateRequest) jobs.SimulateResult {
	t.Helper()
	res, err := pool.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := jobs.AsSimulateResult(res)
	if !ok {
		t.Fatalf("result %T is not a SimulateResult", res)
	}
	return r
}
