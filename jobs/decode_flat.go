package jobs

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// The fast path of Decode. Most bodies of the scalar requests (Nernst, Simulate,
// Validate) are a flat object of known keys and plain numbers or booleans; for them
// encoding/json's validity scan, its reflection-driven decoder and Decode's key filter
// cost more than the job (a Nernst potential). decodeFlat decodes exactly that shape in
// one pass and declines everything else (an unknown, duplicate or escaped key, null, a
// string or a list where a scalar goes, a number the field cannot hold, anything
// nested), which decodeFull then handles, so that every error, and every value, stays
// the full decoder's. FuzzDecodeFlat checks that the two agree on arbitrary input.

// flatKind is how one field is set.
type flatKind uint8

const (
	flatInt      flatKind = iota // any signed integer kind: a JSON integer literal in range
	flatFloat                    // float64: any JSON number that parses without overflow
	flatFloatPtr                 // *float64: the same, allocated when nil, as encoding/json does
	flatBool                     // bool: true or false
)

type flatField struct {
	name  string // the JSON name, matched exactly
	index int    // the struct field index
	kind  flatKind
	bits  int // flatInt: the integer's size
}

// maxFlatFields bounds a flat struct's fields, so that one pass can hold every pending
// value on the stack and leave dst untouched when it declines.
const maxFlatFields = 16

var flatPlans sync.Map // reflect.Type -> []flatField; nil: not a flat type

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// flatPlan is t's fields when t is a struct of at most maxFlatFields tagged scalar
// fields with no custom unmarshalling, else nil.
func flatPlan(t reflect.Type) []flatField {
	if p, ok := flatPlans.Load(t); ok {
		return p.([]flatField)
	}
	p := buildFlatPlan(t)
	flatPlans.Store(t, p)
	return p
}

func buildFlatPlan(t reflect.Type) []flatField {
	if t.Kind() != reflect.Struct || t.NumField() > maxFlatFields || customUnmarshal(t) {
		return nil
	}
	plan := make([]flatField, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		// A field without a plain tag name (untagged, "-", ",string", embedded) is matched
		// by encoding/json's other rules: not flat.
		if !f.IsExported() || f.Anonymous || tag == "" || strings.ContainsRune(tag, ',') || tag == "-" ||
			customUnmarshal(f.Type) {
			return nil
		}
		var kind flatKind
		bits := 0
		switch ft := f.Type; {
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Int64:
			kind, bits = flatInt, ft.Bits()
		case ft.Kind() == reflect.Float64:
			kind = flatFloat
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Float64 && !customUnmarshal(ft.Elem()):
			kind = flatFloatPtr
		case ft.Kind() == reflect.Bool:
			kind = flatBool
		default:
			return nil
		}
		for _, g := range plan {
			if g.name == tag {
				return nil // two fields, one name: encoding/json's tie rules apply
			}
		}
		plan = append(plan, flatField{name: tag, index: i, kind: kind, bits: bits})
	}
	return plan
}

func customUnmarshal(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshalerType) || pt.Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// flatValue is one parsed member, set on dst only once the whole body has parsed.
type flatValue struct {
	field int // index into the plan
	i     int64
	f     float64
	b     bool
}

// decodeFlat decodes body (trimmed of JSON space) into dst and reports true, or reports
// false, with dst untouched, when body is not a flat object of dst's fields.
func decodeFlat(body []byte, dst any) bool {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	plan := flatPlan(rv.Type().Elem())
	if plan == nil || len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return false
	}
	var vals [maxFlatFields]flatValue
	n, seen := 0, uint32(0)
	i := skipWS(body, 1)
	if body[i] == '}' {
		return i == len(body)-1
	}
	for {
		if body[i] != '"' {
			return false
		}
		j := i + 1
		for j < len(body) && body[j] != '"' && body[j] != '\\' && body[j] >= 0x20 {
			j++
		}
		if j >= len(body) || body[j] != '"' {
			return false
		}
		f := -1
		for k := range plan {
			if plan[k].name == string(body[i+1:j]) {
				f = k
				break
			}
		}
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		if i = skipWS(body, j+1); body[i] != ':' {
			return false
		}
		i = skipWS(body, i+1)
		for j = i; j < len(body) && body[j] != ',' && body[j] != '}' && !isWS(body[j]); j++ {
		}
		v, ok := parseFlat(plan[f], body[i:j])
		if !ok {
			return false
		}
		v.field = f
		vals[n] = v
		n++
		// body ends in '}', so the scans above stop at or before it and i stays in range.
		switch i = skipWS(body, j); body[i] {
		case '}':
			if i != len(body)-1 {
				return false
			}
			setFlat(rv.Elem(), plan, vals[:n])
			return true
		case ',':
			i = skipWS(body, i+1)
		default:
			return false
		}
	}
}

// parseFlat parses one scalar token the way encoding/json would for field f, and
// reports false where encoding/json would fail or do something else.
func parseFlat(f flatField, tok []byte) (flatValue, bool) {
	switch f.kind {
	case flatInt:
		if !isJSONInt(tok) {
			return flatValue{}, false
		}
		n, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil || f.bits < 64 && (n < -1<<(f.bits-1) || n >= 1<<(f.bits-1)) {
			return flatValue{}, false
		}
		return flatValue{i: n}, true
	case flatFloat, flatFloatPtr:
		if !isJSONNumber(tok) {
			return flatValue{}, false
		}
		x, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return flatValue{}, false
		}
		return flatValue{f: x}, true
	case flatBool:
		switch string(tok) {
		case "true":
			return flatValue{b: true}, true
		case "false":
			return flatValue{}, true
		}
	}
	return flatValue{}, false
}

func setFlat(s reflect.Value, plan []flatField, vals []flatValue) {
	for _, v := range vals {
		f := plan[v.field]
		fv := s.Field(f.index)
		switch f.kind {
		case flatInt:
			fv.SetInt(v.i)
		case flatFloat:
			fv.SetFloat(v.f)
		case flatFloatPtr:
			// encoding/json writes through a non-nil pointer and allocates a nil one.
			if fv.IsNil() {
				fv.Set(reflect.New(fv.Type().Elem()))
			}
			fv.Elem().SetFloat(v.f)
		case flatBool:
			fv.SetBool(v.b)
		}
	}
}

// isJSONNumber: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, RFC 8259's number
// (strconv.ParseFloat alone would also take "inf", "0x1p3" and "+1").
func isJSONNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	return i == len(s)
}
