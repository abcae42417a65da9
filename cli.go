package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"mfn/jobs"
	"mfn/render"
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
// --png FILE also writes the final field as a PNG (what POST /simulate/image answers),
// --png-size PX pixels a side (default 4 per cell, clamped to 64…1024; 16…1024 allowed),
// coloured over --min-mv…--max-mv (POST /simulate/image's min_mV/max_mV; default
// render.DetailRange, −71…−68 mV). --npy FILE writes the final field as a NumPy .npy
// (<f8, shape (N, N), volts); --npz FILE an .npz with "history" (the field after every
// --every-th step and after the last, shape (K, N, N)), "steps" (those steps, 1-based)
// and "field" (the final field); --include activator,inhibitor adds "<name>_history"
// (K, N, N) and the final "<name>" (N, N) for either Turing array (Turing on only); the
// history, all its arrays together, is limited to 256 MiB. The JSON result is the same
// with or without these files.
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
	pngPath := fs.String("png", "", "also write the final field as a PNG to this file")
	npyPath := fs.String("npy", "", "also write the final field as a NumPy .npy file (<f8, shape (N, N), volts)")
	npzPath := fs.String("npz", "", "also write the field history as a NumPy .npz file (history, steps, field)")
	every := fs.Int("every", 1, "with --npz: keep the field after every k-th step (and the last)")
	includeFlag := fs.String("include", "", "with --npz: also keep the Turing arrays, a comma-separated list of activator, inhibitor")
	pngSize := fs.Int("png-size", 0, fmt.Sprintf("PNG pixels per side (%d..%d; default 4 per cell, clamped to 64..1024)", minPNGSize, maxPNGSize))
	rng := render.DetailRange
	fs.Float64Var(&rng.MinMV, "min-mv", rng.MinMV, "PNG colour scale bottom, mV (full physiological range: -95)")
	fs.Float64Var(&rng.MaxMV, "max-mv", rng.MaxMV, "PNG colour scale top, mV (full physiological range: 40)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := req.Validate(); err != nil {
		return usageError(fs, stderr, flagError(err))
	}
	size := min(max(4*req.GridSize, 64), maxPNGSize)
	if isSet(fs, "png-size") {
		if *pngSize < minPNGSize || *pngSize > maxPNGSize {
			return usageError(fs, stderr, fmt.Errorf("--png-size: must be between %d and %d, got %d", minPNGSize, maxPNGSize, *pngSize))
		}
		size = *pngSize
	}
	if err := rangeFlagError(fs, rng); err != nil {
		return usageError(fs, stderr, err)
	}
	if *every < 1 {
		return usageError(fs, stderr, fmt.Errorf("--every: must be >= 1, got %d", *every))
	}
	include, err := parseInclude(*includeFlag, *npzPath != "", req.TuringEnabled)
	if err != nil {
		return usageError(fs, stderr, err)
	}
	if *npzPath != "" {
		if err := npzSizeError(req.GridSize, req.Steps, *every, 1+len(include)); err != nil {
			return usageError(fs, stderr, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var job jobs.Request = req
	var final, history []float64
	var frames []int64
	extra := make([][]float64, len(include)) // include[k]'s history
	if *pngPath != "" || *npyPath != "" || *npzPath != "" {
		// Observing leaves the run, and so the JSON result, exactly as without the files:
		// the observer only copies the field (which is valid only during the callback).
		obsEvery := req.Steps
		if *npzPath != "" {
			obsEvery = *every
		}
		job = jobs.ObservedSimulation{SimulateRequest: req, Every: obsEvery,
			Observe: func(s jobs.Snapshot) bool {
				final = append(final[:0], s.Field...)
				if *npzPath != "" {
					history = append(history, s.Field...)
					frames = append(frames, int64(s.Step+1))
					for k, name := range include {
						arr := s.Activator
						if name == "inhibitor" {
							arr = s.Inhibitor
						}
						extra[k] = append(extra[k], arr...)
					}
				}
				return true
			}}
	}
	res, err := jobs.Execute(ctx, job)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if *pngPath != "" {
		var buf bytes.Buffer
		if err := render.PNG(&buf, final, req.GridSize, size, rng); err != nil {
			fmt.Fprintf(stderr, "%s: render png: %v\n", name, err)
			return 1
		}
		if err := os.WriteFile(*pngPath, buf.Bytes(), 0o644); err != nil { // #nosec G306 -- the user's own output file, readable like any other; the umask narrows it
			fmt.Fprintf(stderr, "%s: --png: %v\n", name, err)
			return 1
		}
	}
	n := req.GridSize
	if *npyPath != "" {
		err := writeFileWith(*npyPath, func(w io.Writer) error {
			return render.WriteNPY(w, render.Array{Shape: []int{n, n}, Float64: final})
		})
		if err != nil {
			fmt.Fprintf(stderr, "%s: --npy: %v\n", name, err)
			return 1
		}
	}
	if *npzPath != "" {
		arrays := []render.Array{
			{Name: "history", Shape: []int{len(frames), n, n}, Float64: history},
			{Name: "steps", Shape: []int{len(frames)}, Int64: frames},
			{Name: "field", Shape: []int{n, n}, Float64: final},
		}
		for k, name := range include {
			// The history's last frame is the final array: no copy of its own.
			h := extra[k]
			arrays = append(arrays,
				render.Array{Name: name + "_history", Shape: []int{len(frames), n, n}, Float64: h},
				render.Array{Name: name, Shape: []int{n, n}, Float64: h[len(h)-n*n:]})
		}
		err := writeFileWith(*npzPath, func(w io.Writer) error { return render.WriteNPZ(w, arrays) })
		if err != nil {
			fmt.Fprintf(stderr, "%s: --npz: %v\n", name, err)
			return 1
		}
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintf(stderr, "%s: write output: %v\n", name, err)
		return 1
	}
	return 0
}

// maxNPZBytes bounds the field history `mfn simulate --npz` keeps in memory and writes.
const maxNPZBytes = 256 << 20

// npzSizeError refuses a history larger than maxNPZBytes, naming the --every that fits.
// Each frame holds arrays N×N arrays (the field, and the --include ones).
func npzSizeError(n, steps, every, arrays int) error {
	frame := int64(n) * int64(n) * 8 * int64(arrays)
	frames := int64((steps + every - 1) / every)
	if frames*frame <= maxNPZBytes {
		return nil
	}
	fit := max(maxNPZBytes/frame, 1)
	what := fmt.Sprintf("%d frames of %d×%d", frames, n, n)
	if arrays > 1 {
		what += fmt.Sprintf(" (%d arrays each)", arrays)
	}
	return fmt.Errorf("--every: a history of %s is %d MiB, over the %d MiB limit; use --every %d or more",
		what, frames*frame>>20, maxNPZBytes>>20, (int64(steps)+fit-1)/fit)
}

// parseInclude checks --include: a comma-separated list of activator and inhibitor,
// each once, only with --npz and with Turing on (the legacy simulator has no activator
// or inhibitor without it). The names keep the order given.
func parseInclude(flagValue string, npz, turing bool) ([]string, error) {
	if flagValue == "" {
		return nil, nil
	}
	if !npz {
		return nil, errors.New("--include: the activator and inhibitor go into the history: add --npz FILE")
	}
	if !turing {
		return nil, errors.New("--include: with --turing-enabled=false the simulator has no activator or inhibitor")
	}
	var names []string
	for _, name := range strings.Split(flagValue, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name != "activator" && name != "inhibitor":
			return nil, fmt.Errorf("--include: unknown array %q: expected activator or inhibitor", name)
		case slices.Contains(names, name):
			return nil, fmt.Errorf("--include: %q is named twice", name)
		}
		names = append(names, name)
	}
	return names, nil
}

// writeFileWith writes a file through write, removing it if write fails. The final
// Close is returned: on some file systems it is where a failed write shows.
func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path) // #nosec G304 -- the operator's own output path (--out)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write already failed and the file is removed
		if rerr := os.Remove(path); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return f.Close()
}

// PNG side limits for `mfn simulate --png-size`, those of POST /simulate/image.
const (
	minPNGSize = 16
	maxPNGSize = 1024
)

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// rangeFlagError checks --min-mv/--max-mv with render's rule and names the flag at
// fault; when min ≥ max, the one that was given is blamed (--max-mv if both were).
func rangeFlagError(fs *flag.FlagSet, r render.Range) error {
	err := r.Validate()
	var re *render.RangeError
	if !errors.As(err, &re) {
		return err
	}
	if re.End == "MinMV" {
		return fmt.Errorf("--min-mv: %s, got %v", re.Reason, r.MinMV)
	}
	if r.MinMV >= r.MaxMV && !isSet(fs, "max-mv") {
		return fmt.Errorf("--min-mv: must be less than --max-mv (%v), got %v", r.MaxMV, r.MinMV)
	}
	if r.MinMV >= r.MaxMV {
		return fmt.Errorf("--max-mv: must be greater than --min-mv (%v), got %v", r.MinMV, r.MaxMV)
	}
	return fmt.Errorf("--max-mv: %s, got %v", re.Reason, r.MaxMV)
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
