package federated

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// exampleA is numerical-core.md §13.4 A.
var exampleA = [][]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {10, 10}, {0.5, 0.4}}

// exampleB is §13.4 B: g_i = (i, i² mod 7).
func exampleB() [][]float64 {
	g := make([][]float64, 10)
	for i := range g {
		g[i] = []float64{float64(i), float64(i * i % 7)}
	}
	return g
}

func to32(g [][]float64) [][]float32 {
	out := make([][]float32, len(g))
	for i, v := range g {
		out[i] = make([]float32, len(v))
		for j, x := range v {
			out[i][j] = float32(x)
		}
	}
	return out
}

func TestKrumWorkedExampleA(t *testing.T) {
	tests := []struct {
		f    int
		want []float32
	}{
		{f: 1, want: []float32{0.5, 0.4}}, // m = 3
		{f: 0, want: []float32{0.5, 0.4}}, // m = 4
		{f: 3, want: []float32{0, 0}},     // m = 1: tie between (0,0) and (1,0), lowest index wins
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("f=%d", tt.f), func(t *testing.T) {
			got, err := Krum(to32(exampleA), tt.f)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.want, to32([][]float64{exampleA[krumIndex(exampleA, tt.f, nil)]})[0])
		})
	}
}

func TestKrumReturnsCopy(t *testing.T) {
	g := [][]float32{{1, 2}, {1, 2.5}, {9, 9}}
	got, err := Krum(g, 0)
	require.NoError(t, err)
	got[0] = 100
	require.Equal(t, float32(1), g[0][0], "Krum must not alias its input")
}

func TestKrumSingleGradient(t *testing.T) {
	got, err := Krum([][]float32{{1, 2, 3}}, 1)
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3}, got)
}

// The float64 instantiation reproduces the reference's float64 goldens exactly (K-10).
func TestAggregateWorkedExamplesFloat64(t *testing.T) {
	tests := []struct {
		name        string
		g           [][]float64
		numClusters int
		want        []float64
	}{
		{name: "A one cluster", g: exampleA, numClusters: 1, want: []float64{0.5, 0.39999999999999997}},
		{name: "B three clusters", g: exampleB(), numClusters: 3, want: []float64{3.5999999999999996, 2.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{NumClusters: tt.numClusters, ByzantineFraction: 0.2, SampleFraction: 0.1}
			got := aggregate(tt.g, cfg, nprand.New(42))
			require.Equal(t, tt.want, got)
		})
	}
}

// The public float32 path gives the float32 roundings of the same combinations:
// 0.7·3 + 0.3·5 in float32 is float32(3.6), and 0.7·0.4f + 0.3·0.4f is 0.4f again.
func TestAggregateWorkedExamplesFloat32(t *testing.T) {
	got, err := Aggregate(to32(exampleA), 1, 0.2)
	require.NoError(t, err)
	require.Equal(t, []float32{0.5, 0.4}, got)

	got, err = Aggregate(to32(exampleB()), 3, 0.2)
	require.NoError(t, err)
	require.Equal(t, []float32{3.6, 2}, got)
	require.InDelta(t, 3.6, float64(got[0]), 1e-6)
}

// §13.4 B spells out the intermediate picks; check each level separately.
func TestExampleBClusters(t *testing.T) {
	g := exampleB()
	cluster0 := [][]float64{g[0], g[6], g[8], g[9]}
	cluster1 := [][]float64{g[2], g[3], g[4]}
	cluster2 := [][]float64{g[1], g[5], g[7]}
	require.Equal(t, []float64{6, 1}, cluster0[krumIndex(cluster0, 1, nil)])
	require.Equal(t, []float64{3, 2}, cluster1[krumIndex(cluster1, 1, nil)])
	require.Equal(t, []float64{5, 4}, cluster2[krumIndex(cluster2, 1, nil)])
	reps := [][]float64{{6, 1}, {3, 2}, {5, 4}}
	require.Equal(t, []float64{3, 2}, reps[krumIndex(reps, 1, nil)])
	require.Equal(t, []float64{5, 2}, lowerMedian(reps))
}

// §13.4 C: torch's median takes the lower middle value for an even count.
func TestLowerMedian(t *testing.T) {
	tests := []struct {
		name string
		vs   [][]float32
		want []float32
	}{
		{name: "even count", vs: [][]float32{{1, 5}, {2, 6}, {3, 7}, {4, 8}}, want: []float32{2, 6}},
		{name: "even unsorted", vs: [][]float32{{4, 8}, {1, 7}, {3, 5}, {2, 6}}, want: []float32{2, 6}},
		{name: "odd count", vs: [][]float32{{3}, {1}, {2}}, want: []float32{2}},
		{name: "two", vs: [][]float32{{9, -1}, {1, 3}}, want: []float32{1, -1}},
		{name: "one", vs: [][]float32{{7, 8}}, want: []float32{7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, lowerMedian(tt.vs))
		})
	}
}

func normals(rng *nprand.Generator, n int, loc, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.Normal(loc, scale))
	}
	return v
}

