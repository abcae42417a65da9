package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"mfn/jobs"
	"mfn/render"
)

// Image endpoint limits. A GIF is bounded in frames and in total pixels so that one
// request cannot allocate more than ≈13 MiB of frames; over a cap is a 422 naming the
// field to change.
const (
	minImageSize        = 16
	maxImageSize        = 1024
	maxAnimationSize    = 512
	maxAnimationFrames  = 200
	maxAnimationPixels  = 256 * 256 * maxAnimationFrames
	defaultAnimFrames   = 50
	defaultAnimDelayMS  = 80
	maxAnimationDelayMS = 10_000
)

// imageRequest is /simulate's body plus the picture's own options.
type imageRequest struct {
	jobs.SimulateRequest
	Size    *int `json:"size"`     // pixels per side
	Every   *int `json:"every"`    // animation: one frame every k steps
	DelayMS *int `json:"delay_ms"` // animation: time per frame
	// The colour scale, fixed for the whole picture or animation. Each end defaults to
	// render.DetailRange's (−71…−68 mV), where default runs live, so the default request
	// shows its pattern and spikes; −95 and 40 give the full physiological scale.
	MinMV *float64 `json:"min_mV"`
	MaxMV *float64 `json:"max_mV"`
}

// colourRange is the request's colour scale over the DetailRange defaults, checked by
// render's rule (finite, within ±render.LimitMV, min < max) and reported as a 422 naming
// min_mV or max_mV. When min ≥ max, the end the client sent is blamed (max_mV if both).
func (req imageRequest) colourRange() (render.Range, error) {
	r := render.DetailRange
	if req.MinMV != nil {
		r.MinMV = *req.MinMV
	}
	if req.MaxMV != nil {
		r.MaxMV = *req.MaxMV
	}
	err := r.Validate()
	var re *render.RangeError
	if !errors.As(err, &re) {
		return r, err // nil
	}
	field, input := "max_mV", r.MaxMV
	if re.End == "MinMV" || (r.MinMV >= r.MaxMV && req.MaxMV == nil) {
		field, input = "min_mV", r.MinMV
	}
	reason := strings.ReplaceAll(strings.ReplaceAll(re.Reason, "MinMV", "min_mV"), "MaxMV", "max_mV")
	if field == "min_mV" && re.End == "MaxMV" {
		reason = fmt.Sprintf("must be less than max_mV (%v)", r.MaxMV)
	}
	return r, &jobs.ValidationError{Field: field, Type: "value_error", Input: input, Reason: "Input " + reason}
}

// POST /simulate/image and POST /simulate/animation: bodies go through the decoder of
// /simulate (same Content-Type rule, size limit, null and type errors), and the run is
// bounded by server.request_timeout (0: none), as every other pool-backed endpoint.

// jobContext is the request's context bounded by the request timeout.
func (h *API) jobContext(c echo.Context) (context.Context, context.CancelFunc) {
	if h.timeout > 0 {
		return context.WithTimeout(c.Request().Context(), h.timeout)
	}
	return context.WithCancel(c.Request().Context())
}

// decode reads the body over the /simulate defaults and checks the simulation's rules,
// so that they are reported before the picture's own options.
func (h *API) decode(c echo.Context) (imageRequest, error) {
	req := imageRequest{SimulateRequest: jobs.DefaultSimulateRequest()}
	if err := h.body.bind(c, &req); err != nil {
		return req, err
	}
	return req, req.SimulateRequest.Validate()
}

func intField(field string, v *int, def, lo, hi int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < lo || *v > hi {
		return 0, &jobs.ValidationError{Field: field, Type: "value_error", Input: *v,
			Reason: fmt.Sprintf("Input should be between %d and %d", lo, hi)}
	}
	return *v, nil
}

// metricsHeader carries the run's /simulate numbers beside the picture.
func metricsHeader(c echo.Context, res jobs.Result) {
	if r, ok := jobs.AsSimulateResult(res); ok {
		if b, err := json.Marshal(r); err == nil {
			c.Response().Header().Set("X-MFN-Metrics", string(b))
		}
	}
}

