package validation

import (
	"math"

	"mfn/nprand"
)

// linear is one nn.Linear(in → out): weight [out][in] row-major at params[w:],
// bias at params[b:].
type linear struct {
	in, out int
	w, b    int // offsets into network.params / network.grads
}

// network is MyceliumFractalNet(input_dim, hidden, use_sparse_attention=true) in
// float32, for 2-D input (batch, features).
//
// The reference treats 2-D input as a sequence of length 1, so sparse top-k attention
// keeps the only score with weight exactly 1 and reduces to out_proj(v_proj(h)); the
// mean over the sequence axis is the identity. q_proj and k_proj exist (they hold
// parameters, take initialisation draws, and count in the 5985 parameters) but never
// influence the output, so their gradients are exactly zero and Adam leaves them
// unchanged, as in torch. STDP has no parameters and is never applied by the reference.
//
// All parameters live in one slice (with gradients alongside) so that Adam runs over
// contiguous memory, and every activation buffer is allocated once for the largest
// batch: a training step allocates nothing.
type network struct {
	params, grads []float32

	inProj, q, k, v, outProj linear
	fc1, fc2, fc3            linear

	maxBatch int
	// Activations per batch row: h1 = inProj(x), hv = v(h1), ho = outProj(hv),
	// z1 = fc1(ho), r1 = relu(z1), z2 = fc2(r1), r2 = relu(z2), y = fc3(r2).
	h1, hv, ho, z1, z2, y []float32
	// Gradients of the activations (reused across layers of equal width).
	dy, dr2, dr1, dho, dhv, dh1 []float32
}

// newNetwork creates the layers in torch's creation order (input_proj, q, k, v, out,
// net[0], net[2], net[4]; each weight then bias) and initialises them like torch's
// nn.Linear default (kaiming-uniform with a = √5, i.e. U(±1/√fan_in) for weight and
// bias), drawn from rng in that order.
func newNetwork(inDim, hidden, maxBatch int, rng *nprand.Generator) *network {
	n := &network{maxBatch: maxBatch}
	size := 0
	add := func(in, out int) linear {
		l := linear{in: in, out: out, w: size, b: size + in*out}
		size += in*out + out
		return l
	}
	n.inProj = add(inDim, hidden)
	n.q = add(hidden, hidden)
	n.k = add(hidden, hidden)
	n.v = add(hidden, hidden)
	n.outProj = add(hidden, hidden)
	n.fc1 = add(hidden, hidden)
	n.fc2 = add(hidden, hidden/2)
	n.fc3 = add(hidden/2, 1)
	n.params = make([]float32, size)
	n.grads = make([]float32, size)
	for _, l := range n.layers() {
		bound := 1 / math.Sqrt(float64(l.in))
		for i := range l.in * l.out {
			n.params[l.w+i] = float32(rng.Uniform(-bound, bound))
		}
		for i := range l.out {
			n.params[l.b+i] = float32(rng.Uniform(-bound, bound))
		}
	}
	h := hidden
	n.h1 = make([]float32, maxBatch*h)
	n.hv = make([]float32, maxBatch*h)
	n.ho = make([]float32, maxBatch*h)
	n.z1 = make([]float32, maxBatch*h)
	n.z2 = make([]float32, maxBatch*h/2)
	n.y = make([]float32, maxBatch)
	n.dy = make([]float32, maxBatch)
	n.dr2 = make([]float32, maxBatch*h/2)
	n.dr1 = make([]float32, maxBatch*h)
	n.dho = make([]float32, maxBatch*h)
	n.dhv = make([]float32, maxBatch*h)
	n.dh1 = make([]float32, maxBatch*h)
	return n
}

func (n *network) layers() []linear {
	return []linear{n.inProj, n.q, n.k, n.v, n.outProj, n.fc1, n.fc2, n.fc3}
}

// numParams is the parameter count (5985 for input 4, hidden 32).
func (n *network) numParams() int { return len(n.params) }

// forwardLinear computes out[b] = W·in[b] + bias for rows b < batch, optionally ReLU'd
// into relu (which may be nil). Products are rounded before accumulation (explicit
// float32 conversions forbid fused multiply-add) so results do not depend on the CPU.
func (n *network) forwardLinear(l linear, in, out []float32, batch int) {
	w := n.params[l.w : l.w+l.in*l.out]
	bias := n.params[l.b : l.b+l.out]
	for b := range batch {
		x := in[b*l.in : (b+1)*l.in]
		o := out[b*l.out : (b+1)*l.out]
		for j := range l.out {
			row := w[j*l.in : (j+1)*l.in]
			var s float32
			for i, xi := range x {
				s += float32(row[i] * xi)
			}
			o[j] = s + bias[j]
		}
	}
}

