package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mfn/dataset"
	"mfn/jobs"
)

// datasetTip is the reference's hint when neither --preset nor --sweep is given.
const datasetTip = "Tip: Use --preset small for a quick test run."

// runDataset is `mfn dataset`: the reference's experiments.generate_dataset CLI
// (integration-ops.md §11.4). --preset runs a scenario (small, medium, large, benchmark)
// and writes data/scenarios/<scenario>/<YYYYMMDD_HHMMSS>/dataset.<format> unless
// --output is given; --sweep runs a parameter sweep (minimal, default, extended) into
// --output (default data/mycelium_dataset.<format>). --seed sets the base seed (sample i
// uses seed + i), --format parquet|csv, --workers the pool size (default GOMAXPROCS).
// The rows are the same whatever the number of workers. A progress bar is drawn on
// stderr when it is a terminal. Samples that fail are skipped and counted, as in the
// reference; a run with no successful sample writes nothing and exits 1.
func runDataset(args []string, stdout, stderr io.Writer) int {
	const name = "mfn dataset"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	preset := fs.String("preset", "", "scenario preset: "+strings.Join(dataset.PresetNames(), ", "))
	fs.StringVar(preset, "p", "", "shorthand for --preset")
	sweep := fs.String("sweep", "", "parameter sweep: "+strings.Join(dataset.SweepNames(), ", "))
	seed := fs.Int64("seed", dataset.DefaultSeed, "base random seed (>= 0); sample i uses seed + i")
	format := fs.String("format", "parquet", "output format: parquet or csv")
	output := fs.String("output", "", "output file (default: a timestamped path under data/scenarios for a preset, data/mycelium_dataset.<format> for a sweep)")
	fs.StringVar(output, "o", "", "shorthand for --output")
	workers := fs.Int("workers", 0, "samples run at once (0 = GOMAXPROCS)")
	list := fs.Bool("list-presets", false, "list the presets and sweeps and exit")
	_ = fs.Bool("verbose", false, "accepted for compatibility (no effect)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *list {
		for _, n := range dataset.PresetNames() {
			p, _ := dataset.Preset(n)
			fmt.Fprintf(stdout, "%-10s %s: grid %d, steps %d, samples %d — %s\n", n, p.Name, p.GridSize, p.Steps, p.NumSamples, p.Description)
		}
		for _, n := range dataset.SweepNames() {
			s, _ := dataset.SweepByName(n)
			fmt.Fprintf(stdout, "sweep %-8s %d samples\n", n, len(s.Samples()))
		}
		return 0
	}
	if *preset == "" && *sweep == "" {
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage of %s:\n", name)
		fs.PrintDefaults()
		fmt.Fprintln(stdout, "\n"+datasetTip)
		return 0
	}
	if *preset != "" && *sweep != "" {
		return usageError(fs, stderr, errors.New("--preset and --sweep are exclusive"))
	}
	if *format != "parquet" && *format != "csv" {
		return usageError(fs, stderr, fmt.Errorf("--format: must be parquet or csv, got %q", *format))
	}
	if *seed < 0 {
		return usageError(fs, stderr, fmt.Errorf("--seed: must be >= 0, got %d", *seed))
	}
	if *workers < 0 || *workers > 1024 {
		return usageError(fs, stderr, fmt.Errorf("--workers: must be between 0 (GOMAXPROCS) and 1024, got %d", *workers))
	}

	var samples []dataset.Sample
	withScenario := *preset != ""
	path := *output
	if withScenario {
		p, err := dataset.Preset(*preset)
		if err != nil {
			return usageError(fs, stderr, fmt.Errorf("--preset: %s", strings.TrimPrefix(err.Error(), "dataset: preset: ")))
		}
		p.BaseSeed = *seed
		samples = p.Samples()
		if path == "" {
			path = filepath.Join("data", filepath.FromSlash(p.Dir), time.Now().Format("20060102_150405"), "dataset."+*format)
		}
		fmt.Fprintf(stdout, "Scenario: %s\nDescription: %s\nGrid: %d×%d, steps: %d, samples: %d\n",
			p.Name, p.Description, p.GridSize, p.GridSize, p.Steps, len(samples))
	} else {
		s, err := dataset.SweepByName(*sweep)
		if err != nil {
			return usageError(fs, stderr, fmt.Errorf("--sweep: %s", strings.TrimPrefix(err.Error(), "dataset: sweep: ")))
		}
		s.BaseSeed = *seed
		samples = s.Samples()
		if path == "" {
			path = filepath.Join("data", "mycelium_dataset."+*format)
		}
		fmt.Fprintf(stdout, "Sweep: %s, samples: %d\n", *sweep, len(samples))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var bar *progressBar
	if isTerminal(stderr) {
		bar = &progressBar{w: stderr, total: len(samples)}
	}
	rows, failed, err := generate(ctx, samples, *workers, bar.step)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	elapsed := time.Since(start)
	if len(rows) == 0 {
		fmt.Fprintf(stderr, "%s: no successful simulations (%d/%d failed)\n", name, failed, len(samples))
		return 1
	}
	if err := dataset.WriteFile(path, *format, rows, withScenario); err != nil {
		fmt.Fprintf(stderr, "%s: write %s: %v\n", name, path, err)
		return 1
	}
	fmt.Fprintf(stdout, "Output: %s\nRows: %d\nColumns: %d\nFailed: %d\nTime: %.2fs\n",
		path, len(rows), len(dataset.Columns(withScenario)), failed, elapsed.Seconds())
	return 0
}

// generate runs every sample on a jobs.Pool of the given size and returns the rows of
// the successful ones in sim_id order (so the output does not depend on scheduling) and
// the number that failed. ctx ending stops it with ctx's error. progress (may be nil)
// is called once per finished sample.
func generate(ctx context.Context, samples []dataset.Sample, workers int, progress func()) ([]dataset.Row, int, error) {
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pool, err := jobs.NewPool(jobs.PoolConfig{Workers: workers, QueueSize: workers}, nil)
	if err != nil {
		return nil, 0, err
	}
	poolCtx, stopPool := context.WithCancel(context.Background())
	var poolDone sync.WaitGroup
	poolDone.Go(func() { _ = pool.Run(poolCtx) })
	defer func() { stopPool(); poolDone.Wait() }()

	results := make([]*dataset.Row, len(samples))
	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var submitters sync.WaitGroup
	// One submitter per worker keeps every worker busy; DoWait blocks on a full queue.
	for range workers {
		submitters.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(samples) || ctx.Err() != nil {
					return
				}
				res, err := pool.DoWait(ctx, jobs.DatasetSampleRequest{Sample: samples[i]})
				switch {
				case err == nil:
					row := res.(jobs.DatasetRowResult).Row
					results[i] = &row
				case ctx.Err() != nil:
					return
				case errors.Is(err, jobs.ErrClosed), errors.Is(err, jobs.ErrInternal):
					errOnce.Do(func() { firstErr = err })
					return
				default:
					failed.Add(1) // the reference logs and skips a failed sample
				}
				if progress != nil {
					progress()
				}
			}
		})
	}
	submitters.Wait()
	if progress != nil {
		progress() // final redraw ends the bar's line
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if firstErr != nil {
		return nil, 0, firstErr
	}
	rows := make([]dataset.Row, 0, len(samples))
	for _, r := range results {
		if r != nil {
			rows = append(rows, *r)
		}
	}
	return rows, int(failed.Load()), nil
}

// progressBar draws "[#####-----]  37/100" on one terminal line; safe for concurrent use.
type progressBar struct {
	w     io.Writer
	total int
	mu    sync.Mutex
	done  int
	ended bool
}

// step counts one finished sample and redraws; a call beyond total ends the line.
// A nil bar does nothing, so callers need no branch.
func (b *progressBar) step() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	if b.done >= b.total {
		b.ended = true
		fmt.Fprintln(b.w)
		return
	}
	b.done++
	const width = 30
	filled := width * b.done / max(b.total, 1)
	fmt.Fprintf(b.w, "\r[%s%s] %*d/%d", strings.Repeat("#", filled), strings.Repeat("-", width-filled),
		len(fmt.Sprint(b.total)), b.done, b.total)
}

// isTerminal reports whether w is a character device (a terminal), so that the
// progress bar never ends up in a redirected log or file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
