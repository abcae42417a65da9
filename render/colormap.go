package render

import (
	"errors"
	"fmt"
	"image/color"
	"math"
)

// Range is the span of a colour scale in millivolts: MinMV gets the first colour of the
// map, MaxMV the last, and potentials outside clamp to the ends. One Range is meant to be
// used for a whole run (every frame, every image), never fitted to one frame, so that the
// same colour is the same potential in every frame being compared.
type Range struct {
	MinMV, MaxMV float64
}

// The two scales every front end offers.
var (
	// FullRange is the simulation's clamp range, the whole physiological span: every
	// possible potential has its own colour, but a resting field (≈ −70 mV) is one flat
	// dark blue.
	FullRange = Range{MinMV: -95, MaxMV: 40}
	// DetailRange is fitted to what default runs (64×64, 64–240 steps, seeds 42, 11, 7)
	// actually hold: their final fields rest at −70.8…−69.0 mV (5th–95th percentile
	// −70.6…−69.1; over all steps 1st–99th ≈ −71.9…−68.0), and growth spikes reach
	// −61 mV. Over −71…−68 mV the settled field fills the lower half of the map, so its
	// slow Turing pattern shows as blue-to-teal shading, spikes are yellow dots with green
	// diffusion halos, and only the first few steps' noise and the spike centres clamp.
	// (Compared by eye against −72…−66 and −71…−67, which wash the late pattern out, and
	// −70.5…−68.5, which clips large dark areas.)
	DetailRange = Range{MinMV: -71, MaxMV: -68}
)

// LimitMV bounds either end of a Range: a scale wider than ±200 mV cannot be a membrane
// potential and would only turn every field into one colour.
const LimitMV = 200

// RangeError tells which end of a Range is invalid, so that callers can name their own
// field or flag for it.
type RangeError struct {
	End    string  // "MinMV" or "MaxMV"
	Value  float64 // the offending value, mV
	Reason string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("render: range %s %v: %s", e.End, e.Value, e.Reason)
}

// Validate checks that both ends are finite, within ±LimitMV, and that MinMV < MaxMV
// (when not, MaxMV is blamed). The error is a *RangeError.
func (r Range) Validate() error {
	for _, e := range []struct {
		name string
		v    float64
	}{{"MinMV", r.MinMV}, {"MaxMV", r.MaxMV}} {
		if math.IsNaN(e.v) || math.IsInf(e.v, 0) {
			return &RangeError{End: e.name, Value: e.v, Reason: "must be a finite number"}
		}
		if e.v < -LimitMV || e.v > LimitMV {
			return &RangeError{End: e.name, Value: e.v, Reason: fmt.Sprintf("must be between %d and %d mV", -LimitMV, LimitMV)}
		}
	}
	if !(r.MinMV < r.MaxMV) {
		return &RangeError{End: "MaxMV", Value: r.MaxMV, Reason: fmt.Sprintf("must be greater than MinMV (%v)", r.MinMV)}
	}
	return nil
}

// errBadRange is wrapped by the drawing functions when handed an invalid Range.
var errBadRange = errors.New("render: invalid colour range")

func checkRange(r Range) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errBadRange, err)
	}
	return nil
}

// ColorMap holds the viridis stops at 0, 0.1, …, 1 (matplotlib's values). The web page
// carries the same eleven stops, so the browser and the images agree; a test checks it.
var ColorMap = [11][3]uint8{
	{0x44, 0x01, 0x54},
	{0x48, 0x24, 0x75},
	{0x41, 0x44, 0x87},
	{0x35, 0x5f, 0x8d},
	{0x2a, 0x78, 0x8e},
	{0x21, 0x91, 0x8c},
	{0x22, 0xa8, 0x84},
	{0x44, 0xbf, 0x70},
	{0x7a, 0xd1, 0x51},
	{0xbd, 0xdf, 0x26},
	{0xfd, 0xe7, 0x25},
}

// Levels is the number of palette entries: 256 fits a GIF or paletted PNG exactly.
const Levels = 256

// palette is ColorMap interpolated linearly to Levels entries, built once.
var palette = buildPalette()

func buildPalette() color.Palette {
	p := make(color.Palette, Levels)
	segs := float64(len(ColorMap) - 1)
	for i := range p {
		t := float64(i) / float64(Levels-1) * segs
		k := int(t)
		if k >= len(ColorMap)-1 {
			k = len(ColorMap) - 2
		}
		f := t - float64(k)
		a, b := ColorMap[k], ColorMap[k+1]
		mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
		p[i] = color.RGBA{mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2]), 0xff}
	}
	return p
}

// Palette returns a copy of the Levels-entry colour palette; index 0 is a Range's MinMV.
func Palette() color.Palette {
	return append(color.Palette(nil), palette...)
}

// Index maps a potential in volts to its palette index on r: MinMV (and below) is 0,
// MaxMV (and above) is Levels-1, NaN is 0. The page's levelOf computes the same.
func (r Range) Index(volts float64) uint8 {
	t := (volts*1000 - r.MinMV) / (r.MaxMV - r.MinMV)
	if !(t > 0) { // also NaN
		return 0
	}
	if t >= 1 {
		return Levels - 1
	}
	return uint8(t * Levels) // t < 1, so at most Levels-1
}

// Color is the colour of a potential in volts on r.
func (r Range) Color(volts float64) color.RGBA {
	return palette[r.Index(volts)].(color.RGBA)
}
