package ws

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"mfn/internal/jobstest"
	"mfn/jobs"
	"mfn/render"
	"mfn/web"
)

// chromiumPath finds Debian's chromium; the browser test needs a real one.
func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// canvasHash hashes the field canvas's pixels (FNV-1a) in the page.
const canvasHash = `(() => {
  const c = document.getElementById('field');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 2166136261;
  for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 16777619); }
  return c.width + ':' + (h >>> 0).toString(16);
})()`

// canvasColours counts the distinct colours on the field canvas.
const canvasColours = `(() => {
  const c = document.getElementById('field');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length; i += 4) seen.add(d[i] << 16 | d[i+1] << 8 | d[i+2]);
  return seen.size;
})()`

// TestBrowserLivePage loads the page in headless chromium against the real hub and pool,
// runs a simulation, and checks that the canvas animates on the detail colour range and
// shows structure, the final metrics equal /simulate's, the colour-range select relabels
// the legend and redraws, auth errors are shown, and the layout fits a 375 px phone.
//
// The screenshot is checked in a temporary directory; with MFN_UPDATE_SCREENSHOT=1 it is
// also copied to docs/screenshot.png (tracked), which plain test runs never touch.
func TestBrowserLivePage(t *testing.T) {
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no chromium binary (/usr/bin/chromium): install Debian's chromium to run the browser test")
	}
	pool := startWSPool(t)
	hub, err := NewHub(wsTestConfig(), pool, wsAuth{required: true, keys: []string{wsKey}}, zaptest.NewLogger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/simulation_live", hub.SimulationLive)
	mux.HandleFunc("/ws/stream_features", hub.StreamFeatures)
	mux.Handle("/", web.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, hub.Shutdown(ctx))
		srv.Close()
	})

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first run starts the browser and must not carry a timeout (it would bound the
	// browser's life); later actions get bounded contexts derived from it.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/")))
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bctx, 30*time.Second) }
	do := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		require.NoError(t, chromedp.Do(ctx, actions...))
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return s
	}
	eval := func(js string) any {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
		require.NoError(t, err)
		return v
	}
	// waitText polls until sel's text contains want.
	waitText := func(sel, want string) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got = text(sel); strings.Contains(got, want) {
				return
			}
		}
		t.Fatalf("%s never contained %q; last text %q", sel, want, got)
	}

	do(chromedp.WaitVisible(chromedp.CSS("#start")))

	// The page colours a potential exactly as package render does on the default range.
	require.Equal(t, "detail", eval(`document.getElementById('range').value`))
	for _, mv := range []float64{-80, -71, -70.3, -69.5, -68.01, -68, -61, 40} {
		got := eval(`levelOf(` + strconv.FormatFloat(mv, 'g', -1, 64) + `)`).(float64)
		require.EqualValues(t, render.DetailRange.Index(mv/1000), got, "level of %v mV", mv)
	}
	require.Equal(t, "−71 mV", text("#legend-min"))
	require.Equal(t, "−68 mV", text("#legend-max"))

	// A wrong key is reported in words.
	do(chromedp.SetValue(chromedp.CSS("#api_key"), "wrong-key"), chromedp.Click(chromedp.CSS("#start")))
	waitText("#status", "Authentication failed")

	// A validation error from the server is shown too (alpha outside the stable range).
	do(chromedp.SetValue(chromedp.CSS("#api_key"), wsKey), chromedp.SetValue(chromedp.CSS("#alpha"), "0.3"),
		chromedp.Click(chromedp.CSS("#start")))
	waitText("#status", "alpha")

	const seed, grid, steps, every = 11, 64, 120, 2
	do(chromedp.SetValue(chromedp.CSS("#alpha"), "0.18"),
		chromedp.SetValue(chromedp.CSS("#seed"), strconv.Itoa(seed)),
		chromedp.SetValue(chromedp.CSS("#grid_size"), strconv.Itoa(grid)),
		chromedp.SetValue(chromedp.CSS("#steps"), strconv.Itoa(steps)),
		chromedp.SetValue(chromedp.CSS("#update_interval_steps"), strconv.Itoa(every)),
		chromedp.Click(chromedp.CSS("#start")))

	// Sample the canvas while the states stream in: it must show several different frames.
	hashes := map[string]bool{}
	rows := 0
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(30 * time.Millisecond) {
		hashes[eval(canvasHash).(string)] = true
		rows = int(eval(`document.querySelectorAll('#metrics tbody tr').length`).(float64))
		if rows == 6 && strings.HasPrefix(text("#progress"), "step "+strconv.Itoa(steps)+" / ") {
			break
		}
	}
	require.Equal(t, 6, rows, "final metrics table")
	require.GreaterOrEqual(t, len(hashes), 4, "the canvas must draw several different frames")
	waitText("#status", "Done")
	// The settled field shows its pattern and spikes, not one flat colour.
	detailColours := int(eval(canvasColours).(float64))
	require.Greater(t, detailColours, 40, "final field on the detail range")
	require.Equal(t, "false", strconv.FormatBool(eval(`document.getElementById('range').disabled`).(bool)))

	// The table shows /simulate's numbers for the same parameters.
	req := jobs.DefaultSimulateRequest()
	req.Seed, req.GridSize, req.Steps = seed, grid, steps
	direct := jobstest.Simulate(t, pool, req)
	table := text("#metrics")
	require.Contains(t, table, "growth_events")
	require.Contains(t, table, strconv.Itoa(direct.GrowthEvents))
	require.Contains(t, table, strconv.FormatFloat(direct.PotMeanMV, 'f', 4, 64))
	require.Contains(t, table, strconv.FormatFloat(direct.PotStdMV, 'f', 4, 64))

	ctx, cancel := step()
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	colours := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	require.Greater(t, len(colours), 200, "the screenshot is not blank")
	shotPath := filepath.Join(t.TempDir(), "screenshot.png")
	require.NoError(t, os.WriteFile(shotPath, shot, 0o644))
	written, err := os.ReadFile(shotPath)
	require.NoError(t, err)
	_, err = png.Decode(bytes.NewReader(written))
	require.NoError(t, err)
	if os.Getenv("MFN_UPDATE_SCREENSHOT") == "1" {
		require.NoError(t, os.MkdirAll(filepath.Join("..", "..", "docs"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "screenshot.png"), written, 0o644))
		t.Log("updated docs/screenshot.png")
	}

	// Between runs the select switches the scale: the legend follows and the last field
	// is redrawn on it, flattening to a few colours on the full physiological range.
	before := eval(canvasHash).(string)
	do(chromedp.SetValue(chromedp.CSS("#range"), "full"))
	eval(`document.getElementById('range').dispatchEvent(new Event('change'))`)
	require.Equal(t, "−95 mV", text("#legend-min"))
	require.Equal(t, "+40 mV", text("#legend-max"))
	require.NotEqual(t, before, eval(canvasHash).(string))
	require.Less(t, int(eval(canvasColours).(float64)), detailColours/3)

	// At 375 px (a phone) nothing overflows sideways and the canvas fits.
	do(chromedp.EmulateViewport(375, 800), chromedp.Sleep(200*time.Millisecond))
	scrollW := eval(`document.documentElement.scrollWidth`).(float64)
	canvasW := eval(`document.getElementById('field').getBoundingClientRect().width`).(float64)
	require.LessOrEqual(t, scrollW, 375.0)
	require.Greater(t, canvasW, 200.0)
	require.LessOrEqual(t, canvasW, 375.0)
}
