package server

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// tokenLimiter keeps one token bucket per (client, route): capacity = the route's limit,
// refill = limit/window per second, starting full (api-contract §6). It is per process;
// replicas do not share buckets. Idle buckets are evicted during later calls, so memory
// stays bounded by the clients seen within IdleEvict.
type tokenLimiter struct {
	window   float64 // seconds
	defLimit int
	perPath  map[string]int
	idle     time.Duration
	now      func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newTokenLimiter(cfg RateLimitConfig, now func() time.Time) *tokenLimiter {
	if now == nil {
		now = time.Now
	}
	return &tokenLimiter{
		window:   float64(cfg.WindowSeconds),
		defLimit: cfg.Requests,
		perPath:  cfg.PerPath,
		idle:     cfg.IdleEvict,
		now:      now,
		buckets:  make(map[string]*bucket),
	}
}

// limitFor is the bucket size of an exact path.
func (l *tokenLimiter) limitFor(path string) int {
	if n, ok := l.perPath[path]; ok {
		return n
	}
	return l.defLimit
}

// Allow takes one token from key's bucket of the default size (gRPC uses it with
// key = client + method).
func (l *tokenLimiter) Allow(key string) bool {
	ok, _, _ := l.take(key, l.defLimit)
	return ok
}

// take takes one token from key's bucket of size limit. It returns whether the request
// may proceed, the whole tokens left, and, when refused, the seconds until one token
// is back: floor((1 − tokens)/rate) + 1, the reference's formula.
func (l *tokenLimiter) take(key string, limit int) (ok bool, remaining, retryAfter int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle/4 {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(limit)/l.window), limit)}
		l.buckets[key] = b
	}
	b.last = now
	if b.lim.AllowN(now, 1) {
		return true, int(math.Floor(b.lim.TokensAt(now))), 0
	}
	tokens := b.lim.TokensAt(now)
	rps := float64(b.lim.Limit())
	return false, 0, int(math.Floor((1-tokens)/rps)) + 1
}

// sweep drops buckets idle for longer than l.idle; the caller holds mu.
func (l *tokenLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) > l.idle {
			delete(l.buckets, k)
		}
	}
}

// size is the number of live buckets (tests).
func (l *tokenLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
