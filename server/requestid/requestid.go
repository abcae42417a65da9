// Package requestid is the request id of every transport (api-contract §4.2 [GO]): a
// client's id is kept when it is 1–128 characters of [A-Za-z0-9._:-], so that it cannot
// inject into headers or logs, and a random UUID v4 is made otherwise. REST echoes it in
// X-Request-ID, gRPC in x-request-id metadata, WebSocket refusals and logs carry it. All
// functions are safe for concurrent use.
package requestid

import (
	"net/http"

	"github.com/google/uuid"
)

// Header is the HTTP header of the id. The REST middleware stores it under this exact
// key, which Header.Get would canonicalise to X-Request-Id and miss.
const Header = "X-Request-ID"

// Valid reports whether a client's id may be used as it is.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == ':' || ch == '-') {
			return false
		}
	}
	return true
}

// Or returns client when it is Valid, else a new id.
func Or(client string) string {
	if Valid(client) {
		return client
	}
	return New()
}

// FromHeader is the id the REST middleware set on the response headers h, or "".
func FromHeader(h http.Header) string {
	//lint:ignore SA1008 the key is stored non-canonical on purpose: the reference sends X-Request-ID
	if v := h[Header]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// New is a random (version 4) UUID in canonical lower-case form, the one generator the
// pipeline's message ids use too.
func New() string { return uuid.NewString() }
