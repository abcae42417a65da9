package ws

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// kv is one key of an ordered JSON object. encoding/json sorts map keys; the protocol
// documents an order (websocket-protocol.md §5) and golden comparisons are easier when
// we keep it.
type kv struct {
	k string
	v any
}

// obj is a JSON object that marshals its keys in slice order.
type obj []kv

// MarshalJSON writes the keys in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", e.k, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// msTime is a timestamp as the protocol sends it: Unix milliseconds as a float.
func msTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

// finiteOr0 keeps NaN and ±Inf out of JSON, which cannot carry them (§15 B11).
func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// inbound is a client message as read: type and payload are decoded lazily so that a
// bad payload can be answered per message type.
type inbound struct {
	typ        string
	hasType    bool // type present and a string
	payload    json.RawMessage
	hasPayload bool
}

// decodeInbound parses one text frame. Only a frame that is not a JSON object is an
// error; a missing or non-string type yields hasType false (ignored, like the reference).
func decodeInbound(data []byte) (inbound, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		if err == nil {
			err = fmt.Errorf("message is null")
		}
		return inbound{}, fmt.Errorf("message must be a JSON object: %w", err)
	}
	var in inbound
	if raw, ok := top["type"]; ok {
		in.hasType = json.Unmarshal(raw, &in.typ) == nil && len(raw) > 0 && raw[0] == '"'
	}
	in.payload, in.hasPayload = top["payload"]
	return in, nil
}

// fields is a decoded payload object; its getters apply the reference's lax coercion
// (numeric strings for numbers, exact-integer floats for ints, the usual bool strings).
type fields struct {
	prefix string // "params." for subscribe params, to name nested fields
	m      map[string]json.RawMessage
}

// fieldError is a payload validation failure naming the field.
type fieldError struct {
	Field  string
	Reason string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Reason }

// payloadFields decodes a payload: absent counts as {}, null or a non-object fails.
func payloadFields(raw json.RawMessage, present bool, name string) (fields, error) {
	f := fields{m: map[string]json.RawMessage{}}
	if !present {
		return f, nil
	}
	if err := json.Unmarshal(raw, &f.m); err != nil || f.m == nil || bytes.TrimSpace(raw)[0] != '{' {
		return fields{}, &fieldError{Field: name, Reason: "Input should be a valid dictionary"}
	}
	return f, nil
}

func (f fields) err(name, reason string) error {
	return &fieldError{Field: f.prefix + name, Reason: reason}
}

func (f fields) raw(name string) (json.RawMessage, bool) {
	r, ok := f.m[name]
	return r, ok
}

func (f fields) isNull(name string) bool {
	r, ok := f.m[name]
	return ok && string(bytes.TrimSpace(r)) == "null"
}

// scalar decodes a raw value keeping numbers exact.
func scalar(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// str returns a string field; strings do not accept numbers (pydantic strict for str).
func (f fields) str(name string, required bool) (string, bool, error) {
	raw, ok := f.raw(name)
	if !ok {
		if required {
			return "", false, f.err(name, "Field required")
		}
		return "", false, nil
	}
	var s string
	if len(bytes.TrimSpace(raw)) == 0 || bytes.TrimSpace(raw)[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false, f.err(name, "Input should be a valid string")
	}
	return s, true, nil
}

// num returns a finite number field, accepting numeric strings.
func (f fields) num(name string, required bool) (float64, bool, error) {
	raw, ok := f.raw(name)
	if !ok {
		if required {
			return 0, false, f.err(name, "Field required")
		}
		return 0, false, nil
	}
	v, err := scalar(raw)
	if err != nil {
		return 0, false, f.err(name, "Input should be a valid number")
	}
	var x float64
	switch t := v.(type) {
	case json.Number:
		x, err = strconv.ParseFloat(string(t), 64)
	case string:
		x, err = strconv.ParseFloat(strings.TrimSpace(t), 64)
	default:
		err = fmt.Errorf("not a number")
	}
	if err != nil {
		return 0, false, f.err(name, "Input should be a valid number")
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false, f.err(name, "Input should be a finite number")
	}
	return x, true, nil
}

// integer returns an int field: integers, exact-integer floats (100.0) and their strings.
func (f fields) integer(name string) (int64, bool, error) {
	x, ok, err := f.num(name, false)
	if err != nil || !ok {
		if err != nil {
			err = f.err(name, "Input should be a valid integer")
		}
		return 0, ok, err
	}
	if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, false, f.err(name, "Input should be a valid integer, got a number with a fractional part")
	}
	return int64(x), true, nil
}

