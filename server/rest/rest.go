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
	e.POST("/validate", a.validate)
	e.POST("/simulate", a.simulate)
	e.POST("/nernst", a.nernst)
	e.POST("/federated/aggregate", a.federated)
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

func (a *API) validate(c echo.Context) error {
	req := jobs.DefaultValidateRequest()
	if err := a.body.bind(c, &req); err != nil {
		return err
	}
	return a.do(c, req)
}

func (a *API) simulate(c echo.Context) error {
	req := jobs.DefaultSimulateRequest()
	if err := a.body.bind(c, &req); err != nil {
		return err
	}
	return a.do(c, req)
}

func (a *API) nernst(c echo.Context) error {
	buf, err := a.body.read(c)
	if err != nil {
		return err
	}
	defer release(buf)
	req := jobs.DefaultNernstRequest()
	if err := jobs.Decode(buf.Bytes(), &req); err != nil {
		return err
	}
	var missing []string
	if req.ConcentrationOutMolar == nil {
		missing = append(missing, "concentration_out_molar")
	}
	if req.ConcentrationInMolar == nil {
		missing = append(missing, "concentration_in_molar")
	}
	if len(missing) > 0 {
		return jobs.Missing(buf.Bytes(), missing...)
	}
	return a.do(c, req)
}

func (a *API) federated(c echo.Context) error {
	buf, err := a.body.read(c)
	if err != nil {
		return err
	}
	defer release(buf)
	req := jobs.DefaultFederatedRequest()
	if err := jobs.Decode(buf.Bytes(), &req); err != nil {
		return err
	}
	if req.Gradients == nil {
		return jobs.Missing(buf.Bytes(), "gradients")
	}
	return a.do(c, req)
}
