// Package retry is mfn's one backoff policy for every reconnect and retry loop in the
// pipelines, sources and sinks: exponential backoff with jitter from
// github.com/cenkalti/backoff/v5, so replicas that failed together do not retry in
// lockstep, and a server's hint (Retry-After, a broker's throttle time) lengthens a
// wait but never shortens it. A Backoff is not safe for concurrent use: each loop owns
// its own.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy describes one loop's waits: Initial after the first failure, growing ×2 up to
// Max; Jitter in [0,1] randomises each wait within ±Jitter of its nominal value.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  float64
}

// Backoff hands out the waits of one retry loop.
type Backoff struct {
	max time.Duration
	exp *backoff.ExponentialBackOff
}

// New starts a loop's backoff at p.Initial.
func (p Policy) New() *Backoff {
	exp := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: p.Jitter,
		Multiplier:          2,
		MaxInterval:         max(p.Max, p.Initial),
	}
	exp.Reset()
	return &Backoff{max: exp.MaxInterval, exp: exp}
}

// Next is the wait before the next attempt. A hint from the other side (Retry-After,
// throttle time; 0 when none) replaces a shorter wait, capped at the policy's Max, so
// a hostile or confused server cannot park the loop for hours.
func (b *Backoff) Next(hint time.Duration) time.Duration {
	d := b.exp.NextBackOff()
	if hint > d {
		d = min(hint, b.max)
	}
	return d
}

// Reset starts over at Initial, after a success.
func (b *Backoff) Reset() { b.exp.Reset() }

// Sleep waits d or until ctx is done; it reports whether the whole wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
