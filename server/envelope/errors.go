package envelope

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"mfn/jobs"
)

// Error codes of the envelope (api-contract §7.4). The first two keep the reference's
// lower-case values because its clients and tests assert them.
const (
	CodeAuth          = "authentication_required"
	CodeRateLimit     = "rate_limit_exceeded"
	CodeValidation    = "VALIDATION_ERROR"
	CodeInvalid       = "INVALID_REQUEST"
	CodeNotFound      = "NOT_FOUND"
	CodeMethod        = "METHOD_NOT_ALLOWED"
	CodeTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeInternal      = "INTERNAL_ERROR"
	CodeUnavailable   = "SERVICE_UNAVAILABLE"
	CodeTimeout       = "TIMEOUT"
	CodeKeyNotFound   = "KEY_NOT_FOUND"
	CodeKeyExists     = "KEY_EXISTS"
	CodeKeyStoreFull  = "KEY_STORE_FULL"
	CodeCrypto        = "CRYPTO_ERROR"
	CodeDecrypt       = "DECRYPTION_FAILED"
	CodeMediaType     = "UNSUPPORTED_MEDIA_TYPE"
	MsgInternal       = "An internal error occurred. Please try again later."
	busyRetryAfterSec = 1
)

// Error is an error a handler or middleware answers with as is.
type Error struct {
	Status     int
	Code       string
	Message    string
	Detail     any // nil: Message
	RetryAfter int // seconds; >0 sets Retry-After (and retry_after for 429)
	Header     http.Header
	Checks     map[string]any
}

func (e *Error) Error() string { return e.Message }

// Validation builds the 422 for the given items.
func Validation(items ...jobs.Item) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeValidation,
		Message: "Validation failed: " + strconv.Itoa(len(items)) + " error(s)", Detail: items}
}

// From maps any error to its status and envelope; it is the one place that decides
// what a client may see (STYLE §4): a 500 never carries the internal message.
func From(err error) (*Error, bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, false
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &Error{Status: he.Code, Code: CodeNotFound, Message: "Not Found"}, false
		case http.StatusMethodNotAllowed:
			return &Error{Status: he.Code, Code: CodeMethod, Message: "Method Not Allowed"}, false
		case http.StatusRequestEntityTooLarge:
			return &Error{Status: he.Code, Code: CodeTooLarge, Message: "Request Entity Too Large"}, false
		}
		if he.Code >= 500 {
			return &Error{Status: he.Code, Code: CodeInternal, Message: MsgInternal}, true
		}
		return &Error{Status: he.Code, Code: CodeInvalid, Message: http.StatusText(he.Code)}, false
	}
	var be *jobs.BodyError
	if errors.As(err, &be) {
		return Validation(be.Items...), false
	}
	var ve *jobs.ValidationError
	if errors.As(err, &ve) {
		return Validation(ve.Item()), false
	}
	var re *jobs.RequestError
	if errors.As(err, &re) {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: re.Reason}, false
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "Request Entity Too Large"}, false
	}
	switch {
	case errors.Is(err, jobs.ErrBusy):
		// The pool's hint reflects the estimated work ahead; a bare ErrBusy gets 1 s.
		retry := busyRetryAfterSec
		if d := jobs.RetryAfter(err); d > 0 {
			retry = int((d + time.Second - 1) / time.Second)
		}
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "Server busy: the job queue is full, retry later", RetryAfter: retry}, false
	case errors.Is(err, jobs.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "Server shutting down", RetryAfter: busyRetryAfterSec}, false
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeTimeout, Message: "Request timed out"}, false
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this, but the log and metrics get a status.
		return &Error{Status: 499, Code: CodeUnavailable, Message: "Client closed request"}, false
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: MsgInternal}, true
}

// Write answers ae in the envelope, with its headers; rid is the request id.
func Write(c echo.Context, ae *Error, rid string) {
	h := c.Response().Header()
	for k, v := range ae.Header {
		h[k] = v
	}
	env := New(ae.Code, ae.Message, rid)
	env.Checks = ae.Checks
	if ae.Detail != nil {
		env.Detail = ae.Detail
	}
	if ae.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		if ae.Status == http.StatusTooManyRequests {
			ra := ae.RetryAfter
			env.RetryAfter = &ra
		}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.Status)
		return
	}
	_ = c.JSON(ae.Status, env)
}
