package render

import (
	"image/color"
	"math"
)

// MinMV and MaxMV bound the colour scale in millivolts: the simulation clamps every cell
// to this range, so the whole scale is used and never moves between frames.
const (
	MinMV = -95.0
	MaxMV = 40.0
)

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

// Palette returns a copy of the Levels-entry colour palette, index 0 = MinMV.
func Palette() color.Palette {
	return append(color.Palette(nil), palette...)
}

// Index maps a potential in volts to its palette index; values outside the range clamp
// to the ends and NaN maps to 0.
func Index(volts float64) uint8 {
	t := (volts*1000 - MinMV) / (MaxMV - MinMV)
	if !(t > 0) { // also NaN
		return 0
	}
	if t >= 1 {
		return Levels - 1
	}
	return uint8(t * Levels) // t < 1, so at most Levels-1
}

// Color is the colour of a potential in volts.
func Color(volts float64) color.RGBA {
	return palette[Index(volts)].(color.RGBA)
}
