package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"mfn/dataset"
	"mfn/jobs"
)

// datasetRequest is POST /datasets: a preset by name or an explicit sweep.
type datasetRequest struct {
	Preset *string      `json:"preset"`
	Sweep  *sweepConfig `json:"sweep"`
	// Seed is the base seed: sample i uses seed + i (`mfn dataset --seed`).
	Seed *int64 `json:"seed"`
	// Format is csv (default), ndjson or parquet.
	Format *string `json:"format"`
}

// sweepConfig is an explicit sweep: the product grid_sizes × steps × alpha_values ×
// turing_enabled, seeds_per_config samples each. Absent lists take the minimal sweep's.
type sweepConfig struct {
	GridSizes      []int     `json:"grid_sizes"`
	Steps          []int     `json:"steps"`
	AlphaValues    []float64 `json:"alpha_values"`
	TuringEnabled  []bool    `json:"turing_enabled"`
	SeedsPerConfig *int      `json:"seeds_per_config"`
}

// Admitter runs a pool's admission checks (cost model and limits) without running the
// job; *jobs.Pool satisfies it. Without it, /datasets refuses nothing beyond the
// samples' own validation.
type Admitter interface {
	Admit(req jobs.Request) (jobs.Cost, error)
}

// Waiter runs a job, waiting for room in the queue rather than answering busy;
// *jobs.Pool satisfies it. /datasets uses it when the Runner has it, so that a
// dataset's samples queue behind each other instead of failing on a full lane.
type Waiter interface {
	DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

var datasetContentTypes = map[string]string{
	"csv":     "text/csv; charset=utf-8",
	"ndjson":  "application/x-ndjson",
	"parquet": "application/vnd.apache.parquet",
}

// samples resolves the request to its samples, the name of the field that chose them
// (for limit errors) and whether rows carry scenario_name (preset mode, as `mfn
// dataset`).
func (r datasetRequest) samples() ([]dataset.Sample, string, bool, error) {
	seed := int64(dataset.DefaultSeed)
	if r.Seed != nil {
		if *r.Seed < 0 {
			return nil, "", false, &jobs.ValidationError{Field: "seed", Type: "greater_than_equal", Input: *r.Seed,
				Ctx: map[string]any{"ge": 0}, Reason: "Input should be greater than or equal to 0"}
		}
		seed = *r.Seed
	}
	switch {
	case r.Preset != nil && r.Sweep != nil:
		return nil, "", false, &jobs.ValidationError{Field: "sweep", Type: "value_error",
			Reason: "Value error, give either preset or sweep, not both"}
	case r.Preset != nil:
		p, err := dataset.Preset(*r.Preset)
		if err != nil {
			return nil, "", false, &jobs.ValidationError{Field: "preset", Type: "value_error", Input: *r.Preset,
				Reason: fmt.Sprintf("Value error, unknown preset %q (choose from small, medium, large, benchmark)", *r.Preset)}
		}
		p.BaseSeed = seed
		return p.Samples(), "preset", true, nil
	case r.Sweep != nil:
		s, _ := dataset.SweepByName("minimal")
		s.BaseSeed = seed
		sc := r.Sweep
		if sc.GridSizes != nil {
			s.GridSizes = sc.GridSizes
		}
		if sc.Steps != nil {
			s.Steps = sc.Steps
		}
		if sc.AlphaValues != nil {
			s.Alphas = sc.AlphaValues
		}
		if sc.TuringEnabled != nil {
			s.Turing = sc.TuringEnabled
		}
		if sc.SeedsPerConfig != nil {
			s.SeedsPerConfig = *sc.SeedsPerConfig
		}
		// The product is checked before the samples are made: lists of a few thousand
		// entries each would otherwise allocate billions of samples.
		n := 1.0
		for field, l := range map[string]int{"grid_sizes": len(s.GridSizes), "steps": len(s.Steps),
			"alpha_values": len(s.Alphas), "turing_enabled": len(s.Turing), "seeds_per_config": s.SeedsPerConfig} {
			if l < 1 {
				return nil, "", false, &jobs.ValidationError{Field: "sweep." + field, Type: "value_error",
					Reason: "Value error, must not be empty (seeds_per_config: at least 1)"}
			}
			n *= float64(l)
		}
		if n > dataset.MaxSamples {
			return nil, "", false, &jobs.ValidationError{Field: "sweep", Type: "value_error",
				Ctx:    map[string]any{"max_samples": dataset.MaxSamples},
				Reason: fmt.Sprintf("Value error, the sweep has %.0f samples, more than %d", math.Min(n, 1e18), dataset.MaxSamples)}
		}
		return s.Samples(), "sweep", false, nil
	}
	return nil, "", false, &jobs.ValidationError{Field: "preset", Type: "missing",
		Reason: "Field required: give a preset (small, medium, large, benchmark) or a sweep"}
}

// datasets answers POST /datasets: the rows `mfn dataset` writes for the same preset or
// sweep and seed (the CSV is the same bytes), each sample a pool job. csv and ndjson
// stream the rows in sim_id order as they complete; parquet is written once every row
// is in. Before anything runs, the dataset is admitted as a whole by the cost model
// (pool.limits.max_dataset_samples and max_dataset_work_seconds: 422 naming preset or
// sweep). The request's context (client gone, server.request_timeout) cancels the
// samples. Samples that fail (the engine's alpha ≥ 0.05 rule) are skipped as the
// reference does and counted in the X-MFN-Failed-Samples trailer; a failure of the
// server itself after the first byte cuts the response, so a client never takes a
// partial dataset for a whole one.
func (h *API) datasets(c echo.Context) error {
	var req datasetRequest
	if err := h.body.bind(c, &req); err != nil {
		return err
	}
	format := "csv"
	if req.Format != nil {
		format = *req.Format
	}
	if datasetContentTypes[format] == "" {
		return &jobs.ValidationError{Field: "format", Type: "value_error", Input: format,
			Reason: "Input should be 'csv', 'ndjson' or 'parquet'"}
	}
	samples, field, withScenario, err := req.samples()
	if err != nil {
		return err
	}
	whole := jobs.DatasetRequest{Samples: samples, Field: field}
	if a, ok := h.run.(Admitter); ok {
		if _, err := a.Admit(whole); err != nil {
			return err
		}
	} else if err := whole.Validate(); err != nil {
		return err
	}

	ctx, cancel := h.jobContext(c)
	defer cancel()
	rows, wait := h.runSamples(ctx, samples)
	defer wait()

	name := "sweep"
	if req.Preset != nil {
		name = *req.Preset
	}
	w := c.Response()
	started := false
	var buf []byte
	// begin sends the status and headers: at the first row for csv and ndjson, at the
	// end for parquet, so that errors before it are still an error envelope.
	begin := func() error {
		started = true
		hdr := w.Header()
		hdr.Set(echo.HeaderContentType, datasetContentTypes[format])
		hdr.Set(echo.HeaderContentDisposition,
			fmt.Sprintf(`attachment; filename="dataset-%s-seed%d.%s"`, name, samples[0].RandomSeed, format))
		hdr.Set("X-MFN-Samples", strconv.Itoa(len(samples)))
		hdr.Set("Trailer", "X-MFN-Failed-Samples")
		w.WriteHeader(http.StatusOK)
		if format == "csv" {
			buf = dataset.AppendCSVHeader(buf[:0], withScenario)
			_, err := w.Write(buf)
			return err
		}
		return nil
	}

	failed := 0
	var kept []dataset.Row // parquet only
	for r := range rows {
		if r.err != nil {
			if isSampleFailure(r.err) {
				failed++
				continue
			}
			if !started {
				return r.err // nothing sent yet: the error envelope
			}
			panic(http.ErrAbortHandler) // cut the stream: a partial dataset must not look whole
		}
		if format == "parquet" {
			kept = append(kept, r.row)
			continue
		}
		if !started {
			if err := begin(); err != nil {
				return nil // the client went away; wait stops the samples
			}
		}
		switch format {
		case "csv":
			buf = r.row.AppendCSV(buf[:0], withScenario)
		case "ndjson":
			buf = appendNDJSON(buf[:0], r.row, withScenario)
		}
		if _, err := w.Write(buf); err != nil {
			return nil
		}
		w.Flush()
	}
	if err := ctx.Err(); err != nil {
		if !started {
			return err
		}
		panic(http.ErrAbortHandler)
	}
	if !started {
		if err := begin(); err != nil {
			return nil
		}
	}
	if format == "parquet" {
		if err := dataset.WriteParquet(w, kept, withScenario); err != nil {
			panic(http.ErrAbortHandler)
		}
	}
	w.Header().Set("X-MFN-Failed-Samples", strconv.Itoa(failed))
	return nil
}

// isSampleFailure tells a sample the science refused (the engine's alpha ≥ 0.05 rule;
// skipped, as the reference does) from a failure of the server (pool closed, a panic,
// the request's context).
func isSampleFailure(err error) bool {
	return !errors.Is(err, jobs.ErrInternal) && !errors.Is(err, jobs.ErrClosed) && !errors.Is(err, jobs.ErrBusy) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

type sampleOutcome struct {
	row dataset.Row
	err error
}

// runSamples runs the samples on the Runner, at most GOMAXPROCS at once for this
// request, and yields their outcomes in sim_id order as they complete. wait cancels
// what is left (a no-op once every row was read) and returns once every started sample
// has returned; call it before the handler returns.
func (h *API) runSamples(ctx context.Context, samples []dataset.Sample) (<-chan sampleOutcome, func()) {
	ctx, cancel := context.WithCancel(ctx)
	do := h.run.Do
	if w, ok := h.run.(Waiter); ok {
		do = w.DoWait
	}
	window := runtime.GOMAXPROCS(0)
	type slot struct {
		done chan struct{}
		out  sampleOutcome
	}
	// The queue bounds the samples in flight: a slot enters it before its sample starts
	// and leaves it when its row is yielded.
	queue := make(chan *slot, window)
	out := make(chan sampleOutcome)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(queue)
		for _, s := range samples {
			sl := &slot{done: make(chan struct{})}
			select {
			case queue <- sl:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer close(sl.done)
				res, err := do(ctx, jobs.DatasetSampleRequest{Sample: s})
				if err != nil {
					sl.out.err = err
					return
				}
				sl.out.row = res.(jobs.DatasetRowResult).Row
			})
		}
	})
	stop := make(chan struct{})
	wg.Go(func() {
		defer close(out)
		for sl := range queue {
			<-sl.done
			select {
			case out <- sl.out:
			case <-stop:
				// The handler stopped reading: drain the rest so the feeder ends.
				for range queue {
				}
				return
			}
		}
	})
	var once sync.Once
	return out, func() {
		once.Do(func() { cancel(); close(stop) })
		wg.Wait()
	}
}

// appendNDJSON appends the row as one JSON object, keys in column order; a NaN or ±Inf
// feature (which JSON cannot hold) is null.
func appendNDJSON(buf []byte, r dataset.Row, withScenario bool) []byte {
	cols := dataset.Columns(withScenario)
	buf = append(buf, '{')
	for i, v := range r.Values(withScenario) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, cols[i].Name)
		buf = append(buf, ':')
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				buf = append(buf, "null"...)
				continue
			}
			buf = strconv.AppendFloat(buf, x, 'g', -1, 64)
		default:
			b, _ := json.Marshal(x)
			buf = append(buf, b...)
		}
	}
	return append(buf, '}', '\n')
}
