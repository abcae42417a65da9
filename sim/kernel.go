package sim

// The step kernels. One pass per row computes diffusion, the Turing update, the mask
// and the clamps for every cell, reading the current arrays and writing the spare ones,
// so A, I and V each cross memory once per step. The periodic wrap is only evaluated on
// the first and last column; interior cells index three row slices that the compiler can
// prove in bounds.
//
// Every expression below keeps the reference's order of floating-point operations
// (numerical-core.md §3.1, §4.2) and wraps products in float64(...) so that no
// architecture fuses them into an FMA:
//
//	L   = (((up + down) + left) + right) − 4·c
//	V'  = V + α·L(V)
//	A'  = A + (Da·L(A) + ra·(A·(1−A) − I))
//	I'  = I + (Di·L(I) + ri·(A' − I))          (new, unclamped A')
//	V' += 0.005 where A' > θ; A', I' clipped to [0, 1]; V' clipped to the field bounds.

// bandPad is the scratch one row band needs after each array of a state block: the
// vector kernels copy a row's two periodic wrap windows there (the AVX kernel 6 cells
// each at offsets 0 and 8, the AVX-512 kernel 10 cells each at offsets 0 and 16). Band b
// of a parallel step uses the cells [b·bandPad, (b+1)·bandPad) of every pad, so bands
// never share a window.
const bandPad = 32

// maxBands is how many row bands an n×n state has window scratch for: one per 64 rows,
// at most 64, so a small grid's state carries only one band's pad.
func maxBands(n int) int { return min(max(n/64, 1), 64) }

// statePad is the pad after each array of an n×n state, in cells: the bands' windows, and
// 11 cache lines more where the arrays and windows are a multiple of 4 KiB (1024², 2048²).
// There V, A and I would otherwise start at the same low address bits, where the L1 puts
// the lines of a column in one set (1024²: +9 % for Step, +5 % blocked with the skew).
func statePad(n int) int {
	p := bandPad * maxBands(n)
	if (n*n+p)%(4096/8) == 0 {
		p += stateSkew
	}
	return p
}

// stateSkew is the skew of statePad: 704 B, an odd number of cache lines.
const stateSkew = 88

// newState allocates V, A and I of an n×n grid back to back with statePad(n) cells after
// each, the layout the vector kernels address with one stride.
func newState(n int) (v, a, in []float64) {
	return splitState(make([]float64, 3*(n*n+statePad(n))), n)
}

// splitState is V, A and I of a newState(n) block (V's capacity is the whole block).
func splitState(block []float64, n int) (v, a, in []float64) {
	nn := n * n
	s := nn + statePad(n)
	return block[: nn : 3*s], block[s : s+nn], block[2*s : 2*s+nn]
}

// inState reports whether x, y, z are the three arrays of one newState(n) block.
func inState(x, y, z []float64, n int) bool {
	nn := n * n
	s := nn + statePad(n)
	if len(x) != nn || len(y) != nn || len(z) != nn || cap(x) < 3*s {
		return false
	}
	block := x[:3*s]
	return &block[s] == &y[0] && &block[2*s] == &z[0]
}

// lap is the periodic 5-point Laplacian of one cell in the reference's summation order.
func lap(up, down, left, right, c float64) float64 {
	return ((up + down) + left) + right - float64(4.0*c)
}

// turingCell updates one cell; it is the scalar form of the interior loop in stepTuring.
func turingCell(vu, vd, vl, vr, vc, au, ad, al, ar, ac, iu, id, il, ir, ic, alpha, theta float64, clampV bool) (v, a, i float64) {
	v = vc + float64(alpha*lap(vu, vd, vl, vr, vc))
	a = ac + (float64(diffActivator*lap(au, ad, al, ar, ac)) + float64(rateActivator*(float64(ac*(1-ac))-ic)))
	i = ic + (float64(diffInhibitor*lap(iu, id, il, ir, ic)) + float64(rateInhibitor*(a-ic)))
	if a > theta {
		v += TuringBoostV
	}
	if clampV {
		v = clamp(v, FieldMinV, FieldMaxV)
	}
	return v, clamp(a, 0, 1), clamp(i, 0, 1)
}

