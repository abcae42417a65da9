package render

import (
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/png"
	"io"
)

// Limits keep one request from allocating without bound.
const (
	// MaxSize is the largest side of an output image in pixels.
	MaxSize = 2048
	// MaxFrames is the most frames one GIF may hold.
	MaxFrames = 500
	// MaxGIFPixels bounds size²·frames of a GIF (64 MiB of indexed pixels).
	MaxGIFPixels = 64 << 20
)

// ErrBadField is returned when a field slice does not hold n·n values.
var ErrBadField = errors.New("render: field length is not n*n")

func checkArgs(field []float64, n, size int, r Range) error {
	if err := checkRange(r); err != nil {
		return err
	}
	if n < 1 || len(field) != n*n {
		return fmt.Errorf("%w (len %d, n %d)", ErrBadField, len(field), n)
	}
	if size < 1 || size > MaxSize {
		return fmt.Errorf("render: size %d outside 1..%d", size, MaxSize)
	}
	return nil
}

// Image draws field (N×N volts, row-major) as a size×size paletted image coloured over r,
// nearest neighbour: pixel (x, y) shows cell (row y·n/size, column x·n/size). Row 0 is at
// the top.
func Image(field []float64, n, size int, r Range) (*image.Paletted, error) {
	if err := checkArgs(field, n, size, r); err != nil {
		return nil, err
	}
	img := image.NewPaletted(image.Rect(0, 0, size, size), palette)
	draw(img, field, n, size, r)
	return img, nil
}

// draw fills img (already size×size with our palette) from field.
func draw(img *image.Paletted, field []float64, n, size int, r Range) {
	cols := make([]int, size) // source column of each output x, computed once per image
	for x := range cols {
		cols[x] = x * n / size
	}
	for y := 0; y < size; y++ {
		row := field[(y*n/size)*n:]
		out := img.Pix[y*img.Stride : y*img.Stride+size]
		for x, c := range cols {
			out[x] = r.Index(row[c])
		}
	}
}

// PNG writes field as a size×size PNG coloured over r. It is what `mfn simulate --png`
// and POST /simulate/image use.
func PNG(w io.Writer, field []float64, n, size int, r Range) error {
	img, err := Image(field, n, size, r)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("render: encode png: %w", err)
	}
	return nil
}

// GIF collects frames of one run into an animated GIF. The palette is the colour map and
// the Range is fixed at NewGIF, so no quantisation happens and every frame uses the same
// scale.
type GIF struct {
	n, size, delay, maxFrames int
	rng                       Range
	anim                      gif.GIF
}

// NewGIF prepares an animation of n×n fields drawn at size×size pixels coloured over r,
// showing each frame for delayCS hundredths of a second and holding at most maxFrames
// frames (≤ MaxFrames, with size²·maxFrames ≤ MaxGIFPixels).
func NewGIF(n, size, delayCS, maxFrames int, r Range) (*GIF, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("render: grid size %d < 1", n)
	}
	if size < 1 || size > MaxSize {
		return nil, fmt.Errorf("render: size %d outside 1..%d", size, MaxSize)
	}
	if maxFrames < 1 || maxFrames > MaxFrames {
		return nil, fmt.Errorf("render: max frames %d outside 1..%d", maxFrames, MaxFrames)
	}
	if size*size*maxFrames > MaxGIFPixels {
		return nil, fmt.Errorf("render: %d frames of %d² pixels exceed %d pixels", maxFrames, size, MaxGIFPixels)
	}
	if delayCS < 0 {
		delayCS = 0
	}
	return &GIF{n: n, size: size, delay: delayCS, maxFrames: maxFrames, rng: r}, nil
}

// ErrTooManyFrames is returned by Add once the GIF holds its maximum number of frames.
var ErrTooManyFrames = errors.New("render: too many frames")

// Add draws field as the next frame. The field is not retained.
func (g *GIF) Add(field []float64) error {
	if len(g.anim.Image) >= g.maxFrames {
		return ErrTooManyFrames
	}
	img, err := Image(field, g.n, g.size, g.rng)
	if err != nil {
		return err
	}
	g.anim.Image = append(g.anim.Image, img)
	g.anim.Delay = append(g.anim.Delay, g.delay)
	return nil
}

// Frames is the number of frames added so far.
func (g *GIF) Frames() int { return len(g.anim.Image) }

// Encode writes the animation, looping forever. It fails when no frame was added.
func (g *GIF) Encode(w io.Writer) error {
	if len(g.anim.Image) == 0 {
		return errors.New("render: gif has no frames")
	}
	g.anim.LoopCount = 0
	if err := gif.EncodeAll(w, &g.anim); err != nil {
		return fmt.Errorf("render: encode gif: %w", err)
	}
	return nil
}
