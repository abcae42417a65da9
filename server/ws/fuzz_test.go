package ws

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"mfn/internal/jobstest"
	"mfn/jobs"
)

// The WebSocket handlers (onInit, onAuth, onSubscribe, onUnsubscribe in conn.go)
// decode through pure functions and only then reply on the live connection, so these
// targets fuzz exactly what the handlers run: decodeInbound (the raw frame), parseInit,
// parseAuth, parseSubscribe and parseUnsubscribe (the payload, in msg.go), and
// parseSimParams / parseFeatureParams (subscribe params).

var wsFrameSeeds = []string{
	`{"type":"init","payload":{"protocol_version":"1.0","client_info":"browser"}}`,
	`{"type":"init"}`, `{"type":"init","payload":null}`, `{"type":"init","payload":{"client_info":null}}`,
	`{"type":"init","payload":{"protocol_version":1}}`, `{"type":"init","payload":[]}`,
	`{"type":"auth","payload":{"api_key":"k","timestamp":1733400000000}}`, `{"type":"auth","payload":{"api_key":"k","timestamp":"1733400000000.5"}}`,
	`{"type":"auth","payload":{"api_key":"k"}}`, `{"type":"auth","payload":{"timestamp":1}}`, `{"type":"auth","payload":{"api_key":"k","timestamp":"NaN"}}`,
	`{"type":"auth","payload":{"api_key":"k","timestamp":1e400}}`, `{"type":"auth","payload":{"api_key":"k","timestamp":1,"signature":null}}`,
	`{"type":"subscribe","payload":{"stream_type":"simulation_live","stream_id":"sim-1","params":{"seed":42,"grid_size":32,"steps":50,"update_interval_steps":5}}}`,
	`{"type":"subscribe","payload":{"stream_type":"stream_features","stream_id":"f","params":{"update_interval_ms":"250","features":["fractal_dimension"],"compression":"yes"}}}`,
	`{"type":"subscribe","payload":{"stream_type":"stream_features","stream_id":"f","params":null}}`,
	`{"type":"subscribe","payload":{"stream_type":"bogus","stream_id":"x"}}`, `{"type":"subscribe","payload":{"stream_type":"simulation_live"}}`,
	`{"type":"subscribe","payload":{"stream_type":"simulation_live","stream_id":"s","params":[1]}}`,
	`{"type":"unsubscribe","payload":{"stream_id":"sim-1"}}`, `{"type":"unsubscribe","payload":{"stream_id":7}}`,
	`{"type":"heartbeat"}`, `{"type":7}`, `{"type":null}`, `{"payload":{}}`, `{}`, `null`, `[]`, `"init"`, `{`, ``,
	`{"type":"init"} x`, `{"type":"\u0069nit"}`, "{\"type\":\"init\",\"payload\":{\"client_info\":\"\xff\"}}",
}

var wsParamSeeds = []string{
	`{}`, `null`, `[]`, `5`, `{"seed":42,"grid_size":32,"steps":50,"update_interval_steps":5}`,
	`{"seed":"7","grid_size":"32.0","steps":1e2,"alpha":"0.1","turing_enabled":"off","include_full_state":1}`,
	`{"seed":1.5}`, `{"seed":-1}`, `{"seed":9007199254740993}`, `{"seed":"0x10"}`, `{"grid_size":4294967296}`,
	`{"grid_size":" 16 "}`, `{"steps":true}`, `{"alpha":0.25}`, `{"alpha":0.05}`, `{"alpha":"Inf"}`, `{"alpha":null}`,
	`{"update_interval_steps":0}`, `{"update_interval_steps":101}`, `{"threshold_mV":-95}`, `{"threshold_mV":"-96"}`,
	`{"turing_enabled":"YES"}`, `{"turing_enabled":2}`, `{"turing_enabled":"1.0"}`, `{"compression":null}`,
	`{"update_interval_ms":10}`, `{"update_interval_ms":10000}`, `{"update_interval_ms":9}`, `{"update_interval_ms":"1e3"}`,
	`{"features":["a","b"]}`, `{"features":[]}`, `{"features":null}`, `{"features":"a"}`, `{"features":[1]}`,
	`{"spike_probability":"1"}`, `{"spike_probability":1.0000001}`,
}

