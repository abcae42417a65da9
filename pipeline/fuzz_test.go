package pipeline

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"mfn/connectors"
	"mfn/internal/jobstest"
	"mfn/jobs"
)

// decodeSeeds are job messages as Kafka records, job files and polled REST arrays carry
// them, plus the edges of the envelope rules (nested vs flat, type alias, nulls, bad types).
var decodeSeeds = []string{
	`{"request_id":"r-1","correlation_id":"c-9","reply_to":"out","type":"simulate","params":{"seed":7,"grid_size":32}}`,
	`{"request_id":"a","seed":9,"grid_size":32}`,
	`{}`, `null`, `[]`, `[1]`, `"x"`, `7`, `nope`, `{"a":1} x`, ``,
	`{"kind":"validate","params":{"epochs":2,"batch_size":8}}`,
	`{"type":"nernst","z_valence":2,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310}`,
	`{"type":"federated_aggregate","params":{"gradients":[[1,2],[3,4]],"num_clusters":2,"byzantine_fraction":0.1}}`,
	`{"type":"federated_aggregate","gradients":[]}`, `{"type":"federated_aggregate","gradients":[[1],[2,3]]}`,
	`{"type":"federated_aggregate","gradients":[[1e39]]}`, `{"type":"federated_aggregate","gradients":[["x"]]}`,
	`{"type":"nernst"}`, `{"type":"nope"}`, `{"type":""}`, `{"type":7}`, `{"type":null,"kind":"nernst"}`,
	`{"type":"simulate","kind":"nernst"}`, `{"params":{},"seed":1}`, `{"params":null}`, `{"params":[1]}`,
	`{"params":"x"}`, `{"params":5}`, `{"params":{"steps":0}}`, `{"grid_size":"big"}`, `{"steps":1.5}`,
	`{"seed":-1}`, `{"seed":9223372036854775808}`, `{"alpha":1e400}`, `{"request_id":5}`, `{"request_id":null}`,
	`{"request_id":""}`, `{"correlation_id":["c"]}`, `{"reply_to":{}}`, `{"Seed":3,"STEPS":9}`,
	`{"threshold_mV":-95,"spike_probability":0,"alpha":1,"steps":1000,"grid_size":256}`,
	`{"request_id":"\ud800","params":{"seed":0}}`, "{\"request_id\":\"\xff\"}",
}

// allowedCodes are the ErrorBody codes Decode may produce; TIMEOUT and INTERNAL_ERROR
// belong to running a job, never to decoding one.
var allowedCodes = map[string]bool{CodeDecode: true, CodeValidation: true, CodeInvalidRequest: true}

func FuzzDecode(f *testing.F) {
	for i, s := range decodeSeeds {
		hdr := ""
		if i%3 == 0 {
			hdr = "hdr-1"
		}
		pos := ""
		if i%2 == 0 {
			pos = "kafka:jobs/0/" + string(rune('0'+i%10))
		}
		f.Add([]byte(s), hdr, pos)
	}
	f.Fuzz(func(t *testing.T, value []byte, hdrID, pos string) {
		m := connectors.Message{Value: value, ID: pos, Headers: map[string]string{}}
		if hdrID != "" {
			m.Headers["x-request-id"] = hdrID
		}
		j, err := Decode(m)
		if j.RequestID == "" {
			t.Fatalf("empty request id for %q (err %v)", value, err)
		}
		// A sink always receives valid JSON, whatever bytes the ids and input held.
		now := time.Unix(1700000000, 0)
		rec := record(newResult(j, now, now, nil, nil))
		if !json.Valid(rec.Body) {
			t.Fatalf("result record is not JSON: %q", rec.Body)
		}
		if err != nil {
			checkRejected(t, value, j, err)
			return
		}
		checkAccepted(t, value, j)
		// Redelivery (same position, same bytes) gets the same id.
		if again, _ := Decode(m); pos != "" && again.RequestID != j.RequestID {
			t.Fatalf("request id not stable on redelivery: %q then %q", j.RequestID, again.RequestID)
		}
		// Round trip: the decoded job written back in the nested form decodes to itself.
		params, merr := json.Marshal(j.Request)
		if merr != nil {
			t.Fatalf("accepted request does not re-encode: %v", merr)
		}
		env, _ := json.Marshal(map[string]any{"request_id": j.RequestID, "correlation_id": j.CorrelationID,
			"reply_to": j.ReplyTo, "type": j.Kind, "params": json.RawMessage(params)})
		back, err := Decode(connectors.Message{Value: env})
		if err != nil {
			t.Fatalf("round trip of %q via %s failed: %v", value, env, err)
		}
		// encoding/json replaces invalid UTF-8 in ids with U+FFFD; compare what survives.
		if validUTF8(j.RequestID, j.CorrelationID, j.ReplyTo) && !reflect.DeepEqual(back, j) {
			t.Fatalf("round trip changed the job:\n got %+v\nwant %+v", back, j)
		}
		if !reflect.DeepEqual(back.Request, j.Request) || back.Kind != j.Kind {
			t.Fatalf("round trip changed the request:\n got %+v\nwant %+v", back.Request, j.Request)
		}
	})
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if string([]rune(s)) != s {
			return false
		}
	}
	return true
}

func checkRejected(t *testing.T, value []byte, j Job, err error) {
	t.Helper()
	var je *jobError
	if !errors.As(err, &je) {
		t.Fatalf("%q: error %T %v is not a jobError", value, err, err)
	}
	b := je.body
	if !allowedCodes[b.Code] || b.Message == "" {
		t.Fatalf("%q: bad error body %+v", value, b)
	}
	// Anything but an undecodable envelope names the field that is wrong.
	if b.Code != CodeDecode && b.Field == "" {
		t.Fatalf("%q: %s without a field: %+v", value, b.Code, b)
	}
	if je.decode != (b.Code == CodeDecode) {
		t.Fatalf("%q: decode flag %v with code %s", value, je.decode, b.Code)
	}
	if je.decode && json.Valid(value) && value[firstNonSpace(value)] == '{' && b.Field == "" {
		t.Fatalf("%q: a JSON object reported as undecodable without naming a field: %+v", value, b)
	}
	if j.Request != nil && b.Code == CodeDecode {
		t.Fatalf("%q: undecodable message yet a request was returned", value)
	}
	if j.Kind != "" && !knownKind(j.Kind) {
		t.Fatalf("%q: rejected job carries unknown kind %q", value, j.Kind)
	}
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return 0
}

func knownKind(k jobs.Kind) bool {
	switch k {
	case jobs.KindSimulate, jobs.KindValidate, jobs.KindNernst, jobs.KindFederated:
		return true
	}
	return false
}

func checkAccepted(t *testing.T, value []byte, j Job) {
	t.Helper()
	if j.Request == nil || j.Request.Kind() != j.Kind {
		t.Fatalf("%q: accepted job with kind %q and request %T", value, j.Kind, j.Request)
	}
	if err := j.Request.Validate(); err != nil {
		t.Fatalf("%q: accepted request fails Validate: %v", value, err)
	}
	if err := jobstest.OutOfRange(j.Request); err != nil {
		t.Fatalf("%q: accepted %v", value, err)
	}
}
