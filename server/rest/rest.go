package rest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"mfn/crypto"
	"mfn/jobs"
)

//go:embed openapi.json
var openAPIDoc []byte

// Runner runs one job and returns once it is done or ctx is; *jobs.Pool satisfies it.
// Errors: jobs.ErrBusy (503), *jobs.ValidationError (422), *jobs.RequestError (400),
// ctx errors (504/499), others = 500.
type Runner interface {
	Do(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

// Params is what New needs.
type Params struct {
	Runner Runner
	// Keys is the key store of /api/*.
	Keys *crypto.Store
	// ClientID names who a request counts against for the key store's per-client quota:
	// its API key when valid, else its address (the rate limiter's identity).
	ClientID func(*http.Request) string
	// MaxBodyBytes is server.max_body_bytes (413 beyond); RequestTimeout is
	// server.request_timeout (504 beyond; 0: none).
	MaxBodyBytes   int64
	RequestTimeout time.Duration
	Log            *zap.Logger
}

// API is the REST endpoints: the four jobs, the pictures of a run, /api/* and
// /openapi.json. Its handlers return errors that envelope.From maps; the caller's echo
// instance carries the shared middleware and error handler.
type API struct {
	run      Runner
	keys     *crypto.Store
	clientID func(*http.Request) string
	body     jsonBody
	timeout  time.Duration
	log      *zap.Logger
}

// New checks p and builds the API; it starts nothing.
func New(p Params) (*API, error) {
	if p.Runner == nil || p.Keys == nil || p.ClientID == nil {
		return nil, errors.New("rest: Runner, Keys and ClientID are required")
	}
	if p.MaxBodyBytes <= 0 {
		return nil, errors.New("rest: MaxBodyBytes must be > 0")
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &API{run: p.Runner, keys: p.Keys, clientID: p.ClientID, body: jsonBody{maxBytes: p.MaxBodyBytes},
		timeout: p.RequestTimeout, log: log}, nil
}

// Register mounts every route of the API on e.
func (a *API) Register(e *echo.Echo) {
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
	})
	for _, r := range jobRoutes {
		e.POST(r.path, a.job(r.kind, r.missing))
	}
	e.POST("/simulate/image", a.image)
	e.POST("/simulate/animation", a.animation)
	e.POST("/simulate/field", a.field)
	e.POST("/datasets", a.datasets)
	api := e.Group("/api")
	api.POST("/encrypt", a.encrypt)
	api.POST("/decrypt", a.decrypt)
	api.POST("/sign", a.sign)
	api.POST("/verify", a.verify)
	api.POST("/keypair", a.keypair)
}

// do runs one job on the Runner under the request's context and deadline.
func (a *API) do(c echo.Context, req jobs.Request) error {
	ctx := c.Request().Context()
	// A Nernst job takes microseconds: a deadline timer would cost more than the job.
	if a.timeout > 0 && req.Kind() != jobs.KindNernst {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	res, err := a.run.Do(ctx, req)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, res)
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err // e.g. a non-finite float: a defect, answered 500 without details
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

// jobRoutes is the REST path of each job kind, with the fields its route requires: the
// reference's models have no default for them, so an absent one is 422 "Field
// required", which the defaults of jobs.NewRequest cannot say.
var jobRoutes = []struct {
	path    string
	kind    jobs.Kind
	missing func(jobs.Request) []string // the required fields the body left out; nil: none
}{
	{"/validate", jobs.KindValidate, nil},
	{"/simulate", jobs.KindSimulate, nil},
	{"/nernst", jobs.KindNernst, func(r jobs.Request) []string {
		req := r.(jobs.NernstRequest)
		var missing []string
		if req.ConcentrationOutMolar == nil {
			missing = append(missing, "concentration_out_molar")
		}
		if req.ConcentrationInMolar == nil {
			missing = append(missing, "concentration_in_molar")
		}
		return missing
	}},
	{"/federated/aggregate", jobs.KindFederated, func(r jobs.Request) []string {
		if r.(jobs.FederatedRequest).Gradients == nil {
			return []string{"gradients"}
		}
		return nil
	}},
}

// job is the handler of a job route: the body decoded over the kind's defaults by
// jobs.NewRequest, the route's required fields checked, then the job run.
func (a *API) job(kind jobs.Kind, missing func(jobs.Request) []string) echo.HandlerFunc {
	return func(c echo.Context) error {
		buf, err := a.body.read(c)
		if err != nil {
			return err
		}
		defer release(buf)
		req, err := jobs.NewRequest(kind, func(dst any) error { return jobs.Decode(buf.Bytes(), dst) })
		if err != nil {
			return err
		}
		if missing != nil {
			if m := missing(req); len(m) > 0 {
				return jobs.Missing(buf.Bytes(), m...)
			}
		}
		return a.do(c, req)
	}
}
