package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/gif"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"mfn/crypto"
	"mfn/internal/jobstest"
	"mfn/jobs"
	"mfn/render"
	"mfn/server/envelope"
)

// startImages serves the API (no middleware) with the envelope's error handler.
func startImages(t *testing.T) (*httptest.Server, *jobs.Pool) {
	t.Helper()
	pool := jobstest.StartPool(t, jobs.PoolConfig{Workers: 2, QueueSize: 32})
	keys, err := crypto.New(crypto.DefaultConfig(), nil)
	require.NoError(t, err)
	api, err := New(Params{Runner: pool, Keys: keys, ClientID: func(*http.Request) string { return "test" }, MaxBodyBytes: 8 << 20})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae, _ := envelope.From(err)
		envelope.Write(c, ae, "")
	}
	api.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, pool
}

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

func TestSimulateImage(t *testing.T) {
	srv, pool := startImages(t)

	resp, data := post(t, srv.URL+"/simulate/image", `{"seed":3,"grid_size":16,"steps":20,"size":100}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, 100, img.Bounds().Dx())
	require.Equal(t, 100, img.Bounds().Dy())

	// The numbers beside the picture are /simulate's.
	req := jobs.DefaultSimulateRequest()
	req.Seed, req.GridSize, req.Steps = 3, 16, 20
	var got jobs.SimulateResult
	require.NoError(t, json.Unmarshal([]byte(resp.Header.Get("X-MFN-Metrics")), &got))
	require.Equal(t, jobstest.Simulate(t, pool, req), got)

	// Default size; a different run gives different pixels; the same run the same ones.
	_, again := post(t, srv.URL+"/simulate/image", `{"seed":3,"grid_size":16,"steps":20,"size":100}`)
	require.Equal(t, data, again)
	_, other := post(t, srv.URL+"/simulate/image", `{"seed":4,"grid_size":16,"steps":20,"size":100}`)
	img2, err := png.Decode(bytes.NewReader(other))
	require.NoError(t, err)
	diff := 0
	for y := 0; y < 100; y++ {
		for x := 0; x < 100; x++ {
			if img.At(x, y) != img2.At(x, y) {
				diff++
			}
		}
	}
	require.Greater(t, diff, 1000, "another field must look different")

	resp, data = post(t, srv.URL+"/simulate/image", `{"grid_size":8,"steps":2}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	img, err = png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	require.Equal(t, 64, img.Bounds().Dx(), "default size is 4 px per cell, at least 64")
}

func TestSimulateAnimation(t *testing.T) {
	srv, _ := startImages(t)
	tests := []struct {
		body   string
		frames int
		size   int
	}{
		{`{"grid_size":16,"steps":10,"every":3,"size":32}`, 4, 32}, // steps 3, 6, 9, 10
		{`{"grid_size":16,"steps":10,"every":1}`, 10, 64},
		{`{"grid_size":16,"steps":120}`, 40, 64}, // default every = ceil(120/50) = 3
	}
	for _, tt := range tests {
		resp, data := post(t, srv.URL+"/simulate/animation", tt.body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
		require.Equal(t, "image/gif", resp.Header.Get("Content-Type"))
		anim, err := gif.DecodeAll(bytes.NewReader(data))
		require.NoError(t, err)
		require.Len(t, anim.Image, tt.frames, tt.body)
		require.Equal(t, tt.size, anim.Config.Width)
		require.NotEqual(t, anim.Image[0].Pix, anim.Image[len(anim.Image)-1].Pix, "the field changes over the run")
	}
}

func TestImageErrors(t *testing.T) {
	srv, _ := startImages(t)
	tests := []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"grid too small", "/simulate/image", `{"grid_size":4}`, 422, "grid_size"},
		{"size too big", "/simulate/image", `{"size":5000}`, 422, "size"},
		{"bad json", "/simulate/image", `{"grid_size":`, 422, "body"},
		{"wrong type", "/simulate/image", `{"steps":"many"}`, 422, "steps"},
		{"too many frames", "/simulate/animation", `{"steps":1000,"every":1}`, 422, "every"},
		{"too many pixels", "/simulate/animation", `{"steps":200,"every":1,"size":512}`, 422, "size"},
		{"animation size", "/simulate/animation", `{"size":513}`, 422, "size"},
		{"alpha", "/simulate/animation", `{"alpha":2}`, 422, "alpha"},
		{"min above max", "/simulate/image", `{"min_mV":-60,"max_mV":-70}`, 422, "max_mV"},
		{"min equals max", "/simulate/animation", `{"min_mV":-70,"max_mV":-70}`, 422, "max_mV"},
		{"min alone above default max", "/simulate/image", `{"min_mV":-60}`, 422, "min_mV"},
		{"max alone below default min", "/simulate/animation", `{"max_mV":-80}`, 422, "max_mV"},
		{"min out of bounds", "/simulate/image", `{"min_mV":-201}`, 422, "min_mV"},
		{"max out of bounds", "/simulate/animation", `{"min_mV":0,"max_mV":1e300}`, 422, "max_mV"},
		{"min wrong type", "/simulate/image", `{"min_mV":"low"}`, 422, "min_mV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, srv.URL+tt.path, tt.body)
			require.Equal(t, tt.status, resp.StatusCode, string(data))
			require.Contains(t, string(data), `"`+tt.field+`"`)
		})
	}
}

// colours counts the distinct colours of a decoded image.
func colours(t *testing.T, data []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r, g, bl}] = true
		}
	}
	return len(seen)
}

// The default colour scale is the detail range, which shows the default run's structure;
// the full range flattens it; an explicit detail range equals the default.
func TestImageColourRange(t *testing.T) {
	srv, _ := startImages(t)
	get := func(body string) []byte {
		t.Helper()
		resp, data := post(t, srv.URL+"/simulate/image", body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
		return data
	}
	def := get(`{}`)
	detail := get(fmt.Sprintf(`{"min_mV":%v,"max_mV":%v}`, render.DetailRange.MinMV, render.DetailRange.MaxMV))
	full := get(fmt.Sprintf(`{"min_mV":%v,"max_mV":%v}`, render.FullRange.MinMV, render.FullRange.MaxMV))
	require.Equal(t, def, detail)
	nDetail, nFull := colours(t, def), colours(t, full)
	require.Greater(t, nDetail, 40, "the default image must show structure")
	require.Less(t, nFull, nDetail/3, "on −95…+40 mV a resting field is nearly one colour")

	// Each end is optional; the animation honours the range too.
	require.NotEqual(t, def, get(`{"min_mV":-75}`))
	gifOf := func(body string) *gif.GIF {
		resp, data := post(t, srv.URL+"/simulate/animation", body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
		anim, err := gif.DecodeAll(bytes.NewReader(data))
		require.NoError(t, err)
		return anim
	}
	a := gifOf(`{"grid_size":16,"steps":10,"every":5}`)
	b := gifOf(`{"grid_size":16,"steps":10,"every":5,"min_mV":-95,"max_mV":40}`)
	require.Len(t, b.Image, len(a.Image))
	require.NotEqual(t, a.Image[1].Pix, b.Image[1].Pix)
}
