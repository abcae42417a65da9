package render

import (
	"bytes"
	"image/gif"
	"image/png"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// ramp is an n×n field whose potential rises along the columns from r.MinMV to r.MaxMV.
func ramp(n int, r Range) []float64 {
	f := make([]float64, n*n)
	for row := 0; row < n; row++ {
		for c := 0; c < n; c++ {
			f[row*n+c] = (r.MinMV + (r.MaxMV-r.MinMV)*float64(c)/float64(n-1)) / 1000
		}
	}
	return f
}

func TestIndex(t *testing.T) {
	for _, r := range []Range{FullRange, DetailRange, {MinMV: -1, MaxMV: 1}} {
		tests := []struct {
			name  string
			volts float64
			want  uint8
		}{
			{"below range", (r.MinMV - 5) / 1000, 0},
			{"min", r.MinMV / 1000, 0},
			{"max", r.MaxMV / 1000, Levels - 1},
			{"above range", (r.MaxMV + 5) / 1000, Levels - 1},
			{"far above", 1, Levels - 1},
			{"NaN", math.NaN(), 0},
			{"+Inf", math.Inf(1), Levels - 1},
			{"middle", (r.MinMV + r.MaxMV) / 2 / 1000, Levels / 2},
			{"first quarter", (r.MinMV + (r.MaxMV-r.MinMV)*0.25) / 1000, Levels / 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				require.Equal(t, tt.want, r.Index(tt.volts), "range %v", r)
			})
		}
	}
}

// The range is honoured: its ends get the map's ends whatever the range, and the same
// potential gets different colours on different ranges.
func TestRangeEndsAreMapEnds(t *testing.T) {
	first, last := ColorMap[0], ColorMap[len(ColorMap)-1]
	rgb := func(c [3]uint8) [3]uint8 { return c }
	for _, r := range []Range{FullRange, DetailRange, {MinMV: -70.5, MaxMV: -70.4}} {
		lo, hi := r.Color(r.MinMV/1000), r.Color(r.MaxMV/1000)
		require.Equal(t, rgb(first), [3]uint8{lo.R, lo.G, lo.B}, "MinMV of %v", r)
		require.Equal(t, rgb(last), [3]uint8{hi.R, hi.G, hi.B}, "MaxMV of %v", r)
	}
	// −69 mV is near the bottom of the full range but in the upper half of the detail one.
	require.Less(t, FullRange.Index(-0.069), uint8(Levels/4))
	require.Greater(t, DetailRange.Index(-0.069), uint8(Levels/2))
	// The detail range must hold a resting field (≈ −70 mV) strictly inside it.
	require.Less(t, DetailRange.MinMV, -70.0)
	require.Greater(t, DetailRange.MaxMV, -70.0)
}

func TestRangeValidate(t *testing.T) {
	require.NoError(t, FullRange.Validate())
	require.NoError(t, DetailRange.Validate())
	require.NoError(t, Range{MinMV: -LimitMV, MaxMV: LimitMV}.Validate())
	tests := []struct {
		r   Range
		end string
	}{
		{Range{MinMV: math.NaN(), MaxMV: 0}, "MinMV"},
		{Range{MinMV: -1, MaxMV: math.Inf(1)}, "MaxMV"},
		{Range{MinMV: -LimitMV - 1, MaxMV: 0}, "MinMV"},
		{Range{MinMV: 0, MaxMV: LimitMV + 0.5}, "MaxMV"},
		{Range{MinMV: -60, MaxMV: -60}, "MaxMV"},
		{Range{MinMV: -60, MaxMV: -70}, "MaxMV"},
		{Range{}, "MaxMV"},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		var re *RangeError
		require.ErrorAs(t, err, &re, "%v", tt.r)
		require.Equal(t, tt.end, re.End, "%v", tt.r)
	}
	// Drawing refuses a bad range instead of dividing by zero.
	var buf bytes.Buffer
	require.ErrorAs(t, PNG(&buf, ramp(4, FullRange), 4, 8, Range{MinMV: 1, MaxMV: 1}), new(*RangeError))
	_, err := NewGIF(4, 8, 5, 2, Range{MinMV: math.NaN(), MaxMV: 1})
	require.ErrorAs(t, err, new(*RangeError))
}

