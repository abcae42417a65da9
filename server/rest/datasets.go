package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"

	"github.com/labstack/echo/v4"

	"mfn/dataset"
	"mfn/jobs"
)

// datasetRequest is POST /datasets: the dataset (a preset or an explicit sweep, and the
// base seed) and the format of the download.
type datasetRequest struct {
	jobs.DatasetSpec
	// Format is csv (default), ndjson or parquet.
	Format *string `json:"format"`
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
	whole := req.Request()
	if a, ok := h.run.(Admitter); ok {
		if _, err := a.Admit(whole); err != nil {
			return err
		}
	} else if err := whole.Validate(); err != nil {
		return err
	}

	samples, withScenario := whole.Samples, whole.WithScenario
	ctx, cancel := h.jobContext(c)
	defer cancel()
	run := h.run.Do
	if w, ok := h.run.(Waiter); ok {
		run = w.DoWait
	}

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
	var streamErr error    // a failure of the server, not of a sample
	jobs.StreamDataset(ctx, whole, run, runtime.GOMAXPROCS(0), func(row dataset.Row, err error) bool {
		if err != nil {
			if isSampleFailure(err) {
				failed++
				return true
			}
			streamErr = err
			return false
		}
		if format == "parquet" {
			kept = append(kept, row)
			return true
		}
		if !started {
			if streamErr = begin(); streamErr != nil {
				return false // the client went away
			}
		}
		if format == "csv" {
			buf = row.AppendCSV(buf[:0], withScenario)
		} else {
			buf = append(row.AppendJSON(buf[:0], withScenario), '\n')
		}
		if _, streamErr = w.Write(buf); streamErr != nil {
			return false
		}
		w.Flush()
		return true
	})
	if streamErr == nil {
		streamErr = ctx.Err()
	}
	if streamErr != nil {
		if !started {
			return streamErr // nothing sent yet: the error envelope
		}
		panic(http.ErrAbortHandler) // cut the stream: a partial dataset must not look whole
	}
	if format == "parquet" {
		if err := begin(); err != nil {
			return nil
		}
		if err := dataset.WriteParquet(w, kept, withScenario); err != nil {
			panic(http.ErrAbortHandler)
		}
	} else if !started {
		if err := begin(); err != nil {
			return nil
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
