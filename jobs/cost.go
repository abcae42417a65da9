package jobs

import (
	"fmt"
	"math"
	"math/bits"
	"reflect"

	"mfn/federated"
	"mfn/internal/cfgerr"
	"mfn/validation"
)

// Cost is a job's worst case, known from its parameters before it runs: the memory it
// may allocate (beyond the decoded request it was given) and the CPU time it needs.
type Cost struct {
	// Memory is the peak of the job's own allocations, in bytes.
	Memory int64
	// Work is the estimated CPU time on one core of the calibration machine, in seconds.
	Work float64
}

// Calibration of Work: seconds per unit of the dominant loops, measured on a 2-core
// amd64 build box (see EstimateCost's test for the measurement) and rounded up.
const (
	secPerCellStep     = 6e-9   // one grid cell of one simulation step (Turing on)
	secPerCell         = 40e-9  // per-cell work outside the steps: initial draws, statistics, fractal dimension
	secPerJob          = 5e-6   // fixed cost of any queued job (hand-off, allocation)
	secPerTrainRow     = 150e-6 // one sample of one validation training step (forward, backward, Adam)
	secPerIFS          = 100e-6 // one 1000-point IFS draw of the validation cycle
	secPerDistValue    = 4e-9   // one coordinate of one Krum distance
	secPerSortCmp      = 3e-9   // one comparison while ranking a Krum distance row
	secPerGradValue    = 2e-9   // widening and copying one gradient value
	secNernst          = 2e-6   // a Nernst potential
	bytesPerSimCell    = 10 * 8 // two states of V, A and I plus the fractal and statistics scratch
	bytesPerDatasetRow = 512    // one dataset.Row kept for a whole dataset's result
	validationSims     = validation.NumSamples + 1
	sliceHeaderBytes   = 24
	fixedJobBytes      = 64 << 10 // small allocations of any job (results, closures, network weights)
)

// EstimateCost returns the worst-case cost of a request. It only reads the request's
// sizes (it never walks gradient values), allocates nothing and tolerates invalid
// requests (their sizes are clamped at zero), so it can run before validation. Every
// request type states its own cost (the unexported cost method of Request), so a new
// kind cannot be admitted without one.
func EstimateCost(req Request) Cost {
	if req == nil || isNilPointer(req) {
		return Cost{Work: secPerJob}
	}
	return req.cost()
}

