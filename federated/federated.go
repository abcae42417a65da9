package federated

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"mfn/nprand"
)

// Reference defaults of HierarchicalKrumAggregator and its mixing weights.
const (
	DefaultNumClusters       = 100
	DefaultByzantineFraction = 0.2
	DefaultSampleFraction    = 0.1
	// DefaultSeed seeds the generator aggregate creates when none is given (default_rng(42)).
	DefaultSeed = 42
	// SampleThreshold is the client count above which only a sample is aggregated.
	SampleThreshold = 1000
)

var (
	// ErrNoGradients means the input held no gradient vectors at all.
	ErrNoGradients = errors.New("federated: no gradients provided")
	// ErrEmptyGradient means one gradient vector has length 0.
	ErrEmptyGradient = errors.New("federated: empty gradient")
	// ErrRaggedGradients means the gradient vectors differ in length.
	ErrRaggedGradients = errors.New("federated: gradients differ in length")
	// ErrNonFinite means a gradient holds NaN or ±Inf.
	ErrNonFinite = errors.New("federated: non-finite gradient value")
	// ErrInvalidParameter means num_clusters, byzantine_fraction, sample_fraction or f is out of range.
	ErrInvalidParameter = errors.New("federated: invalid parameter")
)

// InputError names the offending field (wire name, e.g. "gradients[3]" or
// "byzantine_fraction") and wraps one of the sentinel errors above, so callers can
// branch with errors.Is and report the field with errors.As.
type InputError struct {
	Field  string
	Reason string
	Err    error
}

func (e *InputError) Error() string { return "federated: " + e.Field + ": " + e.Reason }

// Unwrap returns the sentinel the error belongs to.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(sentinel error, field, format string, args ...any) error {
	return &InputError{Field: field, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// Config holds HierarchicalKrumAggregator's constructor arguments.
type Config struct {
	NumClusters       int     `mapstructure:"num_clusters"`
	ByzantineFraction float64 `mapstructure:"byzantine_fraction"`
	SampleFraction    float64 `mapstructure:"sample_fraction"`
}

// DefaultConfig is the reference class default (100 clusters, 0.2, 0.1). Note that the
// REST API's default num_clusters is 10; that default lives in jobs.
func DefaultConfig() Config {
	return Config{
		NumClusters:       DefaultNumClusters,
		ByzantineFraction: DefaultByzantineFraction,
		SampleFraction:    DefaultSampleFraction,
	}
}

// Validate applies the reference constructor's checks, in its order.
func (c Config) Validate() error {
	if c.NumClusters < 1 {
		return inputErr(ErrInvalidParameter, "num_clusters", "num_clusters=%d must be >= 1", c.NumClusters)
	}
	// The negated form also rejects NaN.
	if !(c.ByzantineFraction >= 0 && c.ByzantineFraction < 0.5) {
		return inputErr(ErrInvalidParameter, "byzantine_fraction", "byzantine_fraction=%v must be in [0, 0.5)", c.ByzantineFraction)
	}
	if !(c.SampleFraction > 0 && c.SampleFraction <= 1) {
		return inputErr(ErrInvalidParameter, "sample_fraction", "sample_fraction=%v must be in (0, 1]", c.SampleFraction)
	}
	return nil
}

// Aggregator is a validated HierarchicalKrumAggregator. It holds no mutable state and
// is safe for concurrent use.
type Aggregator struct {
	cfg Config
}

// New validates cfg and returns an Aggregator.
func New(cfg Config) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Aggregator{cfg: cfg}, nil
}

// Config returns the aggregator's configuration.
func (a *Aggregator) Config() Config { return a.cfg }

// Aggregate is HierarchicalKrumAggregator.aggregate(gradients, rng). A nil rng means a
// fresh default_rng(42), as in the reference. The inputs are not modified; the result
// is a new slice of the common length.
func (a *Aggregator) Aggregate(gradients [][]float32, rng *nprand.Generator) ([]float32, error) {
	return a.AggregateContext(context.Background(), gradients, rng)
}

// AggregateContext is Aggregate that stops early, returning ctx.Err(), once ctx is done:
// it checks ctx before every row of every Krum distance matrix and ranking and every
// 64 coordinates of the median, so a cancelled aggregation frees its goroutine within
// one row's work.
func (a *Aggregator) AggregateContext(ctx context.Context, gradients [][]float32, rng *nprand.Generator) ([]float32, error) {
	if err := checkGradients(gradients); err != nil {
		return nil, err
	}
	if rng == nil {
		rng = nprand.New(DefaultSeed)
	}
	return aggregateCtx(ctx, gradients, a.cfg, rng)
}

// Aggregate is HierarchicalKrumAggregator(numClusters, byzantineFraction, 0.1).aggregate
// with default_rng(42), i.e. what POST /federated/aggregate computes, in float32.
func Aggregate(gradients [][]float32, numClusters int, byzantineFraction float64) ([]float32, error) {
	return AggregateContext(context.Background(), gradients, numClusters, byzantineFraction)
}

