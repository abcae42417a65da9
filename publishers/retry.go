package publishers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryConfig is the sink retry policy (`pipelines[i].retry` in mfn.yaml): exponential
// backoff initial × 2^a capped at max (the reference's formula, §2.2), plus jitter.
type RetryConfig struct {
	// MaxAttempts counts every attempt, the first included. Default 5; 1 = no retry;
	// 0 is not allowed here (the dead-letter path uses RetryForever).
	MaxAttempts int `mapstructure:"max_attempts"`
	// InitialBackoff is the wait after the first failure. Default 200ms.
	InitialBackoff time.Duration `mapstructure:"initial_backoff"`
	// MaxBackoff caps one wait. Default 10s.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	// Jitter in [0,1] is the fraction of each wait that is randomised: the wait is
	// d × (1 − Jitter × U[0,1)). Default 0.5; 1 is "full jitter".
	Jitter float64 `mapstructure:"jitter"`
}

// DefaultRetryConfig returns 5 attempts, 200ms doubling to 10s, jitter 0.5.
func DefaultRetryConfig() RetryConfig {
	return RetryConfig{MaxAttempts: 5, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second, Jitter: 0.5}
}

// WithDefaults fills zero fields (Jitter 0 stays 0 only if the rest is set too).
func (c RetryConfig) WithDefaults() RetryConfig {
	d := DefaultRetryConfig()
	if c == (RetryConfig{}) {
		return d
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = d.InitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = max(d.MaxBackoff, c.InitialBackoff)
	}
	return c
}

// Validate checks the policy; keys are relative to retry.
func (c RetryConfig) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.MaxAttempts < 1:
		return cfgErr("max_attempts", "%d is below 1", c.MaxAttempts)
	case c.InitialBackoff < 0:
		return cfgErr("initial_backoff", "negative")
	case c.MaxBackoff < c.InitialBackoff:
		return cfgErr("max_backoff", "%s is below initial_backoff %s", c.MaxBackoff, c.InitialBackoff)
	case !(c.Jitter >= 0 && c.Jitter <= 1):
		return cfgErr("jitter", "%v is outside [0, 1]", c.Jitter)
	}
	return nil
}

// Backoff is the wait after failed attempt a (0-based).
func (c RetryConfig) Backoff(a int) time.Duration {
	d := c.InitialBackoff
	for i := 0; i < a && d < c.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxBackoff)
	if c.Jitter > 0 {
		d -= time.Duration(c.Jitter * rand.Float64() * float64(d))
	}
	return d
}

// RetryForever is the attempt count that never gives up (until ctx is done).
const RetryForever = -1

// Retry wraps a Sink: failed publishes are retried per cfg, except permanent errors
// and a done ctx. onRetry (may be nil) is called before each retry with the error.
// maxAttempts overrides cfg.MaxAttempts when not 0 (RetryForever: until ctx is done).
func Retry(s Sink, cfg RetryConfig, maxAttempts int, onRetry func(error)) Sink {
	cfg = cfg.WithDefaults()
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
	for a := 0; r.cfg.MaxAttempts < 0 || a < r.cfg.MaxAttempts; a++ {
		if a > 0 {
			wait := r.cfg.Backoff(a - 1)
			var ra *RetryAfterError
			if errors.As(err, &ra) && ra.After > wait {
				wait = min(ra.After, r.cfg.MaxBackoff)
			}
			if r.onRetry != nil {
				r.onRetry(err)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (gave up waiting to retry: %w)", err, ctx.Err())
			case <-t.C:
			}
		}
		err = r.Sink.Publish(ctx, rec)
		if err == nil || errors.Is(err, ErrPermanent) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", r.cfg.MaxAttempts, err)
}

// Ping forwards to the wrapped sink when it can ping.
func (r *retrying) Ping(ctx context.Context) error {
	if p, ok := r.Sink.(Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}
