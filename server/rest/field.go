package rest

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"mfn/jobs"
	"mfn/render"
)

// fieldRequest is /simulate's body plus the download's options.
type fieldRequest struct {
	jobs.SimulateRequest
	// Every keeps the field after every k-th step (and after the last) in an .npz.
	Every *int `json:"every"`
	// Format is npy (the final field; the default without every) or npz (the history,
	// the steps and the final field; the default with every).
	Format *string `json:"format"`
}

// field answers POST /simulate/field: the run /simulate would do, as NumPy arrays. The
// .npy is the final potential field, <f8, shape (N, N), in volts; the .npz holds
// "history" (K, N, N), "steps" (K,) int64 (1-based step of each frame) and "field"
// (N, N), as `mfn simulate --npz` writes it. The history is counted in the job's cost
// (pool.limits.max_field_history_bytes, 422 naming every beyond it), so it is refused
// before the run. The /simulate numbers ride along in X-MFN-Metrics.
func (h *API) field(c echo.Context) error {
	req := fieldRequest{SimulateRequest: jobs.DefaultSimulateRequest()}
	if err := h.body.bind(c, &req); err != nil {
		return err
	}
	if err := req.SimulateRequest.Validate(); err != nil {
		return err
	}
	format := "npy"
	if req.Every != nil {
		format = "npz"
	}
	if req.Format != nil {
		format = *req.Format
	}
	switch {
	case format != "npy" && format != "npz":
		return &jobs.ValidationError{Field: "format", Type: "value_error", Input: format,
			Reason: "Input should be 'npy' or 'npz'"}
	case format == "npy" && req.Every != nil:
		return &jobs.ValidationError{Field: "format", Type: "value_error", Input: format,
			Reason: "Value error, an .npy holds one field: use format npz for the history that every asks for"}
	}
	every, err := intField("every", req.Every, 1, 1, jobs.MaxSteps)
	if err != nil {
		return err
	}
	n, steps := req.GridSize, req.Steps
	obs := jobs.ObservedSimulation{SimulateRequest: req.SimulateRequest, Every: steps}
	var final, history []float64
	var frames []int64
	if format == "npz" {
		obs.Every = every
		obs.HistoryFrames = (steps + every - 1) / every // every k-th step, and the last
	}
	obs.Observe = func(s jobs.Snapshot) bool {
		// The field is only valid during the callback: copy what is kept.
		final = append(final[:0], s.Field...)
		if format == "npz" {
			history = append(history, s.Field...)
			frames = append(frames, int64(s.Step+1))
		}
		return true
	}
	ctx, cancel := h.jobContext(c)
	defer cancel()
	res, err := h.run.Do(ctx, obs)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	metricsHeader(c, res)
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, echo.MIMEOctetStream)
	hdr.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="field-seed%d-n%d-steps%d.%s"`, req.Seed, n, steps, format))
	c.Response().WriteHeader(http.StatusOK)
	// Written straight to the client: the arrays are not copied once more. A write
	// error here is the client going away; the status is already sent.
	if format == "npy" {
		err = render.WriteNPY(c.Response(), render.Array{Shape: []int{n, n}, Float64: final})
	} else {
		err = render.WriteNPZ(c.Response(), []render.Array{
			{Name: "history", Shape: []int{len(frames), n, n}, Float64: history},
			{Name: "steps", Shape: []int{len(frames)}, Int64: frames},
			{Name: "field", Shape: []int{n, n}, Float64: final},
		})
	}
	if err != nil {
		h.log.Debug("field download cut short", zap.Error(err))
	}
	return nil
}
