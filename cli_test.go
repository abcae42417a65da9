package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/jobs"
	"mfn/render"
	"mfn/validation"
)

func runCLI(fn func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := fn(args, &out, &errb)
	return code, out.String(), errb.String()
}

func validateCLI(args []string, out, errb *bytes.Buffer) int { return runValidate(args, out, errb) }
func simulateCLI(args []string, out, errb *bytes.Buffer) int { return runSimulate(args, out, errb) }

func TestValidateCLIGolden(t *testing.T) {
	// numerical-core.md §14.3, seed 123, grid 32, steps 16.
	code, out, errOut := runCLI(validateCLI, "--mode", "validate", "--seed", "123", "--grid-size", "32", "--steps", "16")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 13)
	require.Equal(t, "=== MyceliumFractalNet v4.1 :: validation ===", lines[0])
	require.Equal(t, "pot_min_mV              : -71.726694", lines[4])
	require.Equal(t, "pot_max_mV              : -62.551169", lines[5])
	require.Equal(t, "example_fractal_dim     :  0.000000", lines[6])
	require.Equal(t, "lyapunov_exponent       : -2.134139", lines[7])
	require.Equal(t, "lyapunov_mean           : -2.175580", lines[8])
	require.Equal(t, "growth_events           :  5.000000", lines[9])
	require.Equal(t, "nernst_symbolic_mV      : -89.010669", lines[10])
	require.Equal(t, "nernst_rtfz_mV          :  26.712247", lines[12])

	// The CLI runs exactly what /validate runs for the same values.
	req := jobs.DefaultValidateRequest()
	req.Seed, req.GridSize, req.Steps = 123, 32, 16
	m, err := validation.Run(context.Background(), jobs.ValidationConfig(req))
	require.NoError(t, err)
	var want bytes.Buffer
	require.NoError(t, validation.Format(m, &want))
	require.Equal(t, want.String(), out)
}

func TestValidateCLIFlags(t *testing.T) {
	base := []string{"--seed", "7", "--grid-size", "16", "--steps", "8", "--batch-size", "8", "--epochs", "2"}
	code, withTuring, _ := runCLI(validateCLI, append(base, "--turing-enabled")...)
	require.Equal(t, 0, code)
	code, plain, _ := runCLI(validateCLI, base...)
	require.Equal(t, 0, code)
	require.Equal(t, plain, withTuring, "--turing-enabled is a no-op, as in the reference")

	code, noTuring, _ := runCLI(validateCLI, append(base, "--no-turing")...)
	require.Equal(t, 0, code)
	require.NotEqual(t, plain, noTuring)
	code, jitter, _ := runCLI(validateCLI, append(base, "-quantum-jitter")...)
	require.Equal(t, 0, code)
	require.NotEqual(t, plain, jitter)
}

func TestCLIErrors(t *testing.T) {
	type cli = func([]string, *bytes.Buffer, *bytes.Buffer) int
	for _, tc := range []struct {
		name    string
		fn      cli
		args    []string
		errHas  string
		wantOut bool
	}{
		{"validate bad mode", validateCLI, []string{"--mode", "train"}, "--mode: invalid choice", false},
		{"validate epochs 0", validateCLI, []string{"--epochs", "0"}, "--epochs: Input should be greater than or equal to 1", false},
		{"validate grid 4", validateCLI, []string{"--grid-size", "4"}, "--grid-size:", false},
		{"validate negative seed", validateCLI, []string{"--seed", "-1"}, "--seed:", false},
		{"validate seed not a number", validateCLI, []string{"--seed", "abc"}, "-seed", false},
		{"validate unknown flag", validateCLI, []string{"--bogus"}, "bogus", false},
		{"validate stray argument", validateCLI, []string{"extra"}, "unrecognized arguments: extra", false},
		{"simulate alpha 2", simulateCLI, []string{"--alpha", "2"}, "--alpha: Input should be less than or equal to 1.0", false},
		{"simulate alpha NaN", simulateCLI, []string{"--alpha", "NaN"}, "--alpha: Input should be a finite number", false},
		{"simulate steps 0", simulateCLI, []string{"--steps", "0"}, "--steps:", false},
		{"simulate threshold", simulateCLI, []string{"--threshold-mv", "100"}, "--threshold-mv:", false},
		{"simulate p", simulateCLI, []string{"--spike-probability", "-0.5"}, "--spike-probability:", false},
		{"simulate bad bool", simulateCLI, []string{"--turing-enabled=maybe"}, "turing-enabled", false},
		{"simulate seed overflow", simulateCLI, []string{"--seed", "9223372036854775808"}, "-seed", false},
		{"simulate png-size small", simulateCLI, []string{"--png", "x.png", "--png-size", "8"}, "--png-size: must be between 16 and 1024", false},
		{"simulate png-size big", simulateCLI, []string{"--png-size", "5000"}, "--png-size:", false},
		{"simulate png-size not a number", simulateCLI, []string{"--png-size", "big"}, "-png-size", false},
		{"simulate min above max", simulateCLI, []string{"--min-mv", "-60", "--max-mv", "-70"}, "--max-mv: must be greater than --min-mv", false},
		{"simulate min alone above default max", simulateCLI, []string{"--min-mv", "-60"}, "--min-mv: must be less than --max-mv", false},
		{"simulate min out of bounds", simulateCLI, []string{"--min-mv", "-500"}, "--min-mv: must be between -200 and 200 mV", false},
		{"simulate max NaN", simulateCLI, []string{"--max-mv", "NaN"}, "--max-mv: must be a finite number", false},
		{"simulate max Inf", simulateCLI, []string{"--max-mv", "+Inf"}, "--max-mv:", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.fn, tc.args...)
			require.Equal(t, 2, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tc.errHas)
			require.Contains(t, errOut, "Usage of mfn ")
		})
	}
}