// isNilPointer reports a typed nil *T inside the interface: its value methods would panic.
func isNilPointer(req Request) bool {
	v := reflect.ValueOf(req)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func (r SimulateRequest) cost() Cost { return simulateCost(r.GridSize, r.Steps) }

func (o ObservedSimulation) cost() Cost { return observedCost(o) }

func (r DatasetRequest) cost() Cost { return datasetCost(r) }

func (r ValidateRequest) cost() Cost { return validateCost(r) }

func (NernstRequest) cost() Cost { return Cost{Work: secNernst} }

func (r FederatedRequest) cost() Cost { return federatedCost(r) }

// cost of one dataset sample: the engine holds about 12 fields (V, A, I, their next
// states, the Laplacian scratch and the features' running sums) and does one engine
// update per cell and step: three fields and the features, measured at about 2.2× a
// legacy step (128²×200 in 44 ms), counted as 3× to stay on the safe side like the
// other estimates.
func (r DatasetSampleRequest) cost() Cost {
	n := float64(max(r.Sample.GridSize, 0))
	cells := n * n
	return Cost{
		Memory: satAdd(satMul(int64(12*8), cells), fixedJobBytes),
		Work:   secPerJob + cells*(secPerCell+3*float64(max(r.Sample.Steps, 0))*secPerCellStep),
	}
}

func simulateCost(grid, steps int) Cost {
	cells := float64(max(grid, 0)) * float64(max(grid, 0))
	return Cost{
		Memory: satMul(int64(bytesPerSimCell), cells),
		Work:   secPerJob + cells*(secPerCell+float64(max(steps, 0))*secPerCellStep),
	}
}

// observedCost is the simulation's plus the history its observer keeps.
func observedCost(r ObservedSimulation) Cost {
	c := simulateCost(r.GridSize, r.Steps)
	c.Memory = satAdd(c.Memory, historyBytes(r))
	return c
}

// historyBytes is the memory of the arrays an observer keeps: frames × arrays × N² × 8.
func historyBytes(r ObservedSimulation) int64 {
	n := float64(max(r.GridSize, 0))
	return satMul(satMul(8*int64(max(r.HistoryFrames, 0)), float64(historyArrays(r))), n*n)
}

// historyArrays is the arrays kept per frame: at least the field.
func historyArrays(r ObservedSimulation) int { return max(r.HistoryArrays, 1) }

// datasetCost is the samples' work added up; the memory is the largest sample's (they
// run one after the other, or each as its own job) plus the rows.
func datasetCost(r DatasetRequest) Cost {
	var c Cost
	for _, s := range r.Samples {
		sc := DatasetSampleRequest{Sample: s}.cost()
		c.Work += sc.Work
		c.Memory = max(c.Memory, sc.Memory)
	}
	c.Memory = satAdd(c.Memory, satMul(bytesPerDatasetRow, float64(len(r.Samples))))
	return c
}

func validateCost(r ValidateRequest) Cost {
	c := simulateCost(r.GridSize, r.Steps)
	// 17 simulations one after the other, then training on the 16 samples: epochs × 16
	// rows whatever the batch size. Memory counts every simulation's allocations: the
	// garbage of one is not necessarily collected before the next allocates.
	c.Memory = satAdd(satMul(c.Memory, validationSims), fixedJobBytes)
	c.Work = validationSims*(c.Work+secPerIFS) + float64(max(r.Epochs, 0))*validation.NumSamples*secPerTrainRow
	return c
}

// federatedCost bounds what runFederated and federated.Aggregate allocate and compute
// for n gradients of dimension dim: the float32 copy, the sample above
// federated.SampleThreshold clients (n' of them), and Krum's n×n distance matrix for the
// largest cluster. Clusters are drawn at random, so in the worst case one cluster holds
// all n' sampled gradients; the representatives' Krum adds at most min(clusters, n')².
func federatedCost(r FederatedRequest) Cost {
	n := int64(len(r.Gradients))
	if n == 0 {
		return Cost{Work: secPerJob}
	}
	dim := int64(len(r.Gradients[0]))
	ns := sampledGradients(n)
	reps := min(int64(max(r.NumClusters, 1)), ns)
	values := float64(n) * float64(dim)

	mem := satMul(4, values) // the float32 copy of every gradient
	mem = satAdd(mem, n*sliceHeaderBytes+fixedJobBytes)
	if n > federated.SampleThreshold {
		// The sampler: an n-index permutation, or Floyd's hash set (≤ 2.4 n' words)
		// and its n' picks.
		mem = satAdd(mem, n*8+ns*32)
	}
	mem = satAdd(mem, ns*(2*sliceHeaderBytes+8)) // sample, members, cluster assignment
	mem = satAdd(mem, satMul(8, float64(ns)*float64(ns)))
	mem = satAdd(mem, ns*8)                       // one distance row
	mem = satAdd(mem, reps*(sliceHeaderBytes+24)) // representatives, cluster bounds, median column
	mem = satAdd(mem, satMul(8, 4*float64(dim)))  // median, result and its float64 form

	pairs := float64(ns)*float64(ns) + float64(reps)*float64(reps)
	work := secPerJob + values*secPerGradValue +
		pairs/2*float64(dim)*secPerDistValue +
		pairs*float64(bits.Len64(uint64(ns)))*secPerSortCmp // #nosec G115 -- ns counts rows, never negative
	return Cost{Memory: mem, Work: work}
}

// sampledGradients is the number of gradients federated.Aggregate keeps from n: all
// up to federated.SampleThreshold, else ⌊n × sample fraction⌋ (at least 1).
func sampledGradients(n int64) int64 {
	if n <= federated.SampleThreshold {
		return n
	}
	return max(int64(float64(n)*federated.DefaultSampleFraction), 1)
}

// satMul is a × b in bytes, saturating at MaxInt64 so that absurd sizes compare as huge
// instead of wrapping negative.
func satMul(a int64, b float64) int64 {
	v := float64(a) * b
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Limits bound one job; a request beyond them is refused at admission with a
// *ValidationError naming the field (REST 422, gRPC INVALID_ARGUMENT) and never
// reaches a worker.
type Limits struct {
	// MaxJobMemoryBytes caps a job's worst-case memory (EstimateCost). It is what stops
	// a federated request whose Krum matrix cannot fit: the default allows a cluster of
	// about 5,800 gradients (about 58,000 gradients above the 1,000-client sampling).
	MaxJobMemoryBytes int64 `mapstructure:"max_job_memory_bytes"`
	// MaxGradients caps the number of gradient vectors of one federated request.
	MaxGradients int `mapstructure:"max_gradients"`
	// MaxGradientValues caps gradients × dimension of one federated request.
	MaxGradientValues int64 `mapstructure:"max_gradient_values"`
	// MaxFieldHistoryBytes caps the field history one run keeps (frames × arrays × N² × 8
	// bytes, POST /simulate/field with every, the arrays being the field and any included
	// activator/inhibitor); beyond it the request is refused naming every.
	MaxFieldHistoryBytes int64 `mapstructure:"max_field_history_bytes"`
	// MaxDatasetSamples caps the samples of one dataset (POST /datasets, a dataset job).
	MaxDatasetSamples int `mapstructure:"max_dataset_samples"`
	// MaxDatasetWorkSeconds caps a dataset's estimated CPU time (its samples' cost added
	// up, in seconds on one core), so that one request cannot hold the workers for hours.
	MaxDatasetWorkSeconds float64 `mapstructure:"max_dataset_work_seconds"`
}

// DefaultLimits: 256 MiB per job, 50,000 gradients, 4,194,304 gradient values (what
// the default 8 MiB REST body can carry at two bytes per value), a 128 MiB field history
// (256 frames of the largest grid, 256×256).
func DefaultLimits() Limits {
	return Limits{MaxJobMemoryBytes: 256 << 20, MaxGradients: 50_000, MaxGradientValues: 4 << 20,
		MaxFieldHistoryBytes: 128 << 20, MaxDatasetSamples: 10_000, MaxDatasetWorkSeconds: 3600}
}

// Validate reports a non-positive limit, naming the key under pool.limits.
func (l Limits) Validate() error {
	switch {
	case l.MaxJobMemoryBytes <= 0:
		return cfgerr.New("limits.max_job_memory_bytes", "must be > 0")
	case l.MaxGradients <= 0:
		return cfgerr.New("limits.max_gradients", "must be > 0")
	case l.MaxGradientValues <= 0:
		return cfgerr.New("limits.max_gradient_values", "must be > 0")
	case l.MaxFieldHistoryBytes <= 0:
		return cfgerr.New("limits.max_field_history_bytes", "must be > 0")
	case l.MaxDatasetSamples <= 0:
		return cfgerr.New("limits.max_dataset_samples", "must be > 0")
	case !(l.MaxDatasetWorkSeconds > 0):
		return cfgerr.New("limits.max_dataset_work_seconds", "must be > 0")
	}
	return nil
}

// check refuses a request whose size or cost exceeds l. It runs before the request's
// own Validate walks the gradient values, so it reads only lengths.
func (l Limits) check(req Request, c Cost) error {
	var n, dim int
	var history int64
	arrays := 1
	switch r := req.(type) {
	case FederatedRequest:
		n, dim = fedSize(r)
	case *FederatedRequest:
		if r != nil {
			n, dim = fedSize(*r)
		}
	case ObservedSimulation:
		history, arrays = historyBytes(r), historyArrays(r)
	case *ObservedSimulation:
		if r != nil {
			history, arrays = historyBytes(*r), historyArrays(*r)
		}
	}
	if r, ok := req.(DatasetRequest); ok {
		if len(r.Samples) > l.MaxDatasetSamples {
			return &ValidationError{Field: r.field(), Type: "value_error",
				Ctx:    map[string]any{"max_samples": l.MaxDatasetSamples, "samples": len(r.Samples)},
				Reason: fmt.Sprintf("Value error, %d samples exceed the limit of %d", len(r.Samples), l.MaxDatasetSamples)}
		}
		if c.Work > l.MaxDatasetWorkSeconds {
			return &ValidationError{Field: r.field(), Type: "value_error",
				Ctx: map[string]any{"max_work_seconds": l.MaxDatasetWorkSeconds, "work_seconds": c.Work},
				Reason: fmt.Sprintf("Value error, the dataset needs about %.0f s of CPU time, more than the limit of %.0f s: fewer or smaller samples",
					c.Work, l.MaxDatasetWorkSeconds)}
		}
	}
	if history > l.MaxFieldHistoryBytes {
		fix := "raise every"
		if arrays > 1 {
			fix = "raise every or include fewer arrays"
		}
		return &ValidationError{Field: "every", Type: "value_error",
			Ctx: map[string]any{"max_bytes": l.MaxFieldHistoryBytes, "bytes": history, "arrays_per_frame": arrays},
			Reason: fmt.Sprintf("Value error, the field history needs %d MiB, more than the limit of %d MiB: %s",
				mib(history), mib(l.MaxFieldHistoryBytes), fix)}
	}
	if n > l.MaxGradients {
		return &ValidationError{Field: "gradients", Type: "too_long",
			Ctx:    map[string]any{"field_type": "List", "max_length": l.MaxGradients, "actual_length": n},
			Reason: fmt.Sprintf("List should have at most %d items after validation, not %d", l.MaxGradients, n)}
	}
	if values := int64(n) * int64(dim); values > l.MaxGradientValues {
		return &ValidationError{Field: "gradients", Type: "value_error",
			Ctx: map[string]any{"max_values": l.MaxGradientValues, "values": values},
			Reason: fmt.Sprintf("Value error, %d gradients × %d values = %d values exceeds the limit of %d",
				n, dim, values, l.MaxGradientValues)}
	}
	if c.Memory > l.MaxJobMemoryBytes {
		field := "body"
		switch req.Kind() {
		case KindFederated:
			field = "gradients"
		case KindSimulate, KindValidate, KindDataset:
			field = "grid_size"
			if history > 0 {
				field = "every"
			}
		}
		return &ValidationError{Field: field, Type: "value_error",
			Ctx: map[string]any{"max_bytes": l.MaxJobMemoryBytes, "bytes": c.Memory},
			Reason: fmt.Sprintf("Value error, the job may need %d MiB, more than the per-job limit of %d MiB",
				mib(c.Memory), mib(l.MaxJobMemoryBytes))}
	}
	return nil
}

func fedSize(r FederatedRequest) (n, dim int) {
	if len(r.Gradients) == 0 {
		return 0, 0
	}
	return len(r.Gradients), len(r.Gradients[0])
}

func mib(b int64) int64 { return (b + 1<<20 - 1) >> 20 }