func fill(n int, x float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = x
	}
	return v
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func dist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// K-05: eight honest 1 + 0.1·N(0,1) gradients and two −10·1 attackers.
func TestByzantineRobustness(t *testing.T) {
	rng := nprand.New(7)
	var g [][]float32
	for range 8 {
		g = append(g, normals(rng, 10, 1, 0.1))
	}
	g = append(g, fill(10, -10), fill(10, -10))
	agg, err := New(Config{NumClusters: 3, ByzantineFraction: 0.2, SampleFraction: 0.1})
	require.NoError(t, err)
	got, err := agg.Aggregate(g, nprand.New(42))
	require.NoError(t, err)
	var mean float64
	for _, x := range got {
		mean += float64(x)
	}
	require.Greater(t, mean/float64(len(got)), 0.0)
}

// K-06: five zero vectors and one 100·1 vector in a single cluster.
func TestSingleOutlierIgnored(t *testing.T) {
	g := [][]float32{fill(5, 0), fill(5, 0), fill(5, 0), fill(5, 0), fill(5, 0), fill(5, 100)}
	got, err := Aggregate(g, 1, 0.2)
	require.NoError(t, err)
	require.Less(t, norm(got), 50.0)
	require.Equal(t, fill(5, 0), got)
}

// K-03: Krum picks a gradient nearer the honest mean than the outlier.
func TestKrumRejectsOutlier(t *testing.T) {
	rng := nprand.New(3)
	var g [][]float32
	honestMean := make([]float32, 10)
	for range 5 {
		v := normals(rng, 10, 0, 1)
		for i := range v {
			honestMean[i] += v[i] / 5
		}
		g = append(g, v)
	}
	outlier := normals(rng, 10, 0, 100)
	g = append(g, outlier)
	got, err := Krum(g, 1)
	require.NoError(t, err)
	require.Len(t, got, 10)
	require.Less(t, dist(got, honestMean), dist(got, outlier))
}

// K-07, K-09: same input → same output; large values stay finite.
func TestDeterministicAndFinite(t *testing.T) {
	rng := nprand.New(11)
	g := make([][]float32, 10)
	big := make([][]float32, 10)
	for i := range g {
		g[i] = normals(rng, 5, 0, 1)
		big[i] = make([]float32, 5)
		for j := range big[i] {
			big[i][j] = g[i][j] * 1e6
		}
	}
	a, err := Aggregate(g, 2, 0.2)
	require.NoError(t, err)
	b, err := Aggregate(g, 2, 0.2)
	require.NoError(t, err)
	require.Equal(t, a, b)
	c, err := Aggregate(big, 2, 0.2)
	require.NoError(t, err)
	require.Len(t, c, 5)
	for _, x := range c {
		require.False(t, math.IsNaN(float64(x)) || math.IsInf(float64(x), 0))
	}
}

// Above 1000 clients the reference aggregates a Choice sample taken first from the
// same generator; aggregating that sample by hand must give the same result.
func TestSamplingAboveThreshold(t *testing.T) {
	const n, dim = 1500, 4
	rng := nprand.New(5)
	g := make([][]float32, n)
	for i := range g {
		g[i] = normals(rng, dim, 0, 1)
	}
	got, err := Aggregate(g, 10, 0.2)
	require.NoError(t, err)

	ref := nprand.New(42)
	idx := ref.Choice(n, n/10, false)
	sample := make([][]float32, len(idx))
	for k, i := range idx {
		sample[k] = g[i]
	}
	cfg := Config{NumClusters: 10, ByzantineFraction: 0.2, SampleFraction: 0.1}
	require.Equal(t, aggregate(sample, cfg, ref), got)

	// Exactly 1000 clients are not sampled.
	full, err := New(cfg)
	require.NoError(t, err)
	r1, err := full.Aggregate(g[:1000], nprand.New(42))
	require.NoError(t, err)
	require.Equal(t, aggregate(g[:1000], cfg, nprand.New(42)), r1)
}

// [FIX] a sample fraction that truncates to zero clients still aggregates one.
func TestTinySampleKeepsOneClient(t *testing.T) {
	g := make([][]float32, 1001)
	for i := range g {
		g[i] = []float32{float32(i), 1}
	}
	agg, err := New(Config{NumClusters: 10, ByzantineFraction: 0.2, SampleFraction: 0.0005})
	require.NoError(t, err)
	got, err := agg.Aggregate(g, nil)
	require.NoError(t, err)
	pick := nprand.New(42).Choice(1001, 1, false)[0]
	want := float32(float32(0.7)*g[pick][0]) + float32(float32(0.3)*g[pick][0])
	require.Equal(t, []float32{want, 1}, got)
}

