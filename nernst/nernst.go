package nernst

import (
	"errors"
	"math"
	"math/big"
)

// Physical constants and limits, exactly as the reference defines them.
const (
	// R is the gas constant in J/(mol·K); the reference deliberately uses 8.314, not CODATA.
	R = 8.314
	// F is the Faraday constant in C/mol.
	F = 96485.33212
	// BodyTemperatureK is the default temperature in kelvin.
	BodyTemperatureK = 310.0
	// RTFZMV is R·T/F at body temperature in millivolts, evaluated in float64 in the
	// reference's order ((R·310)/F)·1000.
	RTFZMV = 26.71224675678714
	// IonClampMinMolar is the lower clamp of both concentrations, in mol/L.
	IonClampMinMolar = 1e-6
	// TemperatureMinK and TemperatureMaxK bound the temperature Validated accepts (inclusive).
	TemperatureMinK = 273.0
	TemperatureMaxK = 320.0
)

// ErrNonFinite is returned by Validated when the potential overflows to ±Inf or is NaN
// (the reference's NumericalInstabilityError).
var ErrNonFinite = errors.New("nernst: non-finite potential")

// ParamError names the argument that broke a rule and why, using the /nernst wire names
// (z_valence, concentration_out_molar, concentration_in_molar, temperature_k).
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string { return "nernst: " + e.Param + ": " + e.Reason }

// Potential is the reference's lenient compute_nernst_potential(z, c_out, c_in, T) in
// volts. Both concentrations are first raised to IonClampMinMolar (a NaN stays NaN, as
// with Python's max); then E = ((R·T) / (z·F)) · ln(c_out/c_in), in that operation order,
// so the results equal the reference's to the last bit.
//
// Nothing else is checked, for parity: z = 3 and any temperature are accepted. z = 0,
// where the reference raises ZeroDivisionError, returns NaN without dividing; callers
// validate first (jobs does, and Validated enforces the strict rules).
func Potential(z int, cOutMolar, cInMolar, temperatureK float64) float64 {
	if z == 0 {
		return math.NaN()
	}
	cOut, cIn := clamp(cOutMolar), clamp(cInMolar)
	return (R * temperatureK) / (float64(z) * F) * math.Log(cOut/cIn)
}

// clamp is Python's max(c, IonClampMinMolar): c unless the clamp is larger, so NaN passes.
func clamp(c float64) float64 {
	if IonClampMinMolar > c {
		return IonClampMinMolar
	}
	return c
}

// Validated is the strict MembraneEngine.compute_nernst_potential in volts: z must be
// −2, −1, 1 or 2; the temperature must lie in [TemperatureMinK, TemperatureMaxK]; both
// concentrations must be finite and > 0 (values below IonClampMinMolar are then clamped
// as in Potential). A broken rule gives a *ParamError naming the argument; a result that
// is not finite (e.g. a ratio that overflows) gives ErrNonFinite. The value equals
// Potential's for every accepted input.
func Validated(z int, cOutMolar, cInMolar, temperatureK float64) (float64, error) {
	switch z {
	case -2, -1, 1, 2:
	case 0:
		return 0, &ParamError{Param: "z_valence", Reason: "ion valence cannot be zero"}
	default:
		return 0, &ParamError{Param: "z_valence", Reason: "ion valence must be one of -2, -1, 1, 2"}
	}
	if !(temperatureK >= TemperatureMinK && temperatureK <= TemperatureMaxK) {
		return 0, &ParamError{Param: "temperature_k", Reason: "temperature must be in [273.0, 320.0] K"}
	}
	if err := positiveFinite("concentration_out_molar", cOutMolar); err != nil {
		return 0, err
	}
	if err := positiveFinite("concentration_in_molar", cInMolar); err != nil {
		return 0, err
	}
	e := Potential(z, cOutMolar, cInMolar, temperatureK)
	if math.IsNaN(e) || math.IsInf(e, 0) {
		return 0, ErrNonFinite
	}
	return e, nil
}

func positiveFinite(param string, c float64) error {
	if !(c > 0) || math.IsInf(c, 1) {
		return &ParamError{Param: param, Reason: "concentration must be a finite number > 0"}
	}
	return nil
}

