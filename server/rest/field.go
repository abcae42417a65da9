package rest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

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
	// Include asks the .npz for the Turing arrays too: "activator" and/or "inhibitor".
	Include []string `json:"include"`
}

// includable are the arrays include may name, in the order the .npz holds them.
var includable = []string{"activator", "inhibitor"}

// checkInclude validates include: known names, each once, only into an .npz and only
// with Turing on (the legacy simulator draws no activator or inhibitor without it, so
// there is nothing to export). It returns which of includable were asked for.
func checkInclude(include []string, format string, turing bool) ([]bool, error) {
	want := make([]bool, len(includable))
	if len(include) == 0 {
		return want, nil
	}
	refuse := func(reason string, input any) error {
		return &jobs.ValidationError{Field: "include", Type: "value_error", Input: input, Reason: "Value error, " + reason}
	}
	if format != "npz" {
		return nil, refuse("the activator and inhibitor are history arrays: use format npz (or every)", include)
	}
	if !turing {
		return nil, refuse("with turing_enabled false the simulator has no activator or inhibitor", include)
	}
	for _, name := range include {
		k := slices.Index(includable, name)
		switch {
		case k < 0:
			return nil, refuse("unknown array "+strconv.Quote(name)+": expected 'activator' or 'inhibitor'", name)
		case want[k]:
			return nil, refuse(strconv.Quote(name)+" is named twice", name)
		}
		want[k] = true
	}
	return want, nil
}

// field answers POST /simulate/field: the run /simulate would do, as NumPy arrays. The
// .npy is the final potential field, <f8, shape (N, N), in volts; the .npz holds
// "history" (K, N, N), "steps" (K,) int64 (1-based step of each frame) and "field"
// (N, N), as `mfn simulate --npz` writes it; include adds "<name>_history" (K, N, N)
// and the final "<name>" (N, N) for the activator and/or inhibitor. The history (every
// array of it) is counted in the job's cost (pool.limits.max_field_history_bytes, 422
// naming every beyond it), so it is refused before the run. The /simulate numbers ride along in X-MFN-Metrics.
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
	want, err := checkInclude(req.Include, format, req.TuringEnabled)
	if err != nil {
		return err
	}
	n, steps := req.GridSize, req.Steps
	obs := jobs.ObservedSimulation{SimulateRequest: req.SimulateRequest, Every: steps}
	var final, history []float64
	var frames []int64
	// extra[k] is includable[k]'s history, when asked.
	extra := make([][]float64, len(includable))
	if format == "npz" {
		obs.Every = every
		obs.HistoryFrames = (steps + every - 1) / every // every k-th step, and the last
		obs.HistoryArrays = 1
		for _, w := range want {
			if w {
				obs.HistoryArrays++
			}
		}
	}
	obs.Observe = func(s jobs.Snapshot) bool {
		// The arrays are only valid during the callback: copy what is kept.
		final = append(final[:0], s.Field...)
		if format == "npz" {
			history = append(history, s.Field...)
			frames = append(frames, int64(s.Step+1))
			for k, arr := range [][]float64{s.Activator, s.Inhibitor} {
				if want[k] {
					extra[k] = append(extra[k], arr...)
				}
			}
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
		arrays := []render.Array{
			{Name: "history", Shape: []int{len(frames), n, n}, Float64: history},
			{Name: "steps", Shape: []int{len(frames)}, Int64: frames},
			{Name: "field", Shape: []int{n, n}, Float64: final},
		}
		for k, name := range includable {
			if want[k] {
				// The last frame of the history is the final array: no copy of its own.
				h := extra[k]
				arrays = append(arrays,
					render.Array{Name: name + "_history", Shape: []int{len(frames), n, n}, Float64: h},
					render.Array{Name: name, Shape: []int{n, n}, Float64: h[len(h)-n*n:]})
			}
		}
		err = render.WriteNPZ(c.Response(), arrays)
	}
	if err != nil {
		h.log.Debug("field download cut short", zap.Error(err))
	}
	return nil
}
