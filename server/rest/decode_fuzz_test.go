package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"mfn/internal/jobstest"
	"mfn/jobs"
	"mfn/server/envelope"
)

// decodeBodySeeds are REST bodies of the four job endpoints and the /api/* crypto
// endpoints, and the edges of jobs.Decode's rules: nulls (top level, on fields, inside
// lists), wrong JSON types, fractional ints, trailing data, non-objects, huge numbers.
var decodeBodySeeds = []string{
	`{"seed":42,"grid_size":32,"steps":32}`, `{}`, ` { } `, ``, `  `, `null`, ` null `, `[]`, `[1]`, `"x"`, `7`,
	`true`, `nope`, `{`, `{"steps":5} x`, `{"steps":5}{}`, `{"steps":5,}`, `{"steps":null}`, `{"steps":"5"}`,
	`{"steps":1.5}`, `{"steps":1e2}`, `{"steps":-0}`, `{"seed":9223372036854775808}`, `{"seed":-1}`,
	`{"alpha":1e400}`, `{"alpha":-0.0}`, `{"turing_enabled":1}`, `{"turing_enabled":"true"}`, `{"Steps":5}`,
	`{"epochs":100,"batch_size":64,"quantum_jitter":true}`, `{"epochs":0}`, `{"batch_size":65}`,
	`{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`,
	`{"concentration_out_molar":0,"concentration_in_molar":null}`, `{"concentration_out_molar":5e-324,"concentration_in_molar":1e308}`,
	`{"z_valence":4,"concentration_out_molar":1,"concentration_in_molar":1}`, `{"temperature_k":"310"}`,
	`{"gradients":[[1,2],[3,4]],"num_clusters":2,"byzantine_fraction":0.1}`, `{"gradients":[]}`, `{"gradients":[[]]}`,
	`{"gradients":[[1,null]]}`, `{"gradients":[null]}`, `{"gradients":[["x"]]}`, `{"gradients":[[1],[2,3]]}`,
	`{"gradients":[[1e39]]}`, `{"gradients":{"a":1}}`, `{"gradients":[[1]],"byzantine_fraction":0.5}`,
	`{"plaintext":"aGVsbG8=","key_id":"k1","associated_data":"YWFk"}`, `{"ciphertext":"AAAA","key_id":null}`,
	`{"message":"aGk=","signature":"c2ln","public_key":"cGs="}`, `{"message":5}`, `{"algorithm":"Ed25519","key_id":"a:b"}`,
	`{"algorithm":"RSA"}`, `{"key_id":"` + strings.Repeat("k", 65) + `"}`, `{"plaintext":""}`, `{"plaintext":["a"]}`,
	`{"STEPS":3}`, `{"ſteps":3}`, `{"steps":3,"Steps":4}`, `{"Threshold_mv":1,"threshold_mV":-61}`,
	`{"Gradients":[[1]],"gradients":[[2]]}`, `{"K_id":"x","key_ıd":"y"}`, `{"size":64,"every":2,"SIZE":1e9}`,
	`{"steps":null,"size":null}`, `{"seed":-9223372036854775809}`, `{"delay_ms":1.5}`,
	`{"st\u0065ps":3}`, "{\"steps\":\t3\n}", `{"seed":1,"seed":null}`, `{"a":{"b":[null]}}`, "{\"plaintext\":\"\xff\"}",
}

// decodeTargets are the body types the REST handlers pass to jobs.Decode, each built with
// the defaults its handler starts from.
var decodeTargets = []func() any{
	func() any { r := jobs.DefaultSimulateRequest(); return &r },
	func() any { r := jobs.DefaultValidateRequest(); return &r },
	func() any { r := jobs.DefaultNernstRequest(); return &r },
	func() any { r := jobs.DefaultFederatedRequest(); return &r },
	func() any { return new(jobs.AEADRequest) },
	func() any { return new(jobs.SignRequest) },
	func() any { return new(jobs.VerifyRequest) },
	func() any { return new(jobs.KeypairRequest) },
	func() any { return &imageRequest{SimulateRequest: jobs.DefaultSimulateRequest()} },
}

