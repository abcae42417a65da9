// Package envelope is the JSON error body every HTTP answer and every refused WebSocket
// upgrade carries (api-contract §7.4), and the one mapping of errors onto its status and
// code: it decides what a client may see, and a 500 never carries the internal message.
// It sits below the API packages so that REST, WebSocket and the shared middleware
// answer in one shape; it holds no state.
package envelope

import "time"

// Body is every non-2xx JSON body. Detail is a string, except for 422 where it is
// FastAPI's list of items so that FastAPI clients keep working.
type Body struct {
	Detail     any            `json:"detail"`
	ErrorCode  string         `json:"error_code"`
	Message    string         `json:"message"`
	RequestID  string         `json:"request_id"`
	Timestamp  string         `json:"timestamp"`
	RetryAfter *int           `json:"retry_after,omitempty"`
	Checks     map[string]any `json:"checks,omitempty"` // /ready only
}

// New is the body for code and message, stamped now; Detail repeats the message.
func New(code, message, requestID string) Body {
	return Body{Detail: message, ErrorCode: code, Message: message, RequestID: requestID,
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano)}
}
