package server

import (
	"crypto/sha256"
	"crypto/subtle"
)

// keyAuth is the Authenticator of every transport. Keys are kept only as SHA-256
// digests so that comparison time does not depend on key length, and every key is
// compared (no early exit) so that the match index does not leak either.
type keyAuth struct {
	required bool
	digests  [][sha256.Size]byte
}

func newKeyAuth(cfg AuthConfig) *keyAuth {
	a := &keyAuth{required: cfg.Required}
	for _, k := range cfg.Keys {
		if k != "" {
			a.digests = append(a.digests, sha256.Sum256([]byte(k)))
		}
	}
	return a
}

// Required reports whether protected operations need a key.
func (a *keyAuth) Required() bool { return a.required }

// Valid reports whether key is one of the configured keys. An empty key, or no keys at
// all, is never valid: auth fails closed.
func (a *keyAuth) Valid(key string) bool {
	if key == "" || len(a.digests) == 0 {
		return false
	}
	d := sha256.Sum256([]byte(key))
	ok := 0
	for i := range a.digests {
		ok |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return ok == 1
}

// publicPaths need no key: probes, metrics, the API description, the page, and the
// WebSocket endpoints (which authenticate in-band with an `auth` message, §10.3).
// Matching is exact: /healthz or /health/x are protected (the reference's BUG-13).
var publicPaths = map[string]bool{
	"/":                   true,
	"/health":             true,
	"/ready":              true,
	"/metrics":            true,
	"/openapi.json":       true,
	"/ws/simulation_live": true,
	"/ws/stream_features": true,
}