// stepTuring writes the next V, A, I into dv, da, di from v, a, in (all n×n).
func stepTuring(dv, da, di, v, a, in []float64, n int, alpha, theta float64, clampV bool) {
	stepTuringRows(dv, da, di, v, a, in, n, alpha, theta, clampV, 0, n, 0)
}

// stepTuringRows writes rows r0…r1−1 of the next state, using band's pad windows. Rows
// only read the current arrays, so bands of one step can run at the same time.
func stepTuringRows(dv, da, di, v, a, in []float64, n int, alpha, theta float64, clampV bool, r0, r1, band int) {
	if n < 3 {
		for r := r0; r < r1; r++ {
			up, down := ((r-1+n)%n)*n, ((r+1)%n)*n
			for c := 0; c < n; c++ {
				l, rt := (c-1+n)%n, (c+1)%n
				k := r*n + c
				dv[k], da[k], di[k] = turingCell(
					v[up+c], v[down+c], v[r*n+l], v[r*n+rt], v[k],
					a[up+c], a[down+c], a[r*n+l], a[r*n+rt], a[k],
					in[up+c], in[down+c], in[r*n+l], in[r*n+rt], in[k],
					alpha, theta, clampV)
			}
		}
		return
	}
	if vectorStep(dv, da, di, v, a, in, n, alpha, theta, clampV, r0, r1, band) {
		return
	}
	for r := r0; r < r1; r++ {
		up, down := r-1, r+1
		if r == 0 {
			up = n - 1
		}
		if r == n-1 {
			down = 0
		}
		turingRow(dv[r*n:r*n+n], da[r*n:r*n+n], di[r*n:r*n+n],
			v[up*n:up*n+n], v[r*n:r*n+n], v[down*n:down*n+n],
			a[up*n:up*n+n], a[r*n:r*n+n], a[down*n:down*n+n],
			in[up*n:up*n+n], in[r*n:r*n+n], in[down*n:down*n+n], alpha, theta, clampV)
	}
}

// turingRow writes one row (n ≥ 3) of the next state into ov, oa, oi from the rows above
// (u), at (c) and below (d) of V, A and I.
func turingRow(ov, oa, oi, vu, vc, vd, au, ac, ad, iu, ic, id []float64, alpha, theta float64, clampV bool) {
	n := len(vc)
	// Column 0 and column n−1 wrap around.
	ov[0], oa[0], oi[0] = turingCell(vu[0], vd[0], vc[n-1], vc[1], vc[0],
		au[0], ad[0], ac[n-1], ac[1], ac[0], iu[0], id[0], ic[n-1], ic[1], ic[0], alpha, theta, clampV)
	ov[n-1], oa[n-1], oi[n-1] = turingCell(vu[n-1], vd[n-1], vc[n-2], vc[0], vc[n-1],
		au[n-1], ad[n-1], ac[n-2], ac[0], ac[n-1], iu[n-1], id[n-1], ic[n-2], ic[0], ic[n-1], alpha, theta, clampV)
	turingInterior(ov[1:n-1], oa[1:n-1], oi[1:n-1], vu[1:n-1], vd[1:n-1], vc,
		au[1:n-1], ad[1:n-1], ac, iu[1:n-1], id[1:n-1], ic, alpha, theta, clampV)
}

// turingInterior updates columns 1…n−2 of one row. The centre rows vc, ac, ic are the
// whole row (length m+2); all other slices are the interior (length m).
func turingInterior(ov, oa, oi, vu, vd, vc, au, ad, ac, iu, id, ic []float64, alpha, theta float64, clampV bool) {
	m := len(ov)
	oa, oi = oa[:m], oi[:m]
	vu, vd, au, ad, iu, id = vu[:m], vd[:m], au[:m], ad[:m], iu[:m], id[:m]
	vl, vm, vr := vc[:m], vc[1:m+1], vc[2:m+2]
	al, am, ar := ac[:m], ac[1:m+1], ac[2:m+2]
	il, im, ir := ic[:m], ic[1:m+1], ic[2:m+2]
	for j := 0; j < m; j++ {
		c := vm[j]
		nv := c + float64(alpha*(((vu[j]+vd[j])+vl[j])+vr[j]-float64(4.0*c)))
		ca := am[j]
		ci := im[j]
		na := ca + (float64(diffActivator*(((au[j]+ad[j])+al[j])+ar[j]-float64(4.0*ca))) +
			float64(rateActivator*(float64(ca*(1-ca))-ci)))
		ni := ci + (float64(diffInhibitor*(((iu[j]+id[j])+il[j])+ir[j]-float64(4.0*ci))) +
			float64(rateInhibitor*(na-ci)))
		if na > theta {
			nv += TuringBoostV
		}
		if clampV {
			nv = min(max(nv, FieldMinV), FieldMaxV)
		}
		ov[j] = nv
		oa[j] = min(max(na, 0), 1)
		oi[j] = min(max(ni, 0), 1)
	}
}

