package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/jobs"
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
