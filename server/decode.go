package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strconv"
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

// jsonBody reads and decodes the body of every JSON route (the job endpoints, the image
// endpoints, /api/*): one Content-Type rule, one size limit, one decoder.
type jsonBody struct {
	maxBytes int64 // server.max_body_bytes: 413 beyond
}

// read checks the Content-Type, then reads the whole body within maxBytes (413 beyond).
// Call release(buf) when done with the bytes.
func (j jsonBody) read(c echo.Context) (*bytes.Buffer, error) {
	req := c.Request()
	if req.ContentLength != 0 && !isJSONMediaType(req.Header.Get(echo.HeaderContentType)) {
		return nil, unsupportedMediaType(req.Header.Get(echo.HeaderContentType))
	}
	if req.ContentLength > j.maxBytes {
		return nil, &http.MaxBytesError{Limit: j.maxBytes}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(req.Body, j.maxBytes+1))
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

// bind reads the body and decodes it into dst (a pointer to a Default*Request).
func (j jsonBody) bind(c echo.Context, dst any) error {
	buf, err := j.read(c)
	if err != nil {
		return err
	}
	defer release(buf)
	return decodeBody(buf.Bytes(), dst)
}

// codeMediaType is the envelope's error_code of a 415.
const codeMediaType = "UNSUPPORTED_MEDIA_TYPE"

// isJSONMediaType accepts application/json and any application/*+json type (RFC 6839),
// with parameters (charset=utf-8). Everything else, an absent Content-Type included, is
// refused: text/plain, multipart/form-data and application/x-www-form-urlencoded are
// what a cross-site page may POST without a CORS preflight, and a body sent with no
// Content-Type (fetch with an untyped Blob) is one too. Only bodies pay for the check:
// an empty POST still gets the reference's 422 "Field required".
func isJSONMediaType(ct string) bool {
	if ct == echo.MIMEApplicationJSON || ct == echo.MIMEApplicationJSONCharsetUTF8 {
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
func unsupportedMediaType(ct string) *apiError {
	msg := "Content-Type must be application/json"
	if ct == "" {
		msg += " (none was sent)"
	} else if len(ct) <= 100 {
		msg += ", got " + strconv.Quote(ct)
	}
	return &apiError{status: http.StatusUnsupportedMediaType, code: codeMediaType, message: msg}
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
	// encoding/json matches keys case-insensitively, with Unicode folding ("STEPS" and
	// "ſteps" both set steps); the reference matches exactly and ignores other keys. So
	// members whose key is not exactly a field name are cut out before decoding.
	// Malformed bodies are decoded as sent, so the syntax error points into them.
	if exact, cut := exactMembers(body, wireNames(reflect.TypeOf(dst).Elem())); cut && json.Valid(body) {
		body = exact
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
		// Field is a dotted path that starts with the Go names of embedded structs
		// ("SimulateRequest.steps"); request bodies are flat, so the wire name is its end.
		loc = append(loc, te.Field[strings.LastIndexByte(te.Field, '.')+1:])
	}
	typ, msg := kindMessage(te.Type)
	if num, ok := strings.CutPrefix(te.Value, "number "); ok && typ == "int_type" {
		if isJSONInt([]byte(num)) {
			return intRangeItem(loc, num, te.Type.Bits())
		}
		typ, msg = "int_from_float", "Input should be a valid integer, got a number with a fractional part"
	}
	return validationItem{Type: typ, Loc: loc, Msg: msg}
}

// intRangeItem is pydantic's bound item for an integer literal that does not fit the
// field's bits: {"seed": 9223372036854775808} is "less than or equal to
// 9223372036854775807", not a fraction.
func intRangeItem(loc []any, num string, bits int) validationItem {
	in := json.Number(num)
	if num[0] == '-' {
		lo := int64(-1) << (bits - 1)
		return validationItem{Type: "greater_than_equal", Loc: loc, Input: in, Ctx: map[string]any{"ge": lo},
			Msg: "Input should be greater than or equal to " + strconv.FormatInt(lo, 10)}
	}
	hi := int64(uint64(1)<<(bits-1) - 1)
	return validationItem{Type: "less_than_equal", Loc: loc, Input: in, Ctx: map[string]any{"le": hi},
		Msg: "Input should be less than or equal to " + strconv.FormatInt(hi, 10)}
}

var wireNameSets sync.Map // reflect.Type -> map[string]bool

// wireNames is the set of JSON names of t's fields, those of embedded structs included.
func wireNames(t reflect.Type) map[string]bool {
	if m, ok := wireNameSets.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" && f.IsExported() && !f.Anonymous {
			m[name] = true
		}
	}
	wireNameSets.Store(t, m)
	return m
}

// exactMembers returns the object body without the top-level members whose key is not
// exactly in names, and whether any was cut (if none was, body itself comes back and
// nothing is allocated). It only finds member boundaries; the caller checks validity.
func exactMembers(body []byte, names map[string]bool) ([]byte, bool) {
	var spanBuf [16][2]int
	kept, cut := spanBuf[:0], false
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return body, false
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		return body, false
	}
	for {
		start := i
		end := skipString(body, i)
		if end < 0 {
			return body, false
		}
		i = skipWS(body, end)
		if i >= len(body) || body[i] != ':' {
			return body, false
		}
		if i = skipValue(body, skipWS(body, i+1)); i < 0 {
			return body, false
		}
		key := body[start+1 : end-1]
		keep := names[string(key)]
		if !keep && bytes.IndexByte(key, '\\') >= 0 {
			var k string // an escaped key may still spell a field exactly: "st\u0065ps"
			keep = json.Unmarshal(body[start:end], &k) == nil && names[k]
		}
		if keep {
			kept = append(kept, [2]int{start, i})
		} else {
			cut = true
		}
		if i = skipWS(body, i); i >= len(body) {
			return body, false
		}
		if body[i] == '}' {
			break
		}
		if body[i] != ',' {
			return body, false
		}
		i = skipWS(body, i+1)
	}
	if !cut {
		return body, false
	}
	out := make([]byte, 0, len(body))
	out = append(out, '{')
	for k, sp := range kept {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, body[sp[0]:sp[1]]...)
	}
	return append(out, '}'), true
}

// skipString returns the index after the JSON string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1. Scalars end
// at the next delimiter; their grammar is left to the decoder.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isWS(b[i]) {
		i++
	}
	return i
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
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || f.Anonymous {
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
