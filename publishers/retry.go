package publishers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mfn/internal/cfgerr"
	"mfn/internal/retry"
)

// RetryConfig is the sink retry policy (`pipelines[i].retry` in mfn.yaml): exponential
// backoff initial × 2^a capped at max (the reference's formula, §2.2), plus jitter
// (mfn/internal/retry). A Retry-After from the sink lengthens a wait up to max.
type RetryConfig struct {
	// MaxAttempts counts every attempt, the first included. Default 5; 1 = no retry;
	// 0 is not allowed here (the dead-letter path uses RetryForever).
	MaxAttempts int `mapstructure:"max_attempts"`
	// InitialBackoff is the wait after the first failure. Default 200ms.
	InitialBackoff time.Duration `mapstructure:"initial_backoff"`
	// MaxBackoff caps one wait. Default 10s.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	// Jitter in [0,1] randomises each wait d within d × (1 ± Jitter). Default 0.5.
	Jitter float64 `mapstructure:"jitter"`
}

// DefaultRetryConfig returns 5 attempts, 200ms doubling to 10s, jitter 0.5.
func DefaultRetryConfig() RetryConfig {
	return RetryConfig{MaxAttempts: 5, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second, Jitter: 0.5}
}

// Validate checks the policy; keys are relative to retry.
func (c RetryConfig) Validate() error {
	switch {
	case c.MaxAttempts < 1:
		return cfgerr.New("max_attempts", "%d is below 1", c.MaxAttempts)
	case c.InitialBackoff < 0:
		return cfgerr.New("initial_backoff", "negative")
	case c.MaxBackoff < c.InitialBackoff:
		return cfgerr.New("max_backoff", "%s is below initial_backoff %s", c.MaxBackoff, c.InitialBackoff)
	case !(c.Jitter >= 0 && c.Jitter <= 1):
		return cfgerr.New("jitter", "%v is outside [0, 1]", c.Jitter)
	}
	return nil
}

// Policy is the backoff of one retry loop under this configuration.
func (c RetryConfig) Policy() retry.Policy {
	return retry.Policy{Initial: c.InitialBackoff, Max: c.MaxBackoff, Jitter: c.Jitter}
}

// RetryForever is the attempt count that never gives up (until ctx is done).
const RetryForever = -1

// Retry wraps a Sink: failed publishes are retried per cfg, except permanent errors
// and a done ctx. onRetry (may be nil) is called before each retry with the error.
// maxAttempts overrides cfg.MaxAttempts when not 0 (RetryForever: until ctx is done).
func Retry(s Sink, cfg RetryConfig, maxAttempts int, onRetry func(error)) Sink {
	if maxAttempts != 0 {
		cfg.MaxAttempts = maxAttempts
	}
	return &retrying{Sink: s, cfg: cfg, onRetry: onRetry}
}

type retrying struct {
	Sink
	cfg     RetryConfig
	onRetry func(error)
}

func (r *retrying) Publish(ctx context.Context, rec Record) error {
	var err error
	var b *retry.Backoff
	for a := 0; r.cfg.MaxAttempts < 0 || a < r.cfg.MaxAttempts; a++ {
		if a > 0 {
			if b == nil {
				b = r.cfg.Policy().New()
			}
			var hint time.Duration
			var ra *RetryAfterError
			if errors.As(err, &ra) {
				hint = ra.After
			}
			if r.onRetry != nil {
				r.onRetry(err)
			}
			if !retry.Sleep(ctx, b.Next(hint)) {
				return fmt.Errorf("%w (gave up waiting to retry: %w)", err, ctx.Err())
			}
		}
		err = r.Sink.Publish(ctx, rec)
		if err == nil || errors.Is(err, ErrPermanent) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", r.cfg.MaxAttempts, err)
}

// Start forwards to the wrapped sink when it has a Start.
func (r *retrying) Start(ctx context.Context) error {
	if s, ok := r.Sink.(Starter); ok {
		return s.Start(ctx)
	}
	return nil
}

// Ping forwards to the wrapped sink when it can ping.
func (r *retrying) Ping(ctx context.Context) error {
	if p, ok := r.Sink.(Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