// Symbolic is the reference's sympy evaluation of the same formula, in volts, without
// the clamp. sympy substitutes the numbers into (R·T)/(z·F)·log(c_out/c_in), which it
// stores as the product F⁻¹·R·T·z⁻¹·log(c_in⁻¹·c_out), and multiplies the factors left
// to right at 53-bit precision, each product and the logarithm correctly rounded. This
// function repeats that order with a correctly rounded logarithm, so its result is the
// reference's bit for bit (−0.08901066911987905 V for the K⁺ example, while Potential
// gives −0.08901066911987907 V). z = 0 or a non-positive ratio returns NaN.
func Symbolic(z int, cOutMolar, cInMolar, temperatureK float64) float64 {
	if z == 0 {
		return math.NaN()
	}
	// Variables, not constants: a constant expression like (1/F)*R would be evaluated
	// exactly by the compiler and rounded once, which is not what sympy does.
	r, f := R, F
	ratio := cOutMolar * (1 / cInMolar)
	e := float64(float64(float64(1/f)*r)*temperatureK) * (1 / float64(z))
	return e * logCorrectlyRounded(ratio)
}

// SymbolicMV is the validation report's nernst_symbolic_mV: Symbolic for K⁺
// (z = 1, 5 mM out, 140 mM in, 310 K) in millivolts, −89.01066911987905.
func SymbolicMV() float64 {
	return Symbolic(1, 5e-3, 140e-3, BodyTemperatureK) * 1000
}

// NumericMV is the validation report's nernst_numeric_mV: Potential for the same K⁺
// example in millivolts, −89.01066911987907.
func NumericMV() float64 {
	return Potential(1, 5e-3, 140e-3, BodyTemperatureK) * 1000
}

// logPrec is the working precision of logCorrectlyRounded: far beyond the 53 bits of the
// result, so the final rounding is the correct one except in astronomically rare cases.
const logPrec = 256

// logCorrectlyRounded is ln(x) rounded once to float64, as mpmath (sympy's backend) and
// glibc give it; math.Log may be one ulp off. It is slow (a big.Float series) and only
// used for the symbolic value. Non-positive or NaN x gives NaN, +Inf gives +Inf.
func logCorrectlyRounded(x float64) float64 {
	switch {
	case math.IsNaN(x) || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return x
	case x == 1:
		return 0
	}
	// x = m·2^k with m in [0.5, 1); ln x = k·ln 2 + ln m.
	m := new(big.Float).SetPrec(logPrec).SetFloat64(x)
	k := m.MantExp(m)
	// ln m = 2·atanh((m−1)/(m+1)), and |(m−1)/(m+1)| ≤ 1/3 here.
	one := new(big.Float).SetPrec(logPrec).SetInt64(1)
	num := new(big.Float).SetPrec(logPrec).Sub(m, one)
	den := new(big.Float).SetPrec(logPrec).Add(m, one)
	lnM := atanh2(num.Quo(num, den))
	third := new(big.Float).SetPrec(logPrec).Quo(one, new(big.Float).SetPrec(logPrec).SetInt64(3))
	ln2 := atanh2(third)
	res := new(big.Float).SetPrec(logPrec).Mul(ln2, new(big.Float).SetPrec(logPrec).SetInt64(int64(k)))
	res.Add(res, lnM)
	f, _ := res.Float64()
	return f
}

// atanh2 returns 2·atanh(y) = 2·Σ y^(2i+1)/(2i+1) for |y| ≤ 1/3 at logPrec bits.
func atanh2(y *big.Float) *big.Float {
	sum := new(big.Float).SetPrec(logPrec).Set(y)
	y2 := new(big.Float).SetPrec(logPrec).Mul(y, y)
	pow := new(big.Float).SetPrec(logPrec).Set(y)
	term := new(big.Float).SetPrec(logPrec)
	for i := int64(1); ; i++ {
		pow.Mul(pow, y2)
		term.Quo(pow, new(big.Float).SetPrec(logPrec).SetInt64(2*i+1))
		if term.Sign() == 0 || term.MantExp(nil)-sum.MantExp(nil) < -logPrec-8 {
			break
		}
		sum.Add(sum, term)
	}
	return sum.Mul(sum, new(big.Float).SetInt64(2))
}