// AggregateContext is Aggregate, cancellable as Aggregator.AggregateContext is.
func AggregateContext(ctx context.Context, gradients [][]float32, numClusters int, byzantineFraction float64) ([]float32, error) {
	agg, err := New(Config{NumClusters: numClusters, ByzantineFraction: byzantineFraction, SampleFraction: DefaultSampleFraction})
	if err != nil {
		return nil, err
	}
	return agg.AggregateContext(ctx, gradients, nil)
}

// Krum is krum_select(gradients, f): a copy of the gradient whose sum of distances to
// its max(1, n−f−2) nearest other gradients is smallest (lowest index on ties).
// Distances are Euclidean, not squared, as in the reference.
func Krum(gradients [][]float32, f int) ([]float32, error) {
	i, err := KrumIndex(gradients, f)
	if err != nil {
		return nil, err
	}
	return slices.Clone(gradients[i]), nil
}

// KrumIndex is Krum but returns the index of the selected gradient.
func KrumIndex(gradients [][]float32, f int) (int, error) {
	if f < 0 {
		return 0, inputErr(ErrInvalidParameter, "f", "f=%d must be >= 0", f)
	}
	if err := checkGradients(gradients); err != nil {
		return 0, err
	}
	return krumIndex(gradients, f, nil), nil
}

// checkGradients rejects what the reference would turn into an exception or garbage:
// no vectors, empty vectors, ragged vectors, NaN and ±Inf.
func checkGradients[T float32 | float64](gradients [][]T) error {
	if len(gradients) == 0 {
		return inputErr(ErrNoGradients, "gradients", "no gradients provided")
	}
	want := len(gradients[0])
	for i, g := range gradients {
		if len(g) == 0 {
			return inputErr(ErrEmptyGradient, fmt.Sprintf("gradients[%d]", i), "empty gradient vector")
		}
		if len(g) != want {
			return inputErr(ErrRaggedGradients, fmt.Sprintf("gradients[%d]", i),
				"has length %d, gradients[0] has length %d", len(g), want)
		}
		for j, v := range g {
			// v−v is NaN exactly for NaN and ±Inf: one cheap test per value.
			if v-v != 0 {
				return inputErr(ErrNonFinite, fmt.Sprintf("gradients[%d]", i), "value %d is %v", j, v)
			}
		}
	}
	return nil
}

// aggregate is the reference algorithm on checked input. It is generic so that the
// float64 worked examples of the specification can be tested exactly; the public API is
// float32 like the reference's tensors.
func aggregate[T float32 | float64](gradients [][]T, cfg Config, rng *nprand.Generator) []T {
	out, _ := aggregateCtx(context.Background(), gradients, cfg, rng) // never cancelled
	return out
}

// aggregateCtx is aggregate, stopping with ctx.Err() once ctx is done.
func aggregateCtx[T float32 | float64](ctx context.Context, gradients [][]T, cfg Config, rng *nprand.Generator) ([]T, error) {
	n := len(gradients)
	if n > SampleThreshold {
		size := int(float64(n) * cfg.SampleFraction)
		// [FIX] the reference can sample 0 clients and then crash; keep at least one.
		size = max(size, 1)
		idx := rng.Choice(n, size, false)
		sampled := make([][]T, len(idx))
		for k, i := range idx {
			sampled[k] = gradients[i]
		}
		gradients = sampled
		n = len(gradients)
	}

	c := min(cfg.NumClusters, n)
	assign := make([]int, n)
	for i := range assign {
		assign[i] = int(rng.Integers(0, int64(c)))
	}

	// Group members by cluster in list order (a counting sort keeps that order).
	start := make([]int, c+1)
	for _, a := range assign {
		start[a+1]++
	}
	for k := 1; k <= c; k++ {
		start[k] += start[k-1]
	}
	members := make([][]T, n)
	next := slices.Clone(start[:c])
	for i, a := range assign {
		members[next[a]] = gradients[i]
		next[a]++
	}

	var ws workspace
	reps := make([][]T, 0, c)
	for k := range c {
		group := members[start[k]:start[k+1]]
		if len(group) == 0 {
			continue
		}
		f := max(1, int(float64(len(group))*cfg.ByzantineFraction))
		i, err := krumIndexCtx(ctx, group, f, &ws)
		if err != nil {
			return nil, err
		}
		reps = append(reps, group[i])
	}
	if len(reps) == 0 {
		// Unreachable with n >= 1; the reference returns the first gradient here.
		return slices.Clone(gradients[0]), nil
	}

	fg := max(1, int(float64(len(reps))*cfg.ByzantineFraction))
	i, err := krumIndexCtx(ctx, reps, fg, &ws)
	if err != nil {
		return nil, err
	}
	krum := reps[i]
	med, err := lowerMedianCtx(ctx, reps)
	if err != nil {
		return nil, err
	}
	out := med // lowerMedian returns a fresh slice; reuse it
	for j := range out {
		// Two roundings per product and one for the sum, as torch does on tensors;
		// the conversions forbid fused multiply-add.
		out[j] = T(T(0.7)*krum[j]) + T(T(0.3)*med[j])
	}
	return out, nil
}

