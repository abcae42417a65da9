package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Request bodies are decoded the way the reference's FastAPI/pydantic models behave, as
// tightened by api-contract §7.2 [GO], and the same way on every transport that carries
// JSON (REST, the image routes, pipeline messages): unknown fields are ignored and keys
// match exactly (encoding/json alone would fold case); absent fields keep the defaults
// already in the destination; JSON numbers only for numbers, JSON booleans only for
// booleans; null on a field, bad JSON, trailing data or a non-object body is an error
// whose items name the field (loc ["body", field, index...]).

// Item is one FastAPI/pydantic 422 item (api-contract §7.2): REST renders it as it is,
// other transports take its field and message.
type Item struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input,omitempty"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// Field is the item's location below the body as a dotted path ("gradients.0.1"), or
// "" when the item is about the body as a whole.
func (it Item) Field() string {
	var b strings.Builder
	for i, p := range it.Loc {
		if i == 0 {
			continue // "body"
		}
		if i > 1 {
			b.WriteByte('.')
		}
		switch v := p.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		default:
			if it.Type == "json_invalid" {
				return "" // a byte offset: the body as a whole
			}
		}
	}
	return b.String()
}

// BodyError is a request body that is not a valid request: every problem found at once,
// as pydantic reports them.
type BodyError struct {
	Items []Item
}

func (e *BodyError) Error() string {
	if len(e.Items) == 0 {
		return "invalid body"
	}
	it := e.Items[0]
	if f := it.Field(); f != "" {
		return f + ": " + it.Msg
	}
	return "body: " + it.Msg
}

func bodyErr(items ...Item) *BodyError { return &BodyError{Items: items} }

// Item renders e as a 422 item on its field.
func (e *ValidationError) Item() Item {
	it := Item{Type: e.Type, Loc: []any{"body", e.Field}, Msg: e.Reason, Input: e.Input, Ctx: e.Ctx}
	if it.Type == "" {
		it.Type = "value_error"
	}
	return it
}

var nullToken = []byte("null")

// jsonSpace is the whitespace JSON allows around a value (RFC 8259 §2). bytes.TrimSpace
// would also strip \f, \v and Unicode spaces and so accept a body like "{}\f".
const jsonSpace = " \t\r\n"

// Decode decodes one request body into dst, a pointer to a struct already holding its
// defaults (Default*Request, or a transport's body type). It answers nil or a
// *BodyError.
func Decode(body []byte, dst any) error {
	body = bytes.Trim(body, jsonSpace)
	if decodeFlat(body, dst) {
		return nil
	}
	return decodeFull(body, dst)
}

// decodeFull is Decode without the fast path: every rule, every error. body is trimmed.
func decodeFull(body []byte, dst any) error {
	if len(body) == 0 || bytes.Equal(body, nullToken) {
		return bodyErr(Item{Type: "missing", Loc: []any{"body"}, Msg: "Field required"})
	}
	if body[0] != '{' {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return jsonInvalid(err)
		}
		return bodyErr(Item{Type: "model_attributes_type", Loc: []any{"body"},
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
			return bodyErr(typeItem(te))
		}
		return jsonInvalid(err)
	}
	// Go leaves a field untouched on null; the reference rejects it. Only bodies that
	// contain the token pay for the second look.
	if bytes.Contains(body, nullToken) {
		if items := nullItems(body, reflect.TypeOf(dst).Elem()); len(items) > 0 {
			return bodyErr(items...)
		}
	}
	return nil
}

func jsonInvalid(err error) *BodyError {
	loc := []any{"body"}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		loc = append(loc, se.Offset)
	}
	return bodyErr(Item{Type: "json_invalid", Loc: loc, Msg: "JSON decode error",
		Ctx: map[string]any{"error": strings.TrimPrefix(err.Error(), "json: ")}})
}

// typeItem turns a decoder type error into pydantic's item for the target type.
func typeItem(te *json.UnmarshalTypeError) Item {
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
	return Item{Type: typ, Loc: loc, Msg: msg}
}

// intRangeItem is pydantic's bound item for an integer literal that does not fit the
// field's bits: {"seed": 9223372036854775808} is "less than or equal to
// 9223372036854775807", not a fraction.
func intRangeItem(loc []any, num string, bits int) Item {
	in := json.Number(num)
	if num[0] == '-' {
		lo := int64(-1) << (bits - 1)
		return Item{Type: "greater_than_equal", Loc: loc, Input: in, Ctx: map[string]any{"ge": lo},
			Msg: "Input should be greater than or equal to " + strconv.FormatInt(lo, 10)}
	}
	hi := int64(math.MaxInt64) >> (64 - bits)
	return Item{Type: "less_than_equal", Loc: loc, Input: in, Ctx: map[string]any{"le": hi},
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
func nullItems(body []byte, t reflect.Type) []Item {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	var items []Item
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

func walkNulls(items []Item, v any, t reflect.Type, loc []any) []Item {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		typ, msg := kindMessage(t)
		return append(items, Item{Type: typ, Loc: loc, Msg: msg, Input: nil})
	}
	if list, ok := v.([]any); ok && t.Kind() == reflect.Slice {
		for i, e := range list {
			items = walkNulls(items, e, t.Elem(), append(append([]any{}, loc...), i))
		}
	}
	return items
}

// Missing reports every absent required field at once, as pydantic does (A3); each
// item's input is the body object.
func Missing(body []byte, names ...string) *BodyError {
	var obj any
	_ = json.Unmarshal(body, &obj)
	items := make([]Item, 0, len(names))
	for _, n := range names {
		items = append(items, Item{Type: "missing", Loc: []any{"body", n}, Msg: "Field required", Input: obj})
	}
	return &BodyError{Items: items}
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// isJSONInt: -?(0|[1-9][0-9]*), what encoding/json accepts for an int field.
func isJSONInt(s []byte) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
