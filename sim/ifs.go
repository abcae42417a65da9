package sim

import (
	"math"

	"mfn/nprand"
)

// IFS is generate_fractal_ifs(rng, numPoints, numTransforms): the points and the Lyapunov exponent.
//
// Each transform draws scale U(0.2, 0.5), angle U(0, 2π), e, f U(−1, 1) (in that order)
// and is the similarity (a, b; c, d) = s·(cos θ, −sin θ; sin θ, cos θ) plus (e, f). The
// chaos game starts at (0, 0) with no burn-in and picks a transform per point with
// integers(0, numTransforms). The "Lyapunov exponent" is mean(ln |a·d − b·c|) over the
// points, i.e. 2·mean(ln s) of the chosen transforms (a misnomer kept for parity, §22 W-4).
// numPoints < 1 or numTransforms < 1 return no points and NaN (the reference raises).
func IFS(rng *nprand.Generator, numPoints, numTransforms int) (points [][2]float64, lyapunov float64) {
	if numPoints < 1 || numTransforms < 1 {
		return nil, math.NaN()
	}
	type transform struct{ a, b, c, d, e, f float64 }
	ts := make([]transform, numTransforms)
	for k := range ts {
		s := rng.Uniform(0.2, 0.5)
		th := rng.Uniform(0, 2*math.Pi)
		e := rng.Uniform(-1, 1)
		f := rng.Uniform(-1, 1)
		cos, sin := math.Cos(th), math.Sin(th)
		ts[k] = transform{a: s * cos, b: -s * sin, c: s * sin, d: s * cos, e: e, f: f}
	}
	points = make([][2]float64, numPoints)
	x, y, acc := 0.0, 0.0, 0.0
	for i := range points {
		t := &ts[rng.Integers(0, int64(numTransforms))]
		nx := (float64(t.a*x) + float64(t.b*y)) + t.e
		ny := (float64(t.c*x) + float64(t.d*y)) + t.f
		x, y = nx, ny
		points[i] = [2]float64{x, y}
		if det := math.Abs(float64(t.a*t.d) - float64(t.b*t.c)); det > 1e-10 {
			acc += math.Log(det)
		}
	}
	return points, acc / float64(numPoints)
}