// workspace keeps the distance buffers between krum calls of one aggregation.
type workspace struct {
	dist []float64
	row  []float64
}

// krumIndex scores every gradient by the sum of its m = max(1, n−f−2) smallest
// distances to the other gradients and returns the lowest-scoring index (first on
// ties). Distances are computed directly in float64 from the widened values and the
// self-distance is excluded explicitly: torch's cdist switches to the
// ‖a‖²+‖b‖²−2a·b form above 25 rows, whose self-distance is rounding noise
// (numerical-core.md §13.2 [FIX-minor]).
func krumIndex[T float32 | float64](g [][]T, f int, ws *workspace) int {
	i, _ := krumIndexCtx(context.Background(), g, f, ws) // never cancelled
	return i
}

// krumIndexCtx is krumIndex, checking ctx before every row of the distance matrix and
// of the ranking: one row is at most n distances of the vectors' length.
func krumIndexCtx[T float32 | float64](ctx context.Context, g [][]T, f int, ws *workspace) (int, error) {
	n := len(g)
	if n == 1 {
		return 0, nil
	}
	if ws == nil {
		ws = &workspace{}
	}
	if cap(ws.dist) < n*n {
		ws.dist = make([]float64, n*n)
	}
	if cap(ws.row) < n {
		ws.row = make([]float64, n)
	}
	dist := ws.dist[:n*n]
	for i := range n {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for j := i + 1; j < n; j++ {
			d := euclid(g[i], g[j])
			dist[i*n+j] = d
			dist[j*n+i] = d
		}
	}
	m := max(1, n-f-2)
	m = min(m, n-1)
	best, bestScore := 0, math.Inf(1)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		row := ws.row[:0]
		for j := range n {
			if j != i {
				row = append(row, dist[i*n+j])
			}
		}
		var score float64
		if m == len(row) {
			// Every other distance counts; summing in ascending order like the
			// reference's sorted slice keeps the rounding comparable.
			slices.Sort(row)
		} else {
			partialSort(row, m)
		}
		for _, d := range row[:m] {
			score += d
		}
		if score < bestScore {
			best, bestScore = i, score
		}
	}
	return best, nil
}

// partialSort moves the m smallest values of x, ascending, to x[:m].
func partialSort(x []float64, m int) {
	if m*4 >= len(x) {
		slices.Sort(x)
		return
	}
	// Selection for small m: O(n·m) beats sorting the whole row.
	for k := range m {
		minIdx := k
		for j := k + 1; j < len(x); j++ {
			if x[j] < x[minIdx] {
				minIdx = j
			}
		}
		x[k], x[minIdx] = x[minIdx], x[k]
	}
}

// euclid uses four partial sums: the reference's own summation order (torch's
// vectorised kernels) is not reproducible anyway, and this halves the time on long
// vectors.
func euclid[T float32 | float64](a, b []T) float64 {
	var s0, s1, s2, s3 float64
	b = b[:len(a)]
	k := 0
	for ; k+4 <= len(a); k += 4 {
		d0 := float64(a[k]) - float64(b[k])
		d1 := float64(a[k+1]) - float64(b[k+1])
		d2 := float64(a[k+2]) - float64(b[k+2])
		d3 := float64(a[k+3]) - float64(b[k+3])
		s0 += float64(d0 * d0)
		s1 += float64(d1 * d1)
		s2 += float64(d2 * d2)
		s3 += float64(d3 * d3)
	}
	for ; k < len(a); k++ {
		d := float64(a[k]) - float64(b[k])
		s0 += float64(d * d)
	}
	return math.Sqrt((s0 + s1) + (s2 + s3))
}

// lowerMedian is torch.median(stack(vs), dim=0): per coordinate the middle value, the
// lower of the two middle values for an even count.
func lowerMedian[T float32 | float64](vs [][]T) []T {
	out, _ := lowerMedianCtx(context.Background(), vs) // never cancelled
	return out
}

// lowerMedianCtx is lowerMedian, checking ctx every 64 coordinates.
func lowerMedianCtx[T float32 | float64](ctx context.Context, vs [][]T) ([]T, error) {
	r := len(vs)
	out := make([]T, len(vs[0]))
	col := make([]T, r)
	mid := (r - 1) / 2
	for j := range out {
		if j%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for i, v := range vs {
			col[i] = v[j]
		}
		if r <= 32 {
			insertionSort(col)
		} else {
			slices.Sort(col)
		}
		out[j] = col[mid]
	}
	return out, nil
}

// insertionSort sorts the few representatives of one coordinate; inputs are checked
// finite, so no NaN ordering is needed, and for the typical handful of values it is
// several times faster than slices.Sort.
func insertionSort[T float32 | float64](x []T) {
	for i := 1; i < len(x); i++ {
		v := x[i]
		j := i
		for ; j > 0 && x[j-1] > v; j-- {
			x[j] = x[j-1]
		}
		x[j] = v
	}
}
