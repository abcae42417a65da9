package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"mfn/jobs"
	"mfn/server/envelope"
)

// Error codes of the envelope (api-contract §7.4). The first two keep the reference's
// lower-case values because its clients and tests assert them.
const (
	codeAuth          = "authentication_required"
	codeRateLimit     = "rate_limit_exceeded"
	codeValidation    = "VALIDATION_ERROR"
	codeInvalid       = "INVALID_REQUEST"
	codeNotFound      = "NOT_FOUND"
	codeMethod        = "METHOD_NOT_ALLOWED"
	codeTooLarge      = "PAYLOAD_TOO_LARGE"
	codeInternal      = "INTERNAL_ERROR"
	codeUnavailable   = "SERVICE_UNAVAILABLE"
	codeTimeout       = "TIMEOUT"
	codeKeyNotFound   = "KEY_NOT_FOUND"
	codeKeyExists     = "KEY_EXISTS"
	codeKeyStoreFull  = "KEY_STORE_FULL"
	codeCrypto        = "CRYPTO_ERROR"
	codeDecrypt       = "DECRYPTION_FAILED"
	msgInternal       = "An internal error occurred. Please try again later."
	msgAuth           = "Invalid or missing API key"
	msgRateLimit      = "Rate limit exceeded"
	wwwAuthenticate   = `API-Key header="X-API-Key"`
	busyRetryAfterSec = 1
)

// apiError is an error a handler or middleware answers with as is.
type apiError struct {
	status     int
	code       string
	message    string
	detail     any // nil: message
	retryAfter int // seconds; >0 sets Retry-After (and retry_after for 429)
	header     http.Header
	checks     map[string]any
}

func (e *apiError) Error() string { return e.message }

// validationErr builds the 422 for the given items.
func validationErr(items ...jobs.Item) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: codeValidation,
		message: "Validation failed: " + strconv.Itoa(len(items)) + " error(s)", detail: items}
}

// toAPIError maps any error to its status and envelope; it is the one place that decides
// what a client may see (STYLE §4): a 500 never carries the internal message.
func toAPIError(err error) (*apiError, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae, false
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return &apiError{status: he.Code, code: codeNotFound, message: "Not Found"}, false
		case http.StatusMethodNotAllowed:
			return &apiError{status: he.Code, code: codeMethod, message: "Method Not Allowed"}, false
		case http.StatusRequestEntityTooLarge:
			return &apiError{status: he.Code, code: codeTooLarge, message: "Request Entity Too Large"}, false
		}
		if he.Code >= 500 {
			return &apiError{status: he.Code, code: codeInternal, message: msgInternal}, true
		}
		return &apiError{status: he.Code, code: codeInvalid, message: http.StatusText(he.Code)}, false
	}
	var be *jobs.BodyError
	if errors.As(err, &be) {
		return validationErr(be.Items...), false
	}
	var ve *jobs.ValidationError
	if errors.As(err, &ve) {
		return validationErr(ve.Item()), false
	}
	var re *jobs.RequestError
	if errors.As(err, &re) {
		return &apiError{status: http.StatusBadRequest, code: codeInvalid, message: re.Reason}, false
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, message: "Request Entity Too Large"}, false
	}
	switch {
	case errors.Is(err, jobs.ErrBusy):
		// The pool's hint reflects the estimated work ahead; a bare ErrBusy gets 1 s.
		retry := busyRetryAfterSec
		if d := jobs.RetryAfter(err); d > 0 {
			retry = int((d + time.Second - 1) / time.Second)
		}
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			message: "Server busy: the job queue is full, retry later", retryAfter: retry}, false
	case errors.Is(err, jobs.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
			message: "Server shutting down", retryAfter: busyRetryAfterSec}, false
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusGatewayTimeout, code: codeTimeout, message: "Request timed out"}, false
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this, but the log and metrics get a status.
		return &apiError{status: 499, code: codeUnavailable, message: "Client closed request"}, false
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, message: msgInternal}, true
}

// handleError is echo's HTTPErrorHandler: the envelope for every error, written once.
func (s *rest) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return // a middleware already answered (PITFALLS §5.3)
	}
	ae, internal := toAPIError(err)
	rid := requestID(c)
	if internal {
		fields := []zap.Field{zap.String("request_id", rid), zap.String("method", c.Request().Method),
			zap.String("endpoint", c.Request().URL.Path), zap.Error(err)}
		if st := jobs.PanicStack(err); st != nil {
			fields = append(fields, zap.ByteString("stack", st))
		}
		s.log.Error("request failed", fields...)
	}
	writeAPIError(c, ae, rid)
}

func writeAPIError(c echo.Context, ae *apiError, rid string) {
	h := c.Response().Header()
	for k, v := range ae.header {
		h[k] = v
	}
	env := envelope.New(ae.code, ae.message, rid)
	env.Checks = ae.checks
	if ae.detail != nil {
		env.Detail = ae.detail
	}
	if ae.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(ae.retryAfter))
		if ae.status == http.StatusTooManyRequests {
			ra := ae.retryAfter
			env.RetryAfter = &ra
		}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ae.status)
		return
	}
	_ = c.JSON(ae.status, env)
}
