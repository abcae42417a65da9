package render

import (
	"bytes"
	"image/gif"
	"image/png"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// ramp is an n×n field whose potential rises along the columns from MinMV to MaxMV.
func ramp(n int) []float64 {
	f := make([]float64, n*n)
	for r := 0; r < n; r++ {
		for c := 0; c < n; c++ {
			f[r*n+c] = (MinMV + (MaxMV-MinMV)*float64(c)/float64(n-1)) / 1000
		}
	}
	return f
}

func TestIndex(t *testing.T) {
	tests := []struct {
		name  string
		volts float64
		want  uint8
	}{
		{"below range", -0.2, 0},
		{"min", MinMV / 1000, 0},
		{"max", MaxMV / 1000, Levels - 1},
		{"above range", 1, Levels - 1},
		{"NaN", math.NaN(), 0},
		{"middle", (MinMV + MaxMV) / 2 / 1000, Levels / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Index(tt.volts))
		})
	}
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
		require.NoError(t, PNG(&buf, ramp(n), n, size))
		img, err := png.Decode(&buf)
		require.NoError(t, err)
		require.Equal(t, size, img.Bounds().Dx())
		require.Equal(t, size, img.Bounds().Dy())
	}

	// Nearest neighbour: at size 4n every cell is a 4×4 block of its own colour.
	var buf bytes.Buffer
	field := ramp(n)
	require.NoError(t, PNG(&buf, field, n, 4*n))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	for c := 0; c < n; c++ {
		want := Color(field[c])
		for dx := 0; dx < 4; dx++ {
			r, g, b, _ := img.At(4*c+dx, 5).RGBA()
			require.Equal(t, []uint32{uint32(want.R), uint32(want.G), uint32(want.B)}, []uint32{r >> 8, g >> 8, b >> 8}, "column %d", c)
		}
	}
	// A change of one cell changes exactly its block of pixels.
	field[3*n+2] = MaxMV / 1000
	img2, err := Image(field, n, 4*n)
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
	require.ErrorIs(t, PNG(&buf, make([]float64, 10), 3, 10), ErrBadField)
	require.Error(t, PNG(&buf, ramp(4), 4, 0))
	require.Error(t, PNG(&buf, ramp(4), 4, MaxSize+1))
}

func TestGIFFrames(t *testing.T) {
	const n = 6
	g, err := NewGIF(n, 24, 5, 4)
	require.NoError(t, err)
	f := ramp(n)
	for i := 0; i < 4; i++ {
		f[i] = MaxMV / 1000
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
	_, err := NewGIF(8, 64, 5, MaxFrames+1)
	require.Error(t, err)
	_, err = NewGIF(8, MaxSize, 5, MaxFrames)
	require.Error(t, err) // pixel cap
	_, err = NewGIF(0, 64, 5, 1)
	require.Error(t, err)
	g, err := NewGIF(8, 64, 5, 1)
	require.NoError(t, err)
	require.Error(t, g.Encode(&bytes.Buffer{}))
}

func BenchmarkPNG256(b *testing.B) {
	field := ramp(256)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := PNG(&buf, field, 256, 512); err != nil {
			b.Fatal(err)
		}
	}
}
