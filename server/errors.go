package server

import (
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"mfn/jobs"
	"mfn/server/envelope"
)

// What the shared middleware answers with (api-contract §4.4, §6).
const (
	msgAuth         = "Invalid or missing API key"
	msgRateLimit    = "Rate limit exceeded"
	wwwAuthenticate = `API-Key header="X-API-Key"`
)

// handleError is echo's HTTPErrorHandler: the envelope for every error, written once.
func (s *front) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return // a middleware already answered (PITFALLS §5.3)
	}
	ae, internal := envelope.From(err)
	rid := requestID(c)
	if internal {
		fields := []zap.Field{zap.String("request_id", rid), zap.String("method", c.Request().Method),
			zap.String("endpoint", c.Request().URL.Path), zap.Error(err)}
		if st := jobs.PanicStack(err); st != nil {
			fields = append(fields, zap.ByteString("stack", st))
		}
		s.log.Error("request failed", fields...)
	}
	envelope.Write(c, ae, rid)
}