// boolean returns a bool field: true/false, 0/1 and pydantic's accepted strings.
func (f fields) boolean(name string) (bool, bool, error) {
	raw, ok := f.raw(name)
	if !ok {
		return false, false, nil
	}
	v, err := scalar(raw)
	if err == nil {
		switch t := v.(type) {
		case bool:
			return t, true, nil
		case json.Number:
			switch string(t) {
			case "0", "0.0":
				return false, true, nil
			case "1", "1.0":
				return true, true, nil
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "true", "1", "yes", "on", "t", "y":
				return true, true, nil
			case "false", "0", "no", "off", "f", "n":
				return false, true, nil
			}
		}
	}
	return false, false, f.err(name, "Input should be a valid boolean")
}

// strList returns a list of strings; null counts as absent.
func (f fields) strList(name string) ([]string, bool, error) {
	raw, ok := f.raw(name)
	if !ok || f.isNull(name) {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false, f.err(name, "Input should be a valid list of strings")
	}
	return list, true, nil
}

// object returns a nested object field; null or absent gives an empty one.
func (f fields) object(name string) (fields, error) {
	raw, ok := f.raw(name)
	if !ok || f.isNull(name) {
		return fields{prefix: f.prefix + name + ".", m: map[string]json.RawMessage{}}, nil
	}
	sub, err := payloadFields(raw, true, f.prefix+name)
	sub.prefix = f.prefix + name + "."
	return sub, err
}

// The parse* functions below are each client message's decode and validation steps,
// kept free of the connection so the handlers in conn.go and the fuzz targets run the
// same code. Each stops at the first bad field and returns a *fieldError naming it; the
// handler picks the reply (the error code differs per message type).

// initMsg is a decoded init payload.
type initMsg struct {
	protocolVersion string // as sent, or ""; the reply states the server's version whatever it is
	clientInfo      string // "" when absent or null; only logged
}

// parseInit decodes an init payload: both keys are optional strings, client_info may be null.
func parseInit(in inbound) (initMsg, error) {
	f, err := payloadFields(in.payload, in.hasPayload, "payload")
	if err != nil {
		return initMsg{}, err
	}
	var m initMsg
	if m.protocolVersion, _, err = f.str("protocol_version", false); err != nil {
		return initMsg{}, err
	}
	if !f.isNull("client_info") {
		if m.clientInfo, _, err = f.str("client_info", false); err != nil {
			return initMsg{}, err
		}
	}
	return m, nil
}

// authMsg is a decoded auth payload. A signature, if sent, is checked for type and then
// ignored, as documented, so it is not kept.
type authMsg struct {
	apiKey    string
	timestamp float64 // client clock, Unix milliseconds; finite
}

// parseAuth decodes an auth payload: api_key and timestamp are required, signature is
// an optional string or null. It does not judge the key or the clock skew.
func parseAuth(in inbound) (authMsg, error) {
	f, err := payloadFields(in.payload, in.hasPayload, "payload")
	if err != nil {
		return authMsg{}, err
	}
	var m authMsg
	if m.apiKey, _, err = f.str("api_key", true); err != nil {
		return authMsg{}, err
	}
	if m.timestamp, _, err = f.num("timestamp", true); err != nil {
		return authMsg{}, err
	}
	if !f.isNull("signature") {
		if _, _, err = f.str("signature", false); err != nil {
			return authMsg{}, err
		}
	}
	return m, nil
}

// subscribeMsg is a decoded subscribe payload. params stays undecoded: the connection's
// endpoint, not stream_type, picks its parser (parseSimParams or parseFeatureParams), and
// the strict stream-type check runs before it.
type subscribeMsg struct {
	streamType string // epSimulationLive or epStreamFeatures
	streamID   string
	params     fields // empty when absent or null
}

// parseSubscribe decodes a subscribe payload: stream_type (one of the two endpoints) and
// stream_id are required strings, params an optional object or null.
func parseSubscribe(in inbound) (subscribeMsg, error) {
	f, err := payloadFields(in.payload, in.hasPayload, "payload")
	if err != nil {
		return subscribeMsg{}, err
	}
	var m subscribeMsg
	if m.streamType, _, err = f.str("stream_type", true); err != nil {
		return subscribeMsg{}, err
	}
	if m.streamType != epSimulationLive && m.streamType != epStreamFeatures {
		return subscribeMsg{}, &fieldError{Field: "stream_type", Reason: "Input should be 'stream_features' or 'simulation_live'"}
	}
	if m.streamID, _, err = f.str("stream_id", true); err != nil {
		return subscribeMsg{}, err
	}
	if m.params, err = f.object("params"); err != nil {
		return subscribeMsg{}, err
	}
	return m, nil
}

// parseUnsubscribe decodes an unsubscribe payload and returns its required stream_id.
func parseUnsubscribe(in inbound) (string, error) {
	f, err := payloadFields(in.payload, in.hasPayload, "payload")
	if err != nil {
		return "", err
	}
	id, _, err := f.str("stream_id", true)
	if err != nil {
		return "", err
	}
	return id, nil
}