// plainCell is one cell of the Turing-off step.
func plainCell(vu, vd, vl, vr, vc, alpha float64, clampV bool) float64 {
	v := vc + float64(alpha*lap(vu, vd, vl, vr, vc))
	if clampV {
		v = clamp(v, FieldMinV, FieldMaxV)
	}
	return v
}

// stepPlainRows writes rows r0…r1−1 of the next V (Turing off).
func stepPlainRows(dv, v []float64, n int, alpha float64, clampV bool, r0, r1 int) {
	if n < 3 {
		for r := r0; r < r1; r++ {
			up, down := ((r-1+n)%n)*n, ((r+1)%n)*n
			for c := 0; c < n; c++ {
				k := r*n + c
				dv[k] = plainCell(v[up+c], v[down+c], v[r*n+(c-1+n)%n], v[r*n+(c+1)%n], v[k], alpha, clampV)
			}
		}
		return
	}
	for r := r0; r < r1; r++ {
		up, down := r-1, r+1
		if r == 0 {
			up = n - 1
		}
		if r == n-1 {
			down = 0
		}
		vu, vc, vd := v[up*n:up*n+n], v[r*n:r*n+n], v[down*n:down*n+n]
		ov := dv[r*n : r*n+n]
		ov[0] = plainCell(vu[0], vd[0], vc[n-1], vc[1], vc[0], alpha, clampV)
		ov[n-1] = plainCell(vu[n-1], vd[n-1], vc[n-2], vc[0], vc[n-1], alpha, clampV)
		m := n - 2
		o := ov[1 : m+1]
		u, d := vu[1:m+1], vd[1:m+1]
		vl, vm, vr := vc[:m], vc[1:m+1], vc[2:m+2]
		for j := 0; j < m; j++ {
			c := vm[j]
			nv := c + float64(alpha*(((u[j]+d[j])+vl[j])+vr[j]-float64(4.0*c)))
			if clampV {
				nv = min(max(nv, FieldMinV), FieldMaxV)
			}
			o[j] = nv
		}
	}
}

// Laplacian returns the periodic 5-point Laplacian of the n×n field u (§3.1), in the
// reference's summation order.
func Laplacian(u []float64, n int) []float64 {
	out := make([]float64, n*n)
	for r := 0; r < n; r++ {
		up, down := ((r-1+n)%n)*n, ((r+1)%n)*n
		for c := 0; c < n; c++ {
			out[r*n+c] = lap(u[up+c], u[down+c], u[r*n+(c-1+n)%n], u[r*n+(c+1)%n], u[r*n+c])
		}
	}
	return out
}

// Gradient is np.gradient(u) for an n×n field with unit spacing: gy along axis 0 (rows),
// gx along axis 1 (columns); central differences inside, one-sided at the edges (§3.2).
// n must be at least 2, as numpy requires.
func Gradient(u []float64, n int) (gy, gx []float64) {
	gy = make([]float64, n*n)
	gx = make([]float64, n*n)
	if n < 2 {
		return gy, gx
	}
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			k := r*n + c
			switch r {
			case 0:
				gy[k] = (u[k+n] - u[k]) / 1.0
			case n - 1:
				gy[k] = (u[k] - u[k-n]) / 1.0
			default:
				gy[k] = (u[k+n] - u[k-n]) / 2.0
			}
			switch c {
			case 0:
				gx[k] = (u[k+1] - u[k]) / 1.0
			case n - 1:
				gx[k] = (u[k] - u[k-1]) / 1.0
			default:
				gx[k] = (u[k+1] - u[k-1]) / 2.0
			}
		}
	}
	return gy, gx
}
