package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// Request bodies are decoded the way the reference's FastAPI/pydantic models behave, as
// tightened by api-contract §7.2 [GO]: unknown fields are ignored; absent fields keep
// the Default*Request values; JSON numbers only for numbers, JSON booleans only for
// booleans; null on a field, bad JSON, trailing data or a non-object body is a 422
// whose items name the field (loc ["body", field]).

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuf keeps the occasional huge body from pinning memory in the pool.
const maxPooledBuf = 1 << 20

// readBody reads the whole body within MaxBodyBytes (413 beyond). Call release(buf)
// when done with the bytes.
func (s *rest) readBody(c echo.Context) (*bytes.Buffer, error) {
	req := c.Request()
	if req.ContentLength > s.cfg.MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(req.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		release(buf)
		return nil, bodyReadErr(err)
	}
	if int64(buf.Len()) > s.cfg.MaxBodyBytes {
		release(buf)
		return nil, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}
	}
	return buf, nil
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
		return &apiError{status: http.StatusRequestTimeout, code: codeTimeout, message: "Request body not received in time"}
	}
	return &apiError{status: http.StatusBadRequest, code: codeInvalid, message: "Request body could not be read"}
}

func release(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuf {
		bufPool.Put(buf)
	}
}

// bindJSON reads the body and decodes it into dst (a pointer to a Default*Request).
func (s *rest) bindJSON(c echo.Context, dst any) error {
	buf, err := s.readBody(c)
	if err != nil {
		return err
	}
	defer release(buf)
	return decodeBody(buf.Bytes(), dst)
}

var nullToken = []byte("null")

// jsonSpace is the whitespace JSON allows around a value (RFC 8259 §2). bytes.TrimSpace
// would also strip \f, \v and Unicode spaces and so accept a body like "{}\f".
const jsonSpace = " \t\r\n"

func decodeBody(body []byte, dst any) error {
	body = bytes.Trim(body, jsonSpace)
	if len(body) == 0 || bytes.Equal(body, nullToken) {
		return validationErr(validationItem{Type: "missing", Loc: []any{"body"}, Msg: "Field required"})
	}
	if fastDecode(body, dst) {
		return nil
	}
	if body[0] != '{' {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return jsonInvalid(err)
		}
		return validationErr(validationItem{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: v})
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return validationErr(typeItem(te))
		}
		return jsonInvalid(err)
	}
	// Go leaves a field untouched on null; the reference rejects it. Only bodies that
	// contain the token pay for the second look.
	if bytes.Contains(body, nullToken) {
		if items := nullItems(body, reflect.TypeOf(dst).Elem()); len(items) > 0 {
			return validationErr(items...)
		}
	}
	return nil
}

func jsonInvalid(err error) *apiError {
	loc := []any{"body"}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		loc = append(loc, se.Offset)
	}
	return validationErr(validationItem{Type: "json_invalid", Loc: loc, Msg: "JSON decode error",
		Ctx: map[string]any{"error": strings.TrimPrefix(err.Error(), "json: ")}})
}

// typeItem turns a decoder type error into pydantic's item for the target type.
func typeItem(te *json.UnmarshalTypeError) validationItem {
	loc := []any{"body"}
	if te.Field != "" {
		for _, p := range strings.Split(te.Field, ".") {
			loc = append(loc, p)
		}
	}
	typ, msg := kindMessage(te.Type)
	if typ == "int_type" && strings.HasPrefix(te.Value, "number") {
		typ, msg = "int_from_float", "Input should be a valid integer, got a number with a fractional part"
	}
	return validationItem{Type: typ, Loc: loc, Msg: msg}
}

func kindMessage(t reflect.Type) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int_type", "Input should be a valid integer"
	case reflect.Float32, reflect.Float64:
		return "float_type", "Input should be a valid number"
	case reflect.Bool:
		return "bool_type", "Input should be a valid boolean"
	case reflect.String:
		return "string_type", "Input should be a valid string"
	case reflect.Slice, reflect.Array:
		return "list_type", "Input should be a valid list"
	}
	return "model_attributes_type", "Input should be a valid dictionary or object to extract fields from"
}

// nullItems finds nulls on the struct's fields, including inside lists.
func nullItems(body []byte, t reflect.Type) []validationItem {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var items []validationItem
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		v, ok := m[name]
		if !ok {
			continue
		}
		items = walkNulls(items, v, f.Type, []any{"body", name})
	}
	return items
}

func walkNulls(items []validationItem, v any, t reflect.Type, loc []any) []validationItem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		typ, msg := kindMessage(t)
		return append(items, validationItem{Type: typ, Loc: loc, Msg: msg, Input: nil})
	}
	if list, ok := v.([]any); ok && t.Kind() == reflect.Slice {
		for i, e := range list {
			items = walkNulls(items, e, t.Elem(), append(append([]any{}, loc...), i))
		}
	}
	return items
}

// missingItems reports every absent required field at once, as pydantic does (A3);
// input is the body object.
func missingItems(body []byte, names ...string) []validationItem {
	var obj any
	_ = json.Unmarshal(body, &obj)
	items := make([]validationItem, 0, len(names))
	for _, n := range names {
		items = append(items, validationItem{Type: "missing", Loc: []any{"body", n}, Msg: "Field required", Input: obj})
	}
	return items
}
