package nernst

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPotentialGolden is numerical-core.md §6.4: the reference's values in mV, matched
// exactly (volts × 1000 in float64, as the reference converts).
func TestPotentialGolden(t *testing.T) {
	tests := []struct {
		name        string
		z           int
		cOut, cIn   float64
		temperature float64
		wantMV      float64
	}{
		{"K+", 1, 5e-3, 140e-3, 310, -89.01066911987907},
		{"Na+", 1, 145e-3, 12e-3, 310, 66.5623001736488},
		{"Cl-", -1, 120e-3, 4e-3, 310, -90.85362372749782},
		{"Ca2+ 100 nM clamped", 2, 2e-3, 1e-7, 310, 101.51859103677918},
		{"Ca2+ 1 uM", 2, 2e-3, 1e-6, 310, 101.51859103677918},
		{"K+ squid", 1, 20e-3, 400e-3, 291.65, -75.28590979344527},
		{"Na+ squid", 1, 440e-3, 50e-3, 291.65, 54.65380313593817},
		{"Cl- squid", -1, 560e-3, 52e-3, 291.65, -59.72880196571976},
		{"c_out 0 clamped", 1, 0, 0.14, 310, -316.5240353242169},
		{"z 3", 3, 0.01, 0.001, 310, 20.502407060852207},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.wantMV, Potential(tt.z, tt.cOut, tt.cIn, tt.temperature)*1000)
		})
	}
}

func TestConstants(t *testing.T) {
	r, temp, f := R, BodyTemperatureK, F // variables: float64 rounding at every step
	require.Equal(t, RTFZMV, r*temp/f*1000, "RTFZMV is ((R·310)/F)·1000 in float64")
	require.InDelta(t, 26.73, RTFZMV, 0.1) // the reference docs' rounded claim
	require.Equal(t, 26.71224675678714, RTFZMV)
}

func TestSymbolic(t *testing.T) {
	require.Equal(t, -89.01066911987905, SymbolicMV())
	require.Equal(t, -89.01066911987907, NumericMV())
	require.Equal(t, -0.08901066911987905, Symbolic(1, 5e-3, 140e-3, 310))
	// N-05: |E_sym − E_num| < 1e-10 V.
	require.InDelta(t, Potential(1, 5e-3, 140e-3, 310), Symbolic(1, 5e-3, 140e-3, 310), 1e-10)
	// sympy 1.11: float((R*T)/(z*F)*log(c_out/c_in)).subs(...).evalf()).
	for _, c := range []struct {
		z                   int
		out, in, temp, want float64
	}{
		{1, 145e-3, 12e-3, 310, 0.06656230017364878},
		{2, 2e-3, 1e-6, 300, 0.09824379777752823},
		{3, 0.01, 0.001, 310, 0.020502407060852202},
		{1, 5e-3, 140e-3, 291.65, -0.08374181177036363},
	} {
		require.Equal(t, c.want, Symbolic(c.z, c.out, c.in, c.temp))
	}
	require.True(t, math.IsNaN(Symbolic(0, 5e-3, 140e-3, 310)))
	for _, c := range []struct {
		z             int
		out, in, temp float64
	}{{1, 145e-3, 12e-3, 310}, {-1, 120e-3, 4e-3, 291.65}, {2, 2e-3, 1e-6, 300}, {3, 0.01, 0.001, 310}} {
		require.InEpsilon(t, Potential(c.z, c.out, c.in, c.temp), Symbolic(c.z, c.out, c.in, c.temp), 1e-14)
	}
}

func TestLogCorrectlyRounded(t *testing.T) {
	tests := []struct {
		x, want float64
	}{
		{1, 0},
		{2, math.Ln2},
		{math.E, 1},
		{0.5, -math.Ln2},
		{0.03571428571428571, -3.332204510175204}, // mpmath / glibc
		{10, math.Ln10},
		{1e-300, -690.7755278982137},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, logCorrectlyRounded(tt.x), "ln(%v)", tt.x)
	}
	require.True(t, math.IsNaN(logCorrectlyRounded(-1)))
	require.True(t, math.IsInf(logCorrectlyRounded(0), -1))
	// Agrees with math.Log to within an ulp everywhere.
	for x := 1e-9; x < 1e9; x *= 1.37 {
		require.InEpsilon(t, math.Log(x), logCorrectlyRounded(x), 4e-16)
	}
}