// contentTypeSeeds are what browsers, curl and client libraries send, and near misses.
var contentTypeSeeds = []string{"application/json", "application/json; charset=utf-8", "", "text/plain",
	"text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
	"application/vnd.api+json", "APPLICATION/JSON", "application/json;", "application/json; charset",
	"application/jsonp", "application/json-seq", "application/+json", "text/json", "application/json\x00",
	" application/json ", "application/json, text/plain", "application/problem+json; q=1"}

// FuzzDecodeBody drives jobs.Decode (the one decoder of every JSON route) and, through a
// real echo request, jsonBody.bind with a fuzzed Content-Type.
func FuzzDecodeBody(f *testing.F) {
	for i, s := range decodeBodySeeds {
		f.Add([]byte(s), uint8(i), contentTypeSeeds[i%len(contentTypeSeeds)])
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8, contentType string) {
		mk := decodeTargets[int(which)%len(decodeTargets)]
		dst := mk()
		err := jobs.Decode(body, dst)
		if err != nil {
			checkDecodeRejected(t, body, dst, err)
		} else {
			checkDecodeAccepted(t, body, dst, mk)
		}
		checkMediaType(t, contentType)
		checkBind(t, body, contentType, mk, err)
	})
}

// checkMediaType: whatever isJSONMediaType accepts is, by a separate reading of RFC
// 9110's media-type grammar, application/json or application/<x>+json.
func checkMediaType(t *testing.T, ct string) {
	t.Helper()
	if !isJSONMediaType(ct) {
		return
	}
	typ, _, _ := strings.Cut(ct, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	sub, ok := strings.CutPrefix(typ, "application/")
	if !ok || (sub != "json" && (!strings.HasSuffix(sub, "+json") || len(sub) == len("+json"))) {
		t.Fatalf("Content-Type %q accepted as JSON", ct)
	}
}

// checkBind: a body with a non-JSON Content-Type is a 415 before any decoding; an empty
// body or a JSON type gets exactly jobs.Decode's answer.
func checkBind(t *testing.T, body []byte, ct string, mk func() any, decodeErr error) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/simulate", bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	c := echo.New().NewContext(req, httptest.NewRecorder())
	dst := mk()
	err := jsonBody{maxBytes: 1 << 20}.bind(c, dst)
	var ae *envelope.Error
	if len(body) > 0 && !isJSONMediaType(ct) {
		if !errors.As(err, &ae) || ae.Status != http.StatusUnsupportedMediaType || ae.Code != envelope.CodeMediaType {
			t.Fatalf("%q with Content-Type %q: %v, want 415", body, ct, err)
		}
		return
	}
	if (err == nil) != (decodeErr == nil) {
		t.Fatalf("%q with Content-Type %q: bind says %v, jobs.Decode %v", body, ct, err, decodeErr)
	}
}

// jsonNames lists a struct's wire field names, those of embedded structs included.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for _, f := range reflect.VisibleFields(t) {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); !f.Anonymous {
			names[name] = true
		}
	}
	return names
}

