package server

import (
	"context"

	"mfn/jobs"
)

// Runner runs one job and returns once it is done or ctx is; *jobs.Pool satisfies it.
// It is handed on to rest, grpcapi and ws, whose own Runner interfaces are the same.
// Errors: jobs.ErrBusy (queue full), *jobs.ValidationError, ctx errors, others = internal.
type Runner interface {
	Do(ctx context.Context, req jobs.Request) (jobs.Result, error)
}