// TestReferenceAssertions is numerical-core.md §17.1 (lenient function rows).
func TestReferenceAssertions(t *testing.T) {
	mv := func(z int, out, in float64) float64 { return Potential(z, out, in, 310) * 1000 }
	t.Run("N-01 K+", func(t *testing.T) {
		e := mv(1, 5e-3, 140e-3)
		require.True(t, e > -91 && e < -87, e)
	})
	t.Run("N-02 Na+", func(t *testing.T) {
		e := mv(1, 145e-3, 12e-3)
		require.True(t, e > 60 && e < 75, e)
	})
	t.Run("N-03 Ca2+ clamped", func(t *testing.T) {
		for _, in := range []float64{1e-7, 0.0001e-3} {
			e := mv(2, 2e-3, in)
			require.True(t, e > 100 && e < 150, e)
		}
	})
	t.Run("N-04 Cl-", func(t *testing.T) {
		e := mv(-1, 120e-3, 4e-3)
		require.True(t, e > -100 && e < -80, e)
	})
	t.Run("N-07 temperature ratio", func(t *testing.T) {
		r := Potential(1, 5e-3, 140e-3, 310) / Potential(1, 5e-3, 140e-3, 293)
		require.InDelta(t, 310.0/293.0, r, 0.001)
	})
	t.Run("N-08 valence ratio", func(t *testing.T) {
		require.InDelta(t, 2, Potential(1, 10e-3, 100e-3, 310)/Potential(2, 10e-3, 100e-3, 310), 0.001)
	})
	t.Run("N-09 antisymmetry", func(t *testing.T) {
		for _, c := range [][3]float64{{1e-3, 200e-3, 273}, {5e-3, 140e-3, 310}, {150e-3, 7e-3, 323}} {
			e1, e2 := Potential(1, c[0], c[1], c[2]), Potential(1, c[1], c[0], c[2])
			require.InDelta(t, -e2, e1, 1e-10)
		}
	})
	t.Run("N-10 e over 1 gives RT/F", func(t *testing.T) {
		for _, temp := range []float64{273, 300, 323} {
			require.InEpsilon(t, R*temp/F, Potential(1, math.E, 1, temp), 1e-10)
		}
	})
	t.Run("N-11 tiny c_out finite", func(t *testing.T) {
		for _, out := range []float64{1e-15, 1e-12, 1e-10, 0} {
			for _, in := range []float64{0.1, 0.14} {
				e := Potential(1, out, in, 310)
				require.False(t, math.IsNaN(e) || math.IsInf(e, 0))
			}
		}
	})
	t.Run("N-12 equal concentrations", func(t *testing.T) {
		require.LessOrEqual(t, math.Abs(Potential(1, 0.1, 0.1, 310)), 1e-12)
	})
	t.Run("N-13 z 3", func(t *testing.T) {
		e3, e1 := Potential(3, 0.01, 0.001, 310), Potential(1, 0.01, 0.001, 310)
		require.InEpsilon(t, e1, 3*e3, 1e-6)
	})
	t.Run("N-15 sign", func(t *testing.T) {
		require.Positive(t, Potential(1, 100e-3, 10e-3, 310))
		require.Negative(t, Potential(1, 10e-3, 100e-3, 310))
		require.Negative(t, Potential(-1, 100e-3, 10e-3, 310))
	})
	t.Run("N-16 physiological signs", func(t *testing.T) {
		for _, c := range []struct {
			z        int
			out, in  float64
			positive bool
		}{{1, 5e-3, 140e-3, false}, {1, 145e-3, 12e-3, true}, {-1, 120e-3, 4e-3, false}, {2, 2e-3, 0.1e-6, true}} {
			e := mv(c.z, c.out, c.in)
			require.True(t, e > -200 && e < 200)
			require.Equal(t, c.positive, e > 0)
		}
	})
}

