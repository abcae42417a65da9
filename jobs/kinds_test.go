package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name        string
		kind        Kind
		body        string
		want        Request
		errContains string
	}{
		{name: "simulate defaults", kind: KindSimulate, want: DefaultSimulateRequest()},
		{name: "validate defaults", kind: KindValidate, want: DefaultValidateRequest()},
		{name: "nernst defaults", kind: KindNernst, want: DefaultNernstRequest()},
		{name: "federated defaults", kind: KindFederated, want: DefaultFederatedRequest()},
		{name: "fields over defaults", kind: KindSimulate, body: `{"steps": 3}`,
			want: func() Request { r := DefaultSimulateRequest(); r.Steps = 3; return r }()},
		{name: "decoder error passes through", kind: KindNernst, body: `{"z_valence": "x"}`, errContains: "z_valence"},
		{name: "unknown kind", kind: "dance", errContains: `jobs: unknown kind "dance" (want simulate, validate, nernst, federated_aggregate or dataset)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var into func(any) error
			if tc.body != "" {
				into = json.NewDecoder(strings.NewReader(tc.body)).Decode
			}
			got, err := NewRequest(tc.kind, into)
			if tc.errContains != "" {
				require.ErrorContains(t, err, tc.errContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := NewRequest("x", nil)
	require.ErrorIs(t, err, ErrUnknownKind)
}

// TestEveryKindRuns checks the registry and the run methods agree: every kind decodes
// to a value whose Kind is its own and which runs (value and pointer alike).
func TestEveryKindRuns(t *testing.T) {
	bodies := map[Kind]string{
		KindSimulate:  `{"grid_size": 8, "steps": 1}`,
		KindValidate:  `{"grid_size": 8, "steps": 1, "batch_size": 1}`,
		KindNernst:    `{"concentration_out_molar": 0.1, "concentration_in_molar": 0.01}`,
		KindFederated: `{"gradients": [[1, 2], [1, 2], [1, 2]], "num_clusters": 1, "byzantine_fraction": 0}`,
		KindDataset:   `{"sweep": {"grid_sizes": [8], "steps": [2], "seeds_per_config": 1}}`,
	}
	require.Len(t, Kinds(), len(bodies))
	for _, k := range Kinds() {
		require.True(t, k.Known())
		req, err := NewRequest(k, json.NewDecoder(strings.NewReader(bodies[k])).Decode)
		require.NoError(t, err, k)
		require.Equal(t, k, req.Kind())
		res, err := Execute(context.Background(), req)
		require.NoError(t, err, k)
		require.Equal(t, k, res.Kind())
	}
	require.False(t, Kind("dance").Known())
	p := DefaultNernstRequest()
	p.ConcentrationOutMolar, p.ConcentrationInMolar = ptr(0.1), ptr(0.01)
	res, err := Execute(context.Background(), &p)
	require.NoError(t, err)
	require.Equal(t, KindNernst, res.Kind())
}

func ptr(v float64) *float64 { return &v }
