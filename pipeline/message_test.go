package pipeline

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/connectors"
	"mfn/jobs"
)

func TestDecode(t *testing.T) {
	def := jobs.DefaultSimulateRequest()
	seeded := def
	seeded.Seed, seeded.GridSize = 9, 32
	for _, tc := range []struct {
		name   string
		msg    connectors.Message
		want   jobs.Request
		id     string
		code   string
		field  string
		decode bool
	}{
		{name: "nested", msg: connectors.Message{Value: []byte(`{"request_id":"a","params":{"seed":9,"grid_size":32}}`)}, want: seeded, id: "a"},
		{name: "flat", msg: connectors.Message{Value: []byte(`{"request_id":"a","seed":9,"grid_size":32}`)}, want: seeded, id: "a"},
		{name: "defaults", msg: connectors.Message{Value: []byte(`{}`), Headers: map[string]string{"x-request-id": "h"}}, want: def, id: "h"},
		{name: "kind alias", msg: connectors.Message{Value: []byte(`{"kind":"validate"}`), ID: "x"}, want: jobs.DefaultValidateRequest()},
		{name: "both", msg: connectors.Message{Value: []byte(`{"params":{},"seed":1}`)}, code: CodeValidation, field: "params"},
		{name: "type", msg: connectors.Message{Value: []byte(`{"type":"nope"}`)}, code: CodeValidation, field: "type"},
		{name: "wrong type", msg: connectors.Message{Value: []byte(`{"grid_size":"big"}`)}, code: CodeValidation, field: "grid_size"},
		{name: "range", msg: connectors.Message{Value: []byte(`{"steps":0}`)}, code: CodeValidation, field: "steps"},
		{name: "nernst missing", msg: connectors.Message{Value: []byte(`{"type":"nernst"}`)}, code: CodeValidation, field: "concentration_out_molar"},
		{name: "federated empty", msg: connectors.Message{Value: []byte(`{"type":"federated_aggregate","gradients":[]}`)}, code: CodeInvalidRequest, field: "gradients"},
		{name: "keys match exactly", msg: connectors.Message{Value: []byte(`{"params":{"seed":9,"grid_size":32,"Steps":0,"ſteps":0}}`)}, want: seeded},
		{name: "flat keys match exactly", msg: connectors.Message{Value: []byte(`{"seed":9,"grid_size":32,"STEPS":0}`)}, want: seeded},
		{name: "null field", msg: connectors.Message{Value: []byte(`{"steps":null}`)}, code: CodeValidation, field: "steps"},
		{name: "null in list", msg: connectors.Message{Value: []byte(`{"type":"federated_aggregate","gradients":[[1,null]]}`)}, code: CodeValidation, field: "gradients.0.1"},
		{name: "params not an object", msg: connectors.Message{Value: []byte(`{"params":[1]}`)}, code: CodeValidation, field: "params"},
		{name: "not json", msg: connectors.Message{Value: []byte(`nope`)}, code: CodeDecode, decode: true},
		{name: "array", msg: connectors.Message{Value: []byte(`[1]`)}, code: CodeDecode, decode: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Decode(tc.msg)
			require.NotEmpty(t, j.RequestID)
			if tc.id != "" {
				require.Equal(t, tc.id, j.RequestID)
			}
			if tc.code == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, j.Request)
				return
			}
			var je *jobError
			require.True(t, errors.As(err, &je), "%v", err)
			require.Equal(t, tc.code, je.body.Code)
			require.Equal(t, tc.field, je.body.Field)
			require.Equal(t, tc.decode, je.decode)
		})
	}
}

func TestDerivedRequestIDIsStable(t *testing.T) {
	m := connectors.Message{Value: []byte(`{}`), ID: "kafka:in/0/7"}
	a, _ := Decode(m)
	b, _ := Decode(m)
	require.Equal(t, a.RequestID, b.RequestID)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a.RequestID)
	m.ID = "kafka:in/0/8"
	c, _ := Decode(m)
	require.NotEqual(t, a.RequestID, c.RequestID)
}

func TestRecordNonFiniteBecomesError(t *testing.T) {
	r := Result{RequestID: "x", Type: jobs.KindNernst, Status: StatusComplete, Results: jobs.NernstResult{PotentialMV: inf()}}
	rec := record(r)
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body, &m))
	require.Equal(t, "error", m["status"])
	require.Equal(t, "x", rec.IdempotencyKey)
}

func inf() float64 { var z float64; return 1 / z }

// BenchmarkDeriveID: the request id of a message without one, from its upstream
// position (UUIDv5) or, without a position, at random (UUIDv4, crypto/rand).
func BenchmarkDeriveID(b *testing.B) {
	b.Run("position", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = deriveID("kafka:mfn-simulation-requests/3/1234567")
		}
	})
	b.Run("random", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = deriveID("")
		}
	})
}
