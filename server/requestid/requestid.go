// Package requestid is the request id of every transport (api-contract §4.2 [GO]): a
// client's id is kept when it is 1–128 characters of [A-Za-z0-9._:-], so that it cannot
// inject into headers or logs, and a random UUID v4 is made otherwise. REST echoes it in
// X-Request-ID, gRPC in x-request-id metadata, WebSocket refusals and logs carry it. All
// functions are safe for concurrent use.
package requestid

import (
	"math/rand/v2"
	"net/http"
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
	if v := h[Header]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// New is a random (version 4) UUID in canonical lower-case form. math/rand/v2's
// generator is ChaCha8-based: unpredictable enough for ids that are not secrets.
func New() string {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (8 * i))
		b[8+i] = byte(lo >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexd[x>>4], hexd[x&0x0f]
		j += 2
	}
	return string(out[:])
}