// image answers a PNG of the final field of the run /simulate would do.
func (h *API) image(c echo.Context) error {
	req, err := h.decode(c)
	if err != nil {
		return err
	}
	n := req.GridSize
	size, err := intField("size", req.Size, min(max(4*n, 64), maxImageSize), minImageSize, maxImageSize)
	if err != nil {
		return err
	}
	rng, err := req.colourRange()
	if err != nil {
		return err
	}
	var final []float64
	obs := jobs.ObservedSimulation{SimulateRequest: req.SimulateRequest, Every: req.Steps,
		Observe: func(s jobs.Snapshot) bool {
			final = append(final[:0], s.Field...) // the field is only valid during the callback
			return true
		}}
	ctx, cancel := h.jobContext(c)
	defer cancel()
	res, err := h.run.Do(ctx, obs)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := render.PNG(&buf, final, n, size, rng); err != nil {
		return fmt.Errorf("render png: %w", err)
	}
	metricsHeader(c, res)
	return c.Blob(http.StatusOK, "image/png", buf.Bytes())
}

// animation answers an animated GIF of the run, one frame every k steps and one for the
// last step.
func (h *API) animation(c echo.Context) error {
	req, err := h.decode(c)
	if err != nil {
		return err
	}
	n := req.GridSize
	size, err := intField("size", req.Size, min(max(4*n, 64), 256), minImageSize, maxAnimationSize)
	if err != nil {
		return err
	}
	every, err := intField("every", req.Every, max(1, (req.Steps+defaultAnimFrames-1)/defaultAnimFrames), 1, jobs.MaxSteps)
	if err != nil {
		return err
	}
	delay, err := intField("delay_ms", req.DelayMS, defaultAnimDelayMS, 0, maxAnimationDelayMS)
	if err != nil {
		return err
	}
	rng, err := req.colourRange()
	if err != nil {
		return err
	}
	frames := (req.Steps + every - 1) / every
	if frames > maxAnimationFrames {
		return &jobs.ValidationError{Field: "every", Type: "value_error", Input: every,
			Reason: "steps/every gives " + strconv.Itoa(frames) + " frames; at most " + strconv.Itoa(maxAnimationFrames) + " are allowed: raise every"}
	}
	if size*size*frames > maxAnimationPixels {
		return &jobs.ValidationError{Field: "size", Type: "value_error", Input: size,
			Reason: fmt.Sprintf("%d frames of %d×%d pixels exceed %d pixels: lower size or raise every", frames, size, size, maxAnimationPixels)}
	}
	anim, err := render.NewGIF(n, size, (delay+5)/10, frames, rng)
	if err != nil {
		return fmt.Errorf("new gif: %w", err)
	}
	var drawErr error
	obs := jobs.ObservedSimulation{SimulateRequest: req.SimulateRequest, Every: every,
		Observe: func(s jobs.Snapshot) bool {
			drawErr = anim.Add(s.Field) // draws now: the field is only valid during the callback
			return drawErr == nil
		}}
	ctx, cancel := h.jobContext(c)
	defer cancel()
	res, err := h.run.Do(ctx, obs)
	// Only a completed job guarantees the worker is done with anim and drawErr: Do
	// returns at once when ctx ends, while the worker may still be drawing. ctx.Err() ==
	// nil proves Do returned through the job's completion, so drawErr is read last.
	if errors.Is(err, context.Canceled) && ctx.Err() == nil && drawErr != nil {
		return fmt.Errorf("draw frame: %w", drawErr)
	}
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := anim.Encode(&buf); err != nil {
		return fmt.Errorf("encode gif: %w", err)
	}
	metricsHeader(c, res)
	c.Response().Header().Set("X-MFN-Frames", strconv.Itoa(anim.Frames()))
	return c.Blob(http.StatusOK, "image/gif", buf.Bytes())
}
