package rest

import (
	"bytes"
	"errors"
	"io"
	"mfn/jobs"
	"mfn/server/envelope"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// REST bodies: one Content-Type rule and one size limit here, then jobs.Decode, the
// decoder every transport shares (its rules are on jobs.Decode).

// bodyBuf is a pooled body buffer with the limit reader that fills it, pooled with it
// because io.LimitReader would allocate one per request.
type bodyBuf struct {
	bytes.Buffer
	lr io.LimitedReader
}

var bufPool = sync.Pool{New: func() any { return new(bodyBuf) }}

// maxPooledBuf keeps the occasional huge body from pinning memory in the pool.
const maxPooledBuf = 1 << 20

// jsonBody reads and decodes the body of every JSON route (the job endpoints, the image
// endpoints, /api/*): one Content-Type rule, one size limit, one decoder.
type jsonBody struct {
	maxBytes int64 // server.max_body_bytes: 413 beyond
}

// read checks the Content-Type, then reads the whole body within maxBytes (413 beyond).
// Call release(buf) when done with the bytes.
func (j jsonBody) read(c echo.Context) (*bodyBuf, error) {
	req := c.Request()
	if req.ContentLength != 0 && !isJSONMediaType(req.Header.Get(echo.HeaderContentType)) {
		return nil, unsupportedMediaType(req.Header.Get(echo.HeaderContentType))
	}
	if req.ContentLength > j.maxBytes {
		return nil, &http.MaxBytesError{Limit: j.maxBytes}
	}
	buf := bufPool.Get().(*bodyBuf)
	buf.Reset()
	buf.lr = io.LimitedReader{R: req.Body, N: j.maxBytes + 1}
	_, err := buf.ReadFrom(&buf.lr)
	buf.lr.R = nil // the pool must not keep the request alive
	if err != nil {
		release(buf)
		return nil, bodyReadErr(err)
	}
	if int64(buf.Len()) > j.maxBytes {
		release(buf)
		return nil, &http.MaxBytesError{Limit: j.maxBytes}
	}
	return buf, nil
}

// bind reads the body and decodes it into dst (a pointer to the route's defaults).
func (j jsonBody) bind(c echo.Context, dst any) error {
	buf, err := j.read(c)
	if err != nil {
		return err
	}
	defer release(buf)
	return jobs.Decode(buf.Bytes(), dst)
}

// isJSONMediaType accepts application/json and any application/*+json type (RFC 6839),
// with parameters (charset=utf-8). Everything else, an absent Content-Type included, is
// refused: text/plain, multipart/form-data and application/x-www-form-urlencoded are
// what a cross-site page may POST without a CORS preflight, and a body sent with no
// Content-Type (fetch with an untyped Blob) is one too. Only bodies pay for the check:
// an empty POST still gets the reference's 422 "Field required".
func isJSONMediaType(ct string) bool {
	if ct == echo.MIMEApplicationJSON || ct == "application/json; charset=UTF-8" {
		return true // the common case, without parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}

// unsupportedMediaType is the 415 of a JSON route given another Content-Type. 415, not
// the 422 FastAPI answers (a pydantic "Input should be a valid dictionary" item that
// does not say what is wrong): the status names the problem, as nginx and envoy do.
func unsupportedMediaType(ct string) *envelope.Error {
	msg := "Content-Type must be application/json"
	if ct == "" {
		msg += " (none was sent)"
	} else if len(ct) <= 100 {
		msg += ", got " + strconv.Quote(ct)
	}
	return &envelope.Error{Status: http.StatusUnsupportedMediaType, Code: envelope.CodeMediaType, Message: msg}
}

// bodyReadErr classifies a failed body read: over the limit stays a MaxBytesError
// (413); anything else (bad chunked framing, a client gone mid-body) is the client's
// fault, a 400, never a 500.
func bodyReadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) { // server.body_read_timeout (connlimit.go)
		return &envelope.Error{Status: http.StatusRequestTimeout, Code: envelope.CodeTimeout, Message: "Request body not received in time"}
	}
	return &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeInvalid, Message: "Request body could not be read"}
}

func release(buf *bodyBuf) {
	if buf.Cap() <= maxPooledBuf {
		bufPool.Put(buf)
	}
}
