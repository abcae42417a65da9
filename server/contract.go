package server

import (
	"context"

	"mfn/jobs"
)

// Runner runs one job and returns once it is done or ctx is; *jobs.Pool satisfies it.
// Errors: jobs.ErrBusy (queue full), *jobs.ValidationError, ctx errors, others = internal.
type Runner interface {
	Do(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

// Authenticator decides API-key access for every transport (REST header X-API-Key, gRPC
// metadata x-api-key, WebSocket auth message). It fails closed: Required with no keys
// accepts nothing.
type Authenticator interface {
	// Required reports whether protected operations need a key.
	Required() bool
	// Valid compares key with every configured key in constant time.
	Valid(key string) bool
}

// Limiter is the token-bucket rate limiter shared by REST and gRPC, keyed on API key or
// client address.
type Limiter interface {
	// Allow takes one token for key; false means the caller must answer 429 / RESOURCE_EXHAUSTED.
	Allow(key string) bool
}