func TestPaletteEndsAreColorMapEnds(t *testing.T) {
	p := Palette()
	require.Len(t, p, Levels)
	r, g, b, _ := p[0].RGBA()
	require.Equal(t, []uint32{uint32(ColorMap[0][0]), uint32(ColorMap[0][1]), uint32(ColorMap[0][2])}, []uint32{r >> 8, g >> 8, b >> 8})
	last := ColorMap[len(ColorMap)-1]
	r, g, b, _ = p[Levels-1].RGBA()
	require.Equal(t, []uint32{uint32(last[0]), uint32(last[1]), uint32(last[2])}, []uint32{r >> 8, g >> 8, b >> 8})
	// Viridis brightens monotonically: green rises along the whole map.
	for i := 1; i < Levels; i++ {
		_, g0, _, _ := p[i-1].RGBA()
		_, g1, _, _ := p[i].RGBA()
		require.GreaterOrEqual(t, g1, g0, "green at %d", i)
	}
}

func TestPNGSizeAndPixels(t *testing.T) {
	const n = 8
	for _, size := range []int{1, 8, 37, 200} {
		var buf bytes.Buffer
		require.NoError(t, PNG(&buf, ramp(n, FullRange), n, size, FullRange))
		img, err := png.Decode(&buf)
		require.NoError(t, err)
		require.Equal(t, size, img.Bounds().Dx())
		require.Equal(t, size, img.Bounds().Dy())
	}

	// Nearest neighbour: at size 4n every cell is a 4×4 block of its own colour.
	var buf bytes.Buffer
	r := DetailRange
	field := ramp(n, r)
	require.NoError(t, PNG(&buf, field, n, 4*n, r))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	for c := 0; c < n; c++ {
		want := r.Color(field[c])
		for dx := 0; dx < 4; dx++ {
			r, g, b, _ := img.At(4*c+dx, 5).RGBA()
			require.Equal(t, []uint32{uint32(want.R), uint32(want.G), uint32(want.B)}, []uint32{r >> 8, g >> 8, b >> 8}, "column %d", c)
		}
	}
	// A change of one cell changes exactly its block of pixels.
	field[3*n+2] = r.MaxMV / 1000
	img2, err := Image(field, n, 4*n, r)
	require.NoError(t, err)
	changed := 0
	for y := 0; y < 4*n; y++ {
		for x := 0; x < 4*n; x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := img2.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				changed++
				require.Equal(t, 3, y/4)
				require.Equal(t, 2, x/4)
			}
		}
	}
	require.Equal(t, 16, changed)
}

func TestPNGRejectsBadInput(t *testing.T) {
	var buf bytes.Buffer
	require.ErrorIs(t, PNG(&buf, make([]float64, 10), 3, 10, FullRange), ErrBadField)
	require.Error(t, PNG(&buf, ramp(4, FullRange), 4, 0, FullRange))
	require.Error(t, PNG(&buf, ramp(4, FullRange), 4, MaxSize+1, FullRange))
}

func TestGIFFrames(t *testing.T) {
	const n = 6
	g, err := NewGIF(n, 24, 5, 4, DetailRange)
	require.NoError(t, err)
	f := ramp(n, DetailRange)
	for i := 0; i < 4; i++ {
		f[i] = DetailRange.MaxMV / 1000
		require.NoError(t, g.Add(f))
	}
	require.ErrorIs(t, g.Add(f), ErrTooManyFrames)
	require.Equal(t, 4, g.Frames())
	var buf bytes.Buffer
	require.NoError(t, g.Encode(&buf))
	anim, err := gif.DecodeAll(&buf)
	require.NoError(t, err)
	require.Len(t, anim.Image, 4)
	require.Equal(t, []int{5, 5, 5, 5}, anim.Delay)
	require.Equal(t, 24, anim.Config.Width)
	require.NotEqual(t, anim.Image[0].Pix, anim.Image[3].Pix)
}

func TestNewGIFLimits(t *testing.T) {
	_, err := NewGIF(8, 64, 5, MaxFrames+1, FullRange)
	require.Error(t, err)
	_, err = NewGIF(8, MaxSize, 5, MaxFrames, FullRange)
	require.Error(t, err) // pixel cap
	_, err = NewGIF(0, 64, 5, 1, FullRange)
	require.Error(t, err)
	g, err := NewGIF(8, 64, 5, 1, FullRange)
	require.NoError(t, err)
	require.Error(t, g.Encode(&bytes.Buffer{}))
}

func BenchmarkPNG256(b *testing.B) {
	field := ramp(256, DetailRange)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := PNG(&buf, field, 256, 512, DetailRange); err != nil {
			b.Fatal(err)
		}
	}
}