func TestPotentialEdges(t *testing.T) {
	require.True(t, math.IsNaN(Potential(0, 5e-3, 140e-3, 310)), "z = 0 is NaN, never a division by zero")
	require.True(t, math.IsNaN(Potential(1, math.NaN(), 140e-3, 310)), "NaN passes the clamp as in Python's max")
	require.Equal(t, Potential(1, 1e-6, 1, 310), Potential(1, -5, 1, 310), "negative concentrations clamp")
}

func TestValidated(t *testing.T) {
	tests := []struct {
		name        string
		z           int
		cOut, cIn   float64
		temperature float64
		wantParam   string
		wantErr     error
	}{
		{"K+", 1, 5e-3, 140e-3, 310, "", nil},
		{"all valences", -2, 5e-3, 140e-3, 310, "", nil},
		{"N-20 tiny c_out clamps", 1, 1e-15, 140e-3, 310, "", nil},
		{"T 273 inclusive", 1, 5e-3, 140e-3, 273, "", nil},
		{"T 320 inclusive", 1, 5e-3, 140e-3, 320, "", nil},
		{"N-18 z 0", 0, 5e-3, 140e-3, 310, "z_valence", nil},
		{"N-19 z 3", 3, 5e-3, 140e-3, 310, "z_valence", nil},
		{"N-19 z -3", -3, 5e-3, 140e-3, 310, "z_valence", nil},
		{"T 270", 1, 5e-3, 140e-3, 270, "temperature_k", nil},
		{"T 325", 1, 5e-3, 140e-3, 325, "temperature_k", nil},
		{"T NaN", 1, 5e-3, 140e-3, math.NaN(), "temperature_k", nil},
		{"c_out 0", 1, 0, 140e-3, 310, "concentration_out_molar", nil},
		{"c_out NaN", 1, math.NaN(), 140e-3, 310, "concentration_out_molar", nil},
		{"c_in negative", 1, 5e-3, -1, 310, "concentration_in_molar", nil},
		{"c_in +Inf", 1, 5e-3, math.Inf(1), 310, "concentration_in_molar", nil},
		{"ratio overflows", 1, math.MaxFloat64, 1e-300, 310, "", ErrNonFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validated(tt.z, tt.cOut, tt.cIn, tt.temperature)
			switch {
			case tt.wantParam != "":
				var pe *ParamError
				require.True(t, errors.As(err, &pe), "err = %v", err)
				require.Equal(t, tt.wantParam, pe.Param)
				require.Contains(t, err.Error(), tt.wantParam)
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			default:
				require.NoError(t, err)
				require.Equal(t, Potential(tt.z, tt.cOut, tt.cIn, tt.temperature), got)
			}
		})
	}
	_, err := Validated(0, 1, 1, 310)
	require.ErrorContains(t, err, "valence cannot be zero")
	_, err = Validated(3, 1, 1, 310)
	require.ErrorContains(t, err, "valence must be one of")
}

// TestValidatedRandom is N-24: 1000 random valences and concentrations in [1e-6, 1) M
// are all accepted and give finite potentials.
func TestValidatedRandom(t *testing.T) {
	zs := []int{1, 2, -1, -2}
	x := uint64(12345)
	next := func() float64 { // splitmix64 → [0, 1)
		x += 0x9E3779B97F4A7C15
		z := x
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		return float64((z^z>>31)>>11) / (1 << 53)
	}
	for i := range 1000 {
		out, in := 1e-6+next()*(1-1e-6), 1e-6+next()*(1-1e-6)
		e, err := Validated(zs[i%4], out, in, 310)
		require.NoError(t, err)
		require.False(t, math.IsNaN(e) || math.IsInf(e, 0))
	}
}

var sink float64

func BenchmarkPotential(b *testing.B) {
	var s float64
	out := 5e-3
	for b.Loop() {
		s += Potential(1, out, 140e-3, 310)
	}
	sink = s
}

func BenchmarkValidated(b *testing.B) {
	var s float64
	for b.Loop() {
		e, _ := Validated(1, 5e-3, 140e-3, 310)
		s += e
	}
	sink = s
}