// exactOracle decodes body the way the reference does, independently of jobs.Decode:
// into a map (whose keys match exactly), dropping every key that is not exactly a field
// name, then into dst with encoding/json.
func exactOracle(body []byte, dst any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	names := jsonNames(reflect.TypeOf(dst).Elem())
	for k := range m {
		if !names[k] {
			delete(m, k)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func checkDecodeRejected(t *testing.T, body []byte, dst any, err error) {
	t.Helper()
	var be *jobs.BodyError
	if !errors.As(err, &be) || len(be.Items) == 0 {
		t.Fatalf("%q: error %T %v is not a body error with items", body, err, err)
	}
	items := be.Items
	names := jsonNames(reflect.TypeOf(dst).Elem())
	for _, it := range items {
		if it.Type == "" || it.Msg == "" || len(it.Loc) == 0 || it.Loc[0] != "body" {
			t.Fatalf("%q: malformed item %+v", body, it)
		}
		if len(it.Loc) == 1 {
			continue // the body as a whole: missing, not JSON, not an object
		}
		switch l := it.Loc[1].(type) {
		case int64: // json_invalid: the byte offset of the syntax error
			if it.Type != "json_invalid" || l < 0 || l > int64(len(body)) {
				t.Fatalf("%q: offset loc on %+v", body, it)
			}
		case string: // a field: one the body type really has
			if !names[l] {
				t.Fatalf("%q: item names %q, not a field of %T: %+v", body, l, dst, it)
			}
			for _, p := range it.Loc[2:] {
				if _, isIdx := p.(int); !isIdx {
					t.Fatalf("%q: nested loc element %v (%T) is not a list index: %+v", body, p, p, it)
				}
			}
		default:
			t.Fatalf("%q: loc element %v of type %T", body, l, l)
		}
	}
	// The 422 body must be encodable, or the client gets a 500 instead.
	if _, err := json.Marshal(items); err != nil {
		t.Fatalf("%q: 422 items do not encode: %v", body, err)
	}
}

func checkDecodeAccepted(t *testing.T, body []byte, dst any, mk func() any) {
	t.Helper()
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		t.Fatalf("%q: accepted a body that is not one JSON object", body)
	}
	// Same value as the exact-key oracle gives .
	want := mk()
	if err := exactOracle(body, want); err != nil || !reflect.DeepEqual(want, dst) {
		t.Fatalf("%q: decoded %+v, the exact-key oracle gives %+v (%v)", body, dst, want, err)
	}
	// Round trip: the decoded value, encoded and decoded again, is unchanged.
	enc, err := json.Marshal(dst)
	if err != nil {
		t.Fatalf("%q: decoded value does not encode: %v", body, err)
	}
	again := mk()
	if err := jobs.Decode(enc, again); err != nil {
		// Absent pointer fields encode as null, which jobs.Decode rightly refuses.
		if !bytes.Contains(enc, []byte("null")) {
			t.Fatalf("%q: re-encoded %s rejected: %v", body, enc, err)
		}
	} else if !reflect.DeepEqual(again, dst) {
		t.Fatalf("%q: round trip via %s gives %+v, want %+v", body, enc, again, dst)
	}
	// What the handler does next: required-field checks, then the job rule set.
	var req jobs.Request
	switch r := dst.(type) {
	case *jobs.SimulateRequest:
		req = *r
	case *jobs.ValidateRequest:
		req = *r
	case *jobs.NernstRequest:
		if r.ConcentrationOutMolar == nil || r.ConcentrationInMolar == nil {
			return // the handler answers missingItems
		}
		req = *r
	case *jobs.FederatedRequest:
		if r.Gradients == nil {
			return
		}
		req = *r
	case *imageRequest:
		req = r.SimulateRequest // size, every, delay_ms and the colour scale: images_test.go
	default:
		return // crypto bodies: length and pattern checks live in the handlers
	}
	err = req.Validate()
	var ve *jobs.ValidationError
	var re *jobs.RequestError
	switch {
	case errors.As(err, &ve):
		if !jsonNames(reflect.TypeOf(dst).Elem())[ve.Field] || ve.Reason == "" {
			t.Fatalf("%q: validation error names %q: %+v", body, ve.Field, ve)
		}
		return
	case errors.As(err, &re):
		if re.Field == "" || re.Reason == "" {
			t.Fatalf("%q: request error without field or reason: %+v", body, re)
		}
		return
	case err != nil:
		t.Fatalf("%q: Validate returned %T %v", body, err, err)
	}
	checkValidRequest(t, string(body), req)
}

// checkValidRequest asserts a request that passed Validate is inside the documented ranges.
func checkValidRequest(t *testing.T, input string, req jobs.Request) {
	t.Helper()
	if err := jobstest.OutOfRange(req); err != nil {
		t.Fatalf("%q: valid %v", input, err)
	}
}
