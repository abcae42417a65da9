package jobs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	def := DefaultSimulateRequest()
	steps5 := def
	steps5.Steps = 5
	for _, tc := range []struct {
		name      string
		body      string
		want      SimulateRequest
		wantItems []Item // nil: accepted
	}{
		{name: "defaults", body: `{}`, want: def},
		{name: "exact key", body: `{"steps":5}`, want: steps5},
		{name: "folded keys are unknown keys", body: `{"STEPS":0,"Steps":0,"ſteps":0}`, want: def},
		{name: "exact key beside a folded one", body: `{"Steps":6,"steps":5,"x":{"steps":7}}`, want: steps5},
		{name: "escaped key spelling a field", body: `{"st\u0065ps":5}`, want: steps5},
		{name: "empty", body: ` `, wantItems: []Item{{Type: "missing", Loc: []any{"body"}, Msg: "Field required"}}},
		{name: "null field", body: `{"steps":null}`, wantItems: []Item{{Type: "int_type", Loc: []any{"body", "steps"}, Msg: "Input should be a valid integer"}}},
		{name: "string for int", body: `{"steps":"5"}`, wantItems: []Item{{Type: "int_type", Loc: []any{"body", "steps"}, Msg: "Input should be a valid integer"}}},
		{name: "fraction for int", body: `{"steps":1.5}`, wantItems: []Item{{Type: "int_from_float", Loc: []any{"body", "steps"}, Msg: "Input should be a valid integer, got a number with a fractional part"}}},
		{name: "not an object", body: `[1]`, wantItems: []Item{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: []any{float64(1)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultSimulateRequest()
			err := Decode([]byte(tc.body), &got)
			if tc.wantItems == nil {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			var be *BodyError
			require.True(t, errors.As(err, &be), "%v", err)
			require.Equal(t, tc.wantItems, be.Items)
			_, err = json.Marshal(be.Items)
			require.NoError(t, err, "items must encode")
		})
	}
}

func TestDecodeSyntaxErrorHasNoField(t *testing.T) {
	req := DefaultSimulateRequest()
	var be *BodyError
	require.True(t, errors.As(Decode([]byte(`{"steps":5,}`), &req), &be))
	require.Equal(t, "json_invalid", be.Items[0].Type)
	require.Equal(t, "", be.Items[0].Field())
}

func TestItemField(t *testing.T) {
	require.Equal(t, "gradients.0.1", Item{Loc: []any{"body", "gradients", 0, 1}}.Field())
	require.Equal(t, "", Item{Loc: []any{"body"}}.Field())
}

// BenchmarkDecodeBody measures the one decoder (a scan for inexact keys, then
// encoding/json) and, for comparison, encoding/json alone (which folds keys). go test -run XXX -bench DecodeBody -count 5 ./jobs
func BenchmarkDecodeBody(b *testing.B) {
	var grad strings.Builder
	grad.WriteString(`{"gradients":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			grad.WriteByte(',')
		}
		grad.WriteString(`[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0]`)
	}
	grad.WriteString(`],"num_clusters":10}`)
	federated := grad.String()
	inexact := strings.Replace(federated, `"num_clusters"`, `"NUM_CLUSTERS"`, 1)
	for _, bc := range []struct {
		name, body string
		mk         func() any
		plain      bool
	}{
		{"simulate/exact", `{"seed":42,"grid_size":32,"steps":32}`, func() any { r := DefaultSimulateRequest(); return &r }, false},
		{"encrypt/exact", `{"plaintext":"SGVsbG8sIFdvcmxkIQ==","key_id":"k1"}`, func() any { return new(AEADRequest) }, false},
		{"encrypt/encoding_json", `{"plaintext":"SGVsbG8sIFdvcmxkIQ==","key_id":"k1"}`, func() any { return new(AEADRequest) }, true},
		{"federated_1000x10/exact", federated, func() any { r := DefaultFederatedRequest(); return &r }, false},
		{"federated_1000x10/inexact_key_cut", inexact, func() any { r := DefaultFederatedRequest(); return &r }, false},
		{"federated_1000x10/encoding_json", federated, func() any { r := DefaultFederatedRequest(); return &r }, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				dst := bc.mk()
				var err error
				if bc.plain {
					err = json.Unmarshal(body, dst)
				} else {
					err = Decode(body, dst)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