func TestCLIHelp(t *testing.T) {
	for _, fn := range []func([]string, *bytes.Buffer, *bytes.Buffer) int{validateCLI, simulateCLI} {
		code, out, errOut := runCLI(fn, "-h")
		require.Equal(t, 0, code)
		require.Contains(t, out, "-seed")
		require.Empty(t, errOut)
	}
}

func TestSimulateCLI(t *testing.T) {
	// numerical-core.md §20.1: seed 42, grid 32, 50 steps → 17 events, min −70.82453196698339 mV.
	code, out, errOut := runCLI(simulateCLI, "--grid-size", "32", "--steps", "50")
	require.Equal(t, 0, code, errOut)
	var got jobs.SimulateResult
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, 17, got.GrowthEvents)
	require.Equal(t, -0.07082453196698339*1000, got.PotMinMV)
	require.Contains(t, out, `"pot_min_mV":`)
	require.Contains(t, out, `"fractal_dimension":`)

	for _, tc := range []struct {
		args []string
		set  func(*jobs.SimulateRequest)
	}{
		{[]string{"--seed", "5", "--grid-size", "16", "--steps", "20", "--turing-enabled=false"},
			func(r *jobs.SimulateRequest) { r.Seed, r.GridSize, r.Steps, r.TuringEnabled = 5, 16, 20, false }},
		{[]string{"--grid-size", "16", "--steps", "20", "--alpha", "0.1", "--spike-probability", "0.9", "--threshold-mv", "-70"},
			func(r *jobs.SimulateRequest) {
				r.GridSize, r.Steps, r.Alpha, r.SpikeProbability, r.ThresholdMV = 16, 20, 0.1, 0.9, -70
			}},
	} {
		code, out, errOut := runCLI(simulateCLI, tc.args...)
		require.Equal(t, 0, code, errOut)
		req := jobs.DefaultSimulateRequest()
		tc.set(&req)
		want, err := jobs.Execute(context.Background(), req)
		require.NoError(t, err)
		wantJSON, err := json.Marshal(want)
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), out)
	}
}

// pngCLI runs `mfn simulate` with --png into a temp file and decodes it.
func pngCLI(t *testing.T, args ...string) (string, image.Image) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "field.png")
	code, out, errOut := runCLI(simulateCLI, append([]string{"--png", path}, args...)...)
	require.Equal(t, 0, code, errOut)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	return out, img
}

func TestSimulateCLIPNG(t *testing.T) {
	base := []string{"--seed", "11", "--grid-size", "32", "--steps", "40"}
	code, plain, errOut := runCLI(simulateCLI, base...)
	require.Equal(t, 0, code, errOut)

	// The JSON result does not change with --png; default size is 4 px per cell, ≥ 64.
	out, img := pngCLI(t, base...)
	require.Equal(t, plain, out)
	require.Equal(t, image.Rect(0, 0, 128, 128), img.Bounds())
	_, small := pngCLI(t, "--grid-size", "8", "--steps", "3")
	require.Equal(t, image.Rect(0, 0, 64, 64), small.Bounds())

	out, sized := pngCLI(t, append(base, "--png-size", "100")...)
	require.Equal(t, plain, out)
	require.Equal(t, image.Rect(0, 0, 100, 100), sized.Bounds())

	// The picture is the final field on the requested range: the same pixels as
	// render.PNG of that field, which the default (detail) range shows with structure
	// and the full range nearly flattens.
	req := jobs.DefaultSimulateRequest()
	req.Seed, req.GridSize, req.Steps = 11, 32, 40
	var final []float64
	_, err := jobs.Execute(context.Background(), jobs.ObservedSimulation{SimulateRequest: req, Every: 1,
		Observe: func(s jobs.Snapshot) bool { final = append(final[:0], s.Field...); return true }})
	require.NoError(t, err)
	for _, tc := range []struct {
		args []string
		rng  render.Range
	}{
		{nil, render.DetailRange},
		{[]string{"--min-mv", "-95", "--max-mv", "40"}, render.FullRange},
		{[]string{"--max-mv", "-69"}, render.Range{MinMV: render.DetailRange.MinMV, MaxMV: -69}},
	} {
		_, got := pngCLI(t, append(base, tc.args...)...)
		want, err := render.Image(final, 32, 128, tc.rng)
		require.NoError(t, err)
		for y := 0; y < 128; y++ {
			for x := 0; x < 128; x++ {
				r1, g1, b1, _ := got.At(x, y).RGBA()
				r2, g2, b2, _ := want.At(x, y).RGBA()
				require.Equal(t, [3]uint32{r2, g2, b2}, [3]uint32{r1, g1, b1}, "%v pixel %d,%d", tc.args, x, y)
			}
		}
	}
	count := func(img image.Image) int {
		seen := map[[3]uint32]bool{}
		for y := 0; y < img.Bounds().Dy(); y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				seen[[3]uint32{r, g, b}] = true
			}
		}
		return len(seen)
	}
	_, full := pngCLI(t, append(base, "--min-mv", "-95", "--max-mv", "40")...)
	require.Greater(t, count(img), 3*count(full))

	// An unwritable path is a runtime failure (exit 1) naming the flag.
	code, _, errOut = runCLI(simulateCLI, "--grid-size", "8", "--steps", "2", "--png", filepath.Join(t.TempDir(), "missing", "f.png"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--png:")
}
