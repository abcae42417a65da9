package validation

import (
	"math"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// proj is one float64 Linear(E → E): w row-major [out][in].
type proj struct{ w, b []float64 }

func (p proj) apply(x []float64) []float64 {
	e := len(p.b)
	out := make([]float64, e)
	for j := range e {
		s := p.b[j]
		for i, xi := range x {
			s += p.w[j*len(x)+i] * xi
		}
		out[j] = s
	}
	return out
}

// sparseAttention is the reference SparseAttention forward (numerical-core.md §11) for
// one sequence x[S][E] in float64: scaled scores, top-k per query row (lowest index on
// ties), softmax over the kept scores, attn·V, out_proj. The network only ever sees
// S = 1; this general form checks that reduction.
func sparseAttention(x [][]float64, q, k, v, out proj, topk int) [][]float64 {
	s := len(x)
	e := len(x[0])
	qs, ks, vs := make([][]float64, s), make([][]float64, s), make([][]float64, s)
	for i, xi := range x {
		qs[i], ks[i], vs[i] = q.apply(xi), k.apply(xi), v.apply(xi)
	}
	kk := min(topk, s)
	res := make([][]float64, s)
	for i := range s {
		scores := make([]float64, s)
		for j := range s {
			var d float64
			for c := range e {
				d += qs[i][c] * ks[j][c]
			}
			scores[j] = d / math.Sqrt(float64(e))
		}
		idx := make([]int, s)
		for j := range idx {
			idx[j] = j
		}
		sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
		kept := idx[:kk]
		mx := math.Inf(-1)
		for _, j := range kept {
			mx = max(mx, scores[j])
		}
		w := make([]float64, s)
		var z float64
		for _, j := range kept {
			w[j] = math.Exp(scores[j] - mx)
			z += w[j]
		}
		o := make([]float64, e)
		for j := range s {
			w[j] /= z
			for c := range e {
				o[c] += w[j] * vs[j][c]
			}
		}
		res[i] = out.apply(o)
	}
	return res
}

func identityProj(e int) proj {
	p := proj{w: make([]float64, e*e), b: make([]float64, e)}
	for i := range e {
		p.w[i*e+i] = 1
	}
	return p
}

// the §11 worked example (E = 2, identity projections, x = [[1,0],[0,2],[1,1]]).
func TestSparseAttentionWorkedExample(t *testing.T) {
	x := [][]float64{{1, 0}, {0, 2}, {1, 1}}
	id := identityProj(2)
	tests := []struct {
		topk int
		want [][]float64
	}{
		{topk: 2, want: [][]float64{{1.0, 0.5}, {0.19557031749304313, 1.804429682506957}, {0.5, 1.5}}},
		{topk: 1, want: [][]float64{{1, 0}, {0, 2}, {0, 2}}},
		{topk: 5, want: [][]float64{{0.8022241853595719, 0.7966637219606423}, {0.2320820638612975, 1.722529573224908}, {0.5988879073202141, 1.2033362780393577}}},
	}
	for _, tt := range tests {
		got := sparseAttention(x, id, id, id, id, tt.topk)
		for i := range tt.want {
			for c := range tt.want[i] {
				require.InDelta(t, tt.want[i][c], got[i][c], 1e-12, "topk %d row %d", tt.topk, i)
			}
		}
	}
}

// With sequence length 1 the attention block is out_proj(v_proj(h)) whatever q_proj
// and k_proj hold: the network's shortcut is exact.
func TestAttentionSequenceLengthOne(t *testing.T) {
	n := newNetwork(4, 32, 1, nprand.New(5))
	toProj := func(l linear) proj {
		p := proj{w: make([]float64, l.in*l.out), b: make([]float64, l.out)}
		for i := range p.w {
			p.w[i] = float64(n.params[l.w+i])
		}
		for i := range p.b {
			p.b[i] = float64(n.params[l.b+i])
		}
		return p
	}
	rng := nprand.New(6)
	h := make([]float64, 32)
	for i := range h {
		h[i] = rng.Normal(0, 1)
	}
	got := sparseAttention([][]float64{h}, toProj(n.q), toProj(n.k), toProj(n.v), toProj(n.outProj), 4)[0]
	want := toProj(n.outProj).apply(toProj(n.v).apply(h))
	require.Equal(t, want, got)
}
