package validation

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// NN-05: 160 + 4224 + 1056 + 528 + 17 parameters for the defaults.
func TestParamCount(t *testing.T) {
	n := newNetwork(4, 32, 4, nprand.New(1))
	require.Equal(t, 5985, n.numParams())
}

// Init follows torch's nn.Linear default: every value within ±1/√fan_in.
func TestInitBounds(t *testing.T) {
	n := newNetwork(4, 32, 4, nprand.New(1))
	for _, l := range n.layers() {
		bound := float32(1 / math.Sqrt(float64(l.in)))
		for _, p := range n.params[l.w : l.b+l.out] {
			require.LessOrEqual(t, p, bound)
			require.GreaterOrEqual(t, p, -bound)
		}
	}
}

func randInputs(rng *nprand.Generator, rows, cols int, scale float64) []float32 {
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(rng.Normal(0, scale))
	}
	return x
}

// The hand-written backward pass matches central finite differences of the loss,
// computed in float64 on a float64 copy of the forward pass.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	rng := nprand.New(9)
	const batch = 5
	n := newNetwork(4, 32, batch, rng)
	x := randInputs(rng, batch, 4, 1)
	y := randInputs(rng, batch, 1, 1)
	n.lossAndGrad(x, y)
	grads := append([]float32(nil), n.grads...)

	params := make([]float64, len(n.params))
	for i, p := range n.params {
		params[i] = float64(p)
	}
	checked := 0
	for i := 0; i < len(params); i += 7 {
		const h = 1e-5
		orig := params[i]
		params[i] = orig + h
		lp := lossF64(n, params, x, y)
		params[i] = orig - h
		lm := lossF64(n, params, x, y)
		params[i] = orig
		num := (lp - lm) / (2 * h)
		require.InDelta(t, num, float64(grads[i]), 1e-4+1e-3*math.Abs(num), "param %d", i)
		checked++
	}
	require.Greater(t, checked, 800)
	// q_proj and k_proj never influence the output: exactly zero gradients (NN-04).
	for _, l := range []linear{n.q, n.k} {
		for _, g := range grads[l.w : l.b+l.out] {
			require.Zero(t, g)
		}
	}
}

// lossF64 is the network's forward pass and MSE in float64 with the given parameters.
func lossF64(n *network, params []float64, x, y []float32) float64 {
	lin := func(l linear, in []float64, relu bool) []float64 {
		out := make([]float64, l.out)
		for j := range l.out {
			s := params[l.b+j]
			for i := range l.in {
				s += params[l.w+j*l.in+i] * in[i]
			}
			if relu && s < 0 {
				s = 0
			}
			out[j] = s
		}
		return out
	}
	var loss float64
	for b := range y {
		in := make([]float64, 4)
		for i := range in {
			in[i] = float64(x[b*4+i])
		}
		h := lin(n.inProj, in, false)
		h = lin(n.v, h, false)
		h = lin(n.outProj, h, false)
		h = lin(n.fc1, h, true)
		h = lin(n.fc2, h, true)
		out := lin(n.fc3, h, false)
		d := out[0] - float64(y[b])
		loss += d * d
	}
	return loss / float64(len(y))
}

func trainFullBatch(n *network, x, y []float32, lr float64, steps int) (first, last float32) {
	opt := newAdam(n.numParams(), lr)
	for s := range steps {
		l := n.trainStep(x, y, opt)
		if s == 0 {
			first = l
		}
		last = l
	}
	return first, last
}

// NN-07: XOR with Adam lr 0.01, 500 full-batch steps.
func TestXORConverges(t *testing.T) {
	x := []float32{0, 0, 0, 1, 1, 0, 1, 1}
	y := []float32{0, 1, 1, 0}
	for seed := range uint64(3) {
		n := newNetwork(2, 32, 4, nprand.New(seed))
		first, last := trainFullBatch(n, x, y, 0.01, 500)
		require.Less(t, last, float32(0.3), "seed %d", seed)
		require.Less(t, last, first/2, "seed %d", seed)
	}
}

// NN-07: linear target y = 2x1 + 3x2 + 1, 100 samples, 200 steps, lr 0.01.
func TestLinearTargetConverges(t *testing.T) {
	rng := nprand.New(4)
	x := randInputs(rng, 100, 2, 1)
	y := make([]float32, 100)
	for i := range y {
		y[i] = 2*x[2*i] + 3*x[2*i+1] + 1
	}
	n := newNetwork(2, 32, 100, nprand.New(0))
	_, last := trainFullBatch(n, x, y, 0.01, 200)
	require.Less(t, last, float32(1.0))
}

// NN-06: same seed → identical parameters after training; different seeds differ.
func TestTrainingDeterministic(t *testing.T) {
	rng := nprand.New(8)
	x := randInputs(rng, 16, 4, 1)
	y := randInputs(rng, 16, 1, 1)
	run := func(seed uint64) []float32 {
		n := newNetwork(4, 32, 16, nprand.New(seed))
		trainFullBatch(n, x, y, 1e-3, 10)
		return n.params
	}
	require.Equal(t, run(1), run(1))
	require.NotEqual(t, run(1), run(2))
}

// NN-08: extreme and varied inputs give finite outputs for batch sizes 1–128.
func TestForwardFinite(t *testing.T) {
	for _, batch := range []int{1, 4, 16, 64, 128} {
		n := newNetwork(4, 32, batch, nprand.New(uint64(batch)))
		for _, v := range []float32{100, -100, 1e-6, 0} {
			x := make([]float32, batch*4)
			for i := range x {
				x[i] = v
			}
			for _, out := range n.forward(x, batch) {
				require.False(t, math.IsNaN(float64(out)) || math.IsInf(float64(out), 0))
			}
		}
	}
}

// Adam leaves parameters with zero gradient untouched, so q/k stay at their init.
func TestAdamZeroGradientKeepsParams(t *testing.T) {
	opt := newAdam(3, 1e-3)
	p := []float32{0.5, -0.25, 0}
	for range 5 {
		opt.step(p, []float32{0, 0, 0})
	}
	require.Equal(t, []float32{0.5, -0.25, 0}, p)
	// One step with a gradient moves each parameter by ≈ lr against its sign.
	opt = newAdam(2, 1e-3)
	p = []float32{1, 1}
	opt.step(p, []float32{3, -0.01})
	require.InDelta(t, 1-1e-3, float64(p[0]), 1e-6)
	require.InDelta(t, 1+1e-3, float64(p[1]), 1e-6)
}

// BenchmarkTrainStep measures one step from a fresh optimiser on a fresh network: a
// long run on one batch drives the gradients into denormals, which a 4-step
// validation run never sees.
func BenchmarkTrainStep(b *testing.B) {
	rng := nprand.New(1)
	x := randInputs(rng, 4, 4, 1)
	y := randInputs(rng, 4, 1, 1)
	n := newNetwork(4, 32, 4, nprand.New(2))
	init := append([]float32(nil), n.params...)
	opt := newAdam(n.numParams(), 1e-3)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%16 == 0 {
			copy(n.params, init)
			clear(opt.m)
			clear(opt.v)
			opt.t = 0
		}
		n.trainStep(x, y, opt)
	}
}