// backwardLinear accumulates dW += doutᵀ·in and db += Σ dout and, when din is not nil,
// sets din = dout·W.
func (n *network) backwardLinear(l linear, in, dout, din []float32, batch int) {
	w := n.params[l.w : l.w+l.in*l.out]
	gw := n.grads[l.w : l.w+l.in*l.out]
	gb := n.grads[l.b : l.b+l.out]
	for b := range batch {
		x := in[b*l.in : (b+1)*l.in]
		d := dout[b*l.out : (b+1)*l.out]
		for j, dj := range d {
			gb[j] += dj
			row := gw[j*l.in : (j+1)*l.in]
			for i, xi := range x {
				row[i] += float32(dj * xi)
			}
		}
	}
	if din == nil {
		return
	}
	for b := range batch {
		d := dout[b*l.out : (b+1)*l.out]
		o := din[b*l.in : (b+1)*l.in]
		clear(o)
		for j, dj := range d {
			row := w[j*l.in : (j+1)*l.in]
			for i := range o {
				o[i] += float32(dj * row[i])
			}
		}
	}
}

func relu(x []float32) {
	for i, v := range x {
		if v < 0 {
			x[i] = 0
		}
	}
}

// forward fills the activations for batch rows of x ([batch][in] row-major) and
// returns the outputs (valid until the next call). The ReLUs are applied in place
// on z1, z2: their backward needs only the sign, which ReLU keeps.
func (n *network) forward(x []float32, batch int) []float32 {
	n.forwardLinear(n.inProj, x, n.h1, batch)
	n.forwardLinear(n.v, n.h1, n.hv, batch)
	n.forwardLinear(n.outProj, n.hv, n.ho, batch)
	n.forwardLinear(n.fc1, n.ho, n.z1, batch)
	relu(n.z1[:batch*n.fc1.out])
	n.forwardLinear(n.fc2, n.z1, n.z2, batch)
	relu(n.z2[:batch*n.fc2.out])
	n.forwardLinear(n.fc3, n.z2, n.y, batch)
	return n.y[:batch]
}

// mse is the mean of the squared errors, accumulated in float32 like torch's
// float32 mean.
func mse(y, t []float32) float32 {
	var s float32
	for i := range y {
		d := y[i] - t[i]
		s += float32(d * d)
	}
	return s / float32(len(y))
}

// trainStep is MyceliumFractalNet.train_step: zero the gradients, forward, MSE,
// backward, one Adam step; it returns the pre-update loss. x is [batch][in]
// row-major, t the batch's targets; batch ≤ maxBatch.
func (n *network) trainStep(x, t []float32, opt *adam) float32 {
	loss := n.lossAndGrad(x, t)
	opt.step(n.params, n.grads)
	return loss
}

// lossAndGrad runs forward and backward: it returns the MSE and leaves its gradient
// with respect to every parameter in n.grads.
func (n *network) lossAndGrad(x, t []float32) float32 {
	batch := len(t)
	y := n.forward(x, batch)
	loss := mse(y, t)

	clear(n.grads)
	// d mean((y−t)²)/dy = 2(y−t)/B.
	scale := float32(2) / float32(batch)
	for i := range batch {
		n.dy[i] = float32(y[i]-t[i]) * scale
	}
	n.backwardLinear(n.fc3, n.z2, n.dy, n.dr2, batch)
	maskReLU(n.dr2[:batch*n.fc2.out], n.z2)
	n.backwardLinear(n.fc2, n.z1, n.dr2, n.dr1, batch)
	maskReLU(n.dr1[:batch*n.fc1.out], n.z1)
	n.backwardLinear(n.fc1, n.ho, n.dr1, n.dho, batch)
	n.backwardLinear(n.outProj, n.hv, n.dho, n.dhv, batch)
	n.backwardLinear(n.v, n.h1, n.dhv, n.dh1, batch)
	n.backwardLinear(n.inProj, x, n.dh1, nil, batch)
	// q_proj and k_proj: zero gradients (already cleared).
	return loss
}

// maskReLU zeroes gradients where the ReLU output was zero (torch's threshold_backward
// passes the gradient only where the input was > 0).
func maskReLU(d, r []float32) {
	for i := range d {
		if r[i] <= 0 {
			d[i] = 0
		}
	}
}

// adam is torch.optim.Adam (single-tensor path) with β1 0.9, β2 0.999, ε 1e-8, no
// weight decay, no amsgrad: moments in float32, bias corrections in float64 as the
// Python scalars are.
type adam struct {
	lr, beta1, beta2, eps float64
	t                     int
	m, v                  []float32
}

func newAdam(n int, lr float64) *adam {
	return &adam{lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, m: make([]float32, n), v: make([]float32, n)}
}

func (a *adam) step(params, grads []float32) {
	a.t++
	bc1 := 1 - math.Pow(a.beta1, float64(a.t))
	bc2 := 1 - math.Pow(a.beta2, float64(a.t))
	stepSize := float32(a.lr / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	b1, omb1 := float32(a.beta1), float32(1-a.beta1)
	b2, omb2 := float32(a.beta2), float32(1-a.beta2)
	eps := float32(a.eps)
	m, v := a.m[:len(params)], a.v[:len(params)]
	grads = grads[:len(params)]
	for i, g := range grads {
		mi := float32(m[i]*b1) + float32(omb1*g)
		vi := float32(v[i]*b2) + float32(omb2*float32(g*g))
		m[i], v[i] = mi, vi
		denom := float32(float32(math.Sqrt(float64(vi)))/bc2Sqrt) + eps
		params[i] -= float32(stepSize * float32(mi/denom))
	}
}