func TestInputErrors(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(-1))
	tests := []struct {
		name        string
		g           [][]float32
		numClusters int
		byzantine   float64
		wantErr     error
		field       string
		errContains string
	}{
		{name: "nil", g: nil, numClusters: 2, byzantine: 0.2, wantErr: ErrNoGradients, field: "gradients", errContains: "no gradients provided"},
		{name: "empty", g: [][]float32{}, numClusters: 2, byzantine: 0.2, wantErr: ErrNoGradients, field: "gradients", errContains: "no gradients provided"},
		{name: "empty inner", g: [][]float32{{1}, {}}, numClusters: 2, byzantine: 0.2, wantErr: ErrEmptyGradient, field: "gradients[1]", errContains: "empty"},
		{name: "empty first", g: [][]float32{{}, {}}, numClusters: 2, byzantine: 0.2, wantErr: ErrEmptyGradient, field: "gradients[0]", errContains: "empty"},
		{name: "ragged", g: [][]float32{{1, 2, 3}, {1, 2, 3}, {1, 2}}, numClusters: 2, byzantine: 0.2, wantErr: ErrRaggedGradients, field: "gradients[2]", errContains: "gradients[2]: has length 2, gradients[0] has length 3"},
		{name: "nan", g: [][]float32{{1, 2}, {nan, 2}}, numClusters: 2, byzantine: 0.2, wantErr: ErrNonFinite, field: "gradients[1]", errContains: "NaN"},
		{name: "inf", g: [][]float32{{1, inf}, {1, 2}}, numClusters: 2, byzantine: 0.2, wantErr: ErrNonFinite, field: "gradients[0]", errContains: "Inf"},
		{name: "byzantine 0.5", g: [][]float32{{1}}, numClusters: 2, byzantine: 0.5, wantErr: ErrInvalidParameter, field: "byzantine_fraction", errContains: "byzantine_fraction=0.5 must be in [0, 0.5)"},
		{name: "byzantine negative", g: [][]float32{{1}}, numClusters: 2, byzantine: -0.1, wantErr: ErrInvalidParameter, field: "byzantine_fraction", errContains: "[0, 0.5)"},
		{name: "byzantine NaN", g: [][]float32{{1}}, numClusters: 2, byzantine: math.NaN(), wantErr: ErrInvalidParameter, field: "byzantine_fraction"},
		{name: "clusters 0", g: [][]float32{{1}}, numClusters: 0, byzantine: 0.2, wantErr: ErrInvalidParameter, field: "num_clusters", errContains: "num_clusters=0 must be >= 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Aggregate(tt.g, tt.numClusters, tt.byzantine)
			require.Nil(t, got)
			require.ErrorIs(t, err, tt.wantErr)
			var ie *InputError
			require.True(t, errors.As(err, &ie))
			require.Equal(t, tt.field, ie.Field)
			require.Contains(t, err.Error(), tt.errContains)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		field   string
	}{
		{name: "default", cfg: DefaultConfig()},
		{name: "byzantine 0", cfg: Config{NumClusters: 1, ByzantineFraction: 0, SampleFraction: 1}},
		{name: "sample 0", cfg: Config{NumClusters: 1, ByzantineFraction: 0.2, SampleFraction: 0}, wantErr: true, field: "sample_fraction"},
		{name: "sample 1.5", cfg: Config{NumClusters: 1, ByzantineFraction: 0.2, SampleFraction: 1.5}, wantErr: true, field: "sample_fraction"},
		{name: "clusters -1", cfg: Config{NumClusters: -1, ByzantineFraction: 0.2, SampleFraction: 0.1}, wantErr: true, field: "num_clusters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if !tt.wantErr {
				require.NoError(t, err)
				require.Equal(t, tt.cfg, a.Config())
				return
			}
			require.ErrorIs(t, err, ErrInvalidParameter)
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tt.field, ie.Field)
		})
	}
	require.Equal(t, Config{NumClusters: 100, ByzantineFraction: 0.2, SampleFraction: 0.1}, DefaultConfig())
}

func TestKrumErrors(t *testing.T) {
	_, err := Krum(nil, 1)
	require.ErrorIs(t, err, ErrNoGradients)
	_, err = Krum([][]float32{{1}}, -1)
	require.ErrorIs(t, err, ErrInvalidParameter)
	_, err = KrumIndex([][]float32{{1}, {1, 2}}, 0)
	require.ErrorIs(t, err, ErrRaggedGradients)
}

// Inputs are never modified.
func TestAggregateDoesNotModifyInput(t *testing.T) {
	g := to32(exampleB())
	before := to32(exampleB())
	_, err := Aggregate(g, 3, 0.2)
	require.NoError(t, err)
	require.Equal(t, before, g)
}

func benchGradients(n, dim int) [][]float32 {
	rng := nprand.New(1)
	g := make([][]float32, n)
	for i := range g {
		g[i] = normals(rng, dim, 0, 1)
	}
	return g
}

func BenchmarkAggregate100x1000(b *testing.B) {
	g := benchGradients(100, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Aggregate(g, 20, 0.2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAggregate2000x100(b *testing.B) {
	g := benchGradients(2000, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Aggregate(g, 10, 0.2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAggregate20x100000(b *testing.B) {
	g := benchGradients(20, 100000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Aggregate(g, 5, 0.2); err != nil {
			b.Fatal(err)
		}
	}
}
