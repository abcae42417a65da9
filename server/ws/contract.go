package ws

import (
	"context"

	"mfn/jobs"
)

// Runner runs one job and returns once it is done or ctx is; *jobs.Pool satisfies it.
// A stream is one long job whose observer sees every step (jobs.SimulateRequest.Observe).
type Runner interface {
	Do(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

// Authenticator decides the in-band `auth` message and an X-API-Key sent on the
// upgrade. It fails closed: Required with no keys accepts nothing.
type Authenticator interface {
	Required() bool
	Valid(key string) bool
}
