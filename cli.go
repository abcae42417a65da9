package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"mfn/jobs"
	"mfn/validation"
)

// runValidate is `mfn validate [flags]`: the reference CLI's flags and output. Returns the exit code.
//
// Flags follow mycelium_fractal_net_v4_1.py (integration-ops.md §11.1): --mode validate,
// --seed 42, --epochs 1, --batch-size 4, --grid-size 64, --steps 64, --turing-enabled
// (a no-op, as in the reference), --no-turing, --quantum-jitter. Unlike the reference,
// values go through the one rule set of jobs (the /validate ranges). Exit codes: 0 done,
// 1 the run failed or was interrupted, 2 bad flags or values (message names the flag).
func runValidate(args []string, stdout, stderr io.Writer) int {
	const name = "mfn validate"
	def := jobs.DefaultValidateRequest()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	mode := fs.String("mode", "validate", "run mode (only choice: validate)")
	seed := fs.Int64("seed", def.Seed, "random seed (>= 0)")
	epochs := fs.Int("epochs", def.Epochs, "training epochs (1..100)")
	batch := fs.Int("batch-size", def.BatchSize, "training batch size (1..64)")
	grid := fs.Int("grid-size", def.GridSize, "field grid size N for N×N (8..256)")
	steps := fs.Int("steps", def.Steps, "simulation steps (1..1000)")
	_ = fs.Bool("turing-enabled", true, "enable Turing morphogenesis (no-op: already on, as in the reference)")
	noTuring := fs.Bool("no-turing", false, "disable Turing morphogenesis")
	jitter := fs.Bool("quantum-jitter", def.QuantumJitter, "enable quantum jitter")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *mode != "validate" {
		return usageError(fs, stderr, fmt.Errorf("--mode: invalid choice: %q (choose from \"validate\")", *mode))
	}
	req := jobs.ValidateRequest{
		Seed:          *seed,
		Epochs:        *epochs,
		BatchSize:     *batch,
		GridSize:      *grid,
		Steps:         *steps,
		TuringEnabled: !*noTuring,
		QuantumJitter: *jitter,
	}
	if err := req.Validate(); err != nil {
		return usageError(fs, stderr, flagError(err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The CLI prints all 12 metrics (the API exposes 10), so it calls the cycle
	// directly, with the same configuration /validate would use.
	m, err := validation.Run(ctx, jobs.ValidationConfig(req))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := validation.Format(m, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: write output: %v\n", name, err)
		return 1
	}
	return 0
}

// runSimulate is `mfn simulate [flags]`: flags = /simulate request fields; JSON result on stdout.
//
// Flags: --seed, --grid-size, --steps, --alpha, --spike-probability,
// --turing-enabled=bool, --threshold-mv, with the /simulate defaults and ranges.
// Exit codes as runValidate.
func runSimulate(args []string, stdout, stderr io.Writer) int {
	const name = "mfn simulate"
	req := jobs.DefaultSimulateRequest()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Int64Var(&req.Seed, "seed", req.Seed, "random seed (>= 0)")
	fs.IntVar(&req.GridSize, "grid-size", req.GridSize, "field grid size N for N×N (8..256)")
	fs.IntVar(&req.Steps, "steps", req.Steps, "simulation steps (1..1000)")
	fs.Float64Var(&req.Alpha, "alpha", req.Alpha, "diffusion coefficient (0..1; stable up to 0.25)")
	fs.Float64Var(&req.SpikeProbability, "spike-probability", req.SpikeProbability, "per-step growth spike probability (0..1)")
	fs.BoolVar(&req.TuringEnabled, "turing-enabled", req.TuringEnabled, "enable Turing morphogenesis (--turing-enabled=false to disable)")
	fs.Float64Var(&req.ThresholdMV, "threshold-mv", req.ThresholdMV, "binarisation threshold for fractal_dimension, mV (-95..40)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := req.Validate(); err != nil {
		return usageError(fs, stderr, flagError(err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := jobs.Execute(ctx, req)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintf(stderr, "%s: write output: %v\n", name, err)
		return 1
	}
	return 0
}

// parseFlags parses args; ok is false when the caller must return code: 0 after -h
// (usage on stdout, as argparse does), 2 after a bad flag or a stray argument.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard) // errors are printed once, below, with our prefix
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return 0, false
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unrecognized arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err != nil {
		return usageError(fs, stderr, err), false
	}
	return 0, true
}

// usageError prints err and the flag list on stderr and returns exit code 2.
func usageError(fs *flag.FlagSet, stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
	fs.SetOutput(stderr)
	fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
	fs.PrintDefaults()
	return 2
}

// flagError renames a request field in a validation error to the flag that sets it
// (grid_size → --grid-size, threshold_mV → --threshold-mv).
func flagError(err error) error {
	var ve *jobs.ValidationError
	if errors.As(err, &ve) {
		return fmt.Errorf("--%s: %s", strings.ToLower(strings.ReplaceAll(ve.Field, "_", "-")), ve.Reason)
	}
	return err
}
