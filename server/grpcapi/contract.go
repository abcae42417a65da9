package grpcapi

import (
	"context"
	"time"

	"mfn/jobs"
)

// Runner runs one job and returns once it is done or ctx is; *jobs.Pool satisfies it.
// Errors: jobs.ErrBusy (UNAVAILABLE), *jobs.ValidationError and *jobs.RequestError
// (INVALID_ARGUMENT), ctx errors, others = INTERNAL.
type Runner interface {
	Do(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

// Authenticator decides the x-api-key metadata of every RPC but health and reflection.
// It fails closed: Required with no keys accepts nothing.
type Authenticator interface {
	Required() bool
	Valid(key string) bool
}

// Limiter is the token bucket shared with REST, keyed on client and method; false
// answers RESOURCE_EXHAUSTED. Enabled reports whether calls are limited at all; when
// it is false, Allow is not asked (nor the bucket's key worked out).
type Limiter interface {
	Enabled() bool
	Allow(key string) bool
}

// busyRetryAfter is the RetryInfo of an ErrBusy without the pool's own hint, the 1 s
// REST's Retry-After gives it.
const busyRetryAfter = time.Second
