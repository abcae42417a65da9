package server

import (
	"reflect"
	"strconv"
	"sync"
)

// fastDecode is a fast path for the common request body: one flat JSON object whose
// values are numbers or booleans, with keys that exactly name fields of dst. It sets
// the fields exactly as encoding/json would and reports true; on anything else
// (strings, lists, null, unknown or differently-cased keys, numbers an int field would
// reject, malformed input) it changes nothing and reports false, and the caller decodes
// with encoding/json, which then also produces the precise error. The equivalence is
// checked by a differential fuzz test against json.Unmarshal.
func fastDecode(body []byte, dst any) bool {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return false
	}
	fields := fieldTable(rv.Elem().Type())
	type set struct {
		f   *fastField
		tok []byte
	}
	var sets [8]set
	n := 0
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			// key: a plain string without escapes
			if i >= len(body) || body[i] != '"' {
				return false
			}
			j := i + 1
			for j < len(body) && body[j] != '"' {
				if body[j] == '\\' || body[j] < 0x20 {
					return false
				}
				j++
			}
			if j >= len(body) {
				return false
			}
			f := fields[string(body[i+1:j])]
			if f == nil {
				return false
			}
			i = skipWS(body, j+1)
			if i >= len(body) || body[i] != ':' {
				return false
			}
			i = skipWS(body, i+1)
			start := i
			for i < len(body) && body[i] != ',' && body[i] != '}' && !isWS(body[i]) {
				i++
			}
			if n == len(sets) {
				return false
			}
			sets[n] = set{f, body[start:i]}
			n++
			i = skipWS(body, i)
			if i >= len(body) {
				return false
			}
			if body[i] == '}' {
				i++
				break
			}
			if body[i] != ',' {
				return false
			}
			i = skipWS(body, i+1)
		}
	}
	if skipWS(body, i) != len(body) {
		return false
	}
	// Parse everything before touching dst, so a rejected body leaves it as it was.
	type val struct {
		i int64
		f float64
		b bool
	}
	var vals [8]val
	for k := 0; k < n; k++ {
		tok := sets[k].tok
		switch sets[k].f.kind {
		case reflect.Int, reflect.Int64:
			if !isJSONInt(tok) {
				return false
			}
			v, err := strconv.ParseInt(string(tok), 10, sets[k].f.bits)
			if err != nil {
				return false
			}
			vals[k].i = v
		case reflect.Float64:
			if !isJSONNumber(tok) {
				return false
			}
			v, err := strconv.ParseFloat(string(tok), 64)
			if err != nil {
				return false
			}
			vals[k].f = v
		case reflect.Bool:
			switch string(tok) {
			case "true":
				vals[k].b = true
			case "false":
			default:
				return false
			}
		default:
			return false
		}
	}
	elem := rv.Elem()
	for k := 0; k < n; k++ {
		f := sets[k].f
		fv := elem.FieldByIndex(f.index)
		switch f.kind {
		case reflect.Int, reflect.Int64:
			if f.ptr {
				p := reflect.New(fv.Type().Elem())
				p.Elem().SetInt(vals[k].i)
				fv.Set(p)
			} else {
				fv.SetInt(vals[k].i)
			}
		case reflect.Float64:
			if f.ptr {
				p := new(float64)
				*p = vals[k].f
				fv.Set(reflect.ValueOf(p))
			} else {
				fv.SetFloat(vals[k].f)
			}
		case reflect.Bool:
			fv.SetBool(vals[k].b)
		}
	}
	return true
}

type fastField struct {
	index []int        // as for reflect.Value.FieldByIndex: embedded structs' fields too
	kind  reflect.Kind // of the field, or of its element for *int and *float64
	ptr   bool
	bits  int
}

var fieldTables sync.Map // reflect.Type -> map[string]*fastField

// fieldTable maps JSON names to the number and boolean fields of t and of the structs it
// embeds (int, int64, *int, float64, *float64, bool); other fields are left out, so
// their keys fall back.
func fieldTable(t reflect.Type) map[string]*fastField {
	if m, ok := fieldTables.Load(t); ok {
		return m.(map[string]*fastField)
	}
	m := map[string]*fastField{}
	for _, sf := range reflect.VisibleFields(t) {
		name := sf.Tag.Get("json")
		for k := 0; k < len(name); k++ {
			if name[k] == ',' {
				name = name[:k]
				break
			}
		}
		if name == "" || name == "-" || !sf.IsExported() || sf.Anonymous {
			continue
		}
		ft := sf.Type
		f := &fastField{index: sf.Index, kind: ft.Kind()}
		if ft.Kind() == reflect.Pointer {
			switch ft.Elem().Kind() {
			case reflect.Float64, reflect.Int:
				ft = ft.Elem()
				f.kind, f.ptr = ft.Kind(), true
			}
		}
		switch f.kind {
		case reflect.Int, reflect.Int64:
			f.bits = ft.Bits()
		case reflect.Float64, reflect.Bool:
		default:
			continue
		}
		m[name] = f
	}
	fieldTables.Store(t, m)
	return m
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

// isJSONNumber is the JSON number grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func isJSONNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}