func FuzzWSInbound(f *testing.F) {
	for _, s := range wsFrameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := decodeInbound(data)
		// The oracle: one valid JSON value whose first byte is '{'.
		trimmed := strings.TrimLeft(string(data), " \t\r\n")
		isObj := json.Valid(data) && strings.HasPrefix(trimmed, "{")
		if err != nil {
			if isObj || !strings.Contains(err.Error(), "must be a JSON object") {
				t.Fatalf("%q: rejected with %v", data, err)
			}
			return
		}
		if !isObj {
			t.Fatalf("%q: accepted a frame that is not a JSON object", data)
		}
		var top map[string]any
		d := json.NewDecoder(strings.NewReader(string(data)))
		d.UseNumber() // 1e400 is a valid JSON number, just not a float64
		if err := d.Decode(&top); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		typ, isStr := top["type"].(string)
		if in.hasType != isStr || (isStr && in.typ != typ) {
			t.Fatalf("%q: type %q/%v, want %q/%v", data, in.typ, in.hasType, typ, isStr)
		}
		if _, ok := top["payload"]; ok != in.hasPayload {
			t.Fatalf("%q: hasPayload %v", data, in.hasPayload)
		}
		if !in.hasType {
			return
		}
		// The payload as plain JSON, to check that accepted string fields come back as sent.
		payload, _ := top["payload"].(map[string]any)
		var errs []error
		switch in.typ {
		case "init":
			m, err := parseInit(in)
			if err == nil {
				wantStr(t, data, payload, "protocol_version", m.protocolVersion)
				wantStr(t, data, payload, "client_info", m.clientInfo)
			}
			errs = append(errs, err)
		case "auth":
			m, err := parseAuth(in)
			if err == nil {
				wantStr(t, data, payload, "api_key", m.apiKey)
				if math.IsNaN(m.timestamp) || math.IsInf(m.timestamp, 0) {
					t.Fatalf("%q: auth accepted timestamp %v", data, m.timestamp)
				}
			}
			errs = append(errs, err)
		case "subscribe":
			m, err := parseSubscribe(in)
			errs = append(errs, err)
			if err == nil {
				wantStr(t, data, payload, "stream_type", m.streamType)
				wantStr(t, data, payload, "stream_id", m.streamID)
				if m.streamType != epSimulationLive && m.streamType != epStreamFeatures {
					t.Fatalf("%q: subscribe accepted stream_type %q", data, m.streamType)
				}
				// The endpoint, not stream_type, picks the params parser: run both.
				_, simErr := parseSimParams(m.params)
				_, featErr := parseFeatureParams(m.params)
				errs = append(errs, simErr, featErr)
			}
		case "unsubscribe":
			id, err := parseUnsubscribe(in)
			if err == nil {
				wantStr(t, data, payload, "stream_id", id)
			}
			errs = append(errs, err)
		}
		for _, err := range errs {
			if err == nil {
				continue
			}
			var fe *fieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Reason == "" {
				t.Fatalf("%q: %s error %T %v does not name a field", data, in.typ, err, err)
			}
			if !knownWSField(fe.Field) {
				t.Fatalf("%q: %s error names unknown field %q", data, in.typ, fe.Field)
			}
		}
	})
}

// wantStr checks an accepted string field against the payload decoded as plain JSON:
// the value sent, or "" when the key is absent or null.
func wantStr(t *testing.T, data []byte, payload map[string]any, name, got string) {
	t.Helper()
	want, _ := payload[name].(string)
	if got != want {
		t.Fatalf("%q: %s decoded as %q, sent %q", data, name, got, want)
	}
}

var wsFieldNames = map[string]bool{
	"payload": true, "protocol_version": true, "client_info": true, "api_key": true, "timestamp": true,
	"signature": true, "stream_type": true, "stream_id": true, "params": true,
	"params.seed": true, "params.grid_size": true, "params.steps": true, "params.update_interval_steps": true,
	"params.alpha": true, "params.spike_probability": true, "params.threshold_mV": true,
	"params.turing_enabled": true, "params.include_full_state": true, "params.compression": true,
	"params.update_interval_ms": true, "params.features": true,
}

func knownWSField(name string) bool { return wsFieldNames[name] }

func FuzzWSSubscribeParams(f *testing.F) {
	for _, s := range wsParamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		payload := []byte(`{"stream_type":"simulation_live","stream_id":"s","params":`)
		if !json.Valid(raw) {
			return // not a payload value; FuzzWSInbound covers frames that are not JSON
		}
		payload = append(append(payload, raw...), '}')
		top, err := payloadFields(payload, true, "payload")
		if err != nil {
			t.Fatalf("payload %s rejected: %v", payload, err)
		}
		params, err := top.object("params")
		if err != nil {
			checkParamErr(t, raw, err)
			return
		}
		sp, err := parseSimParams(params)
		if err != nil {
			checkParamErr(t, raw, err)
		} else {
			checkSimParams(t, raw, sp)
		}
		fp, err := parseFeatureParams(params)
		if err != nil {
			checkParamErr(t, raw, err)
		} else {
			checkFeatureParams(t, raw, fp)
		}
	})
}

func checkParamErr(t *testing.T, raw []byte, err error) {
	t.Helper()
	var fe *fieldError
	if !errors.As(err, &fe) || fe.Reason == "" || !knownWSField(fe.Field) || !strings.HasPrefix(fe.Field, "params") {
		t.Fatalf("%s: error %T %v does not name a params field", raw, err, err)
	}
}

func checkSimParams(t *testing.T, raw []byte, p simParams) {
	t.Helper()
	if err := p.req.Validate(); err != nil {
		t.Fatalf("%s: accepted params fail Validate: %v", raw, err)
	}
	if err := jobstest.OutOfRange(p.req); err != nil {
		t.Fatalf("%q: valid %v", raw, err)
	}
	if p.every < 1 || p.every > maxEveryK || !(p.req.Alpha >= jobs.StreamMinAlpha && p.req.Alpha < jobs.StreamMaxAlpha) {
		t.Fatalf("%s: accepted every %d alpha %v", raw, p.every, p.req.Alpha)
	}
	// Round trip through the canonical encoding, then through the lax one (every number
	// and bool as a string): the coercion must land on the same values.
	for _, lax := range []bool{false, true} {
		enc := simParamsJSON(p, lax)
		back, err := parseSimParams(fieldsOf(t, enc))
		if err != nil {
			t.Fatalf("%s: re-encoded %s rejected: %v", raw, enc, err)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("%s: round trip via %s gives %+v, want %+v", raw, enc, back, p)
		}
	}
}

func simParamsJSON(p simParams, lax bool) []byte {
	num := func(v float64) any {
		if lax {
			return strconv.FormatFloat(v, 'g', -1, 64)
		}
		return v
	}
	boolean := func(v bool) any {
		if lax {
			return strconv.FormatBool(v)
		}
		return v
	}
	r := p.req
	b, _ := json.Marshal(map[string]any{
		"seed": num(float64(r.Seed)), "grid_size": num(float64(r.GridSize)), "steps": num(float64(r.Steps)),
		"update_interval_steps": num(float64(p.every)), "alpha": num(r.Alpha), "spike_probability": num(r.SpikeProbability),
		"threshold_mV": num(r.ThresholdMV), "turing_enabled": boolean(r.TuringEnabled), "include_full_state": boolean(p.includeFull),
	})
	return b
}

func fieldsOf(t *testing.T, b []byte) fields {
	t.Helper()
	f, err := payloadFields(b, true, "params")
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	f.prefix = "params."
	return f
}

func checkFeatureParams(t *testing.T, raw []byte, p featureParams) {
	t.Helper()
	if p.interval < minUpdateIntervalMS*time.Millisecond || p.interval > maxUpdateIntervalMS*time.Millisecond {
		t.Fatalf("%s: accepted interval %v", raw, p.interval)
	}
	if p.filter != nil && len(p.filter) == 0 {
		t.Fatalf("%s: empty non-nil filter would stream nothing", raw)
	}
	names := make([]string, 0, len(p.filter))
	for n := range p.filter {
		names = append(names, n)
	}
	sort.Strings(names)
	enc, _ := json.Marshal(map[string]any{"update_interval_ms": p.interval.Milliseconds(), "features": names})
	back, err := parseFeatureParams(fieldsOf(t, enc))
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("%s: round trip via %s gives %+v (%v), want %+v", raw, enc, back, err, p)
	}
}
