package jobs

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/internal/cfgerr"
)

func fp(v float64) *float64 { return &v }

func TestDefaults(t *testing.T) {
	require.Equal(t, SimulateRequest{Seed: 42, GridSize: 64, Steps: 64, Alpha: 0.18, SpikeProbability: 0.25,
		TuringEnabled: true, ThresholdMV: -60}, DefaultSimulateRequest())
	require.Equal(t, ValidateRequest{Seed: 42, Epochs: 1, BatchSize: 4, GridSize: 64, Steps: 64,
		TuringEnabled: true}, DefaultValidateRequest())
	require.Equal(t, NernstRequest{ZValence: 1, TemperatureK: 310}, DefaultNernstRequest())
	require.Equal(t, FederatedRequest{NumClusters: 10, ByzantineFraction: 0.2}, DefaultFederatedRequest())

	require.NoError(t, DefaultSimulateRequest().Validate())
	require.NoError(t, DefaultValidateRequest().Validate())
}

func TestKinds(t *testing.T) {
	for _, tc := range []struct {
		k    interface{ Kind() Kind }
		want Kind
	}{
		{SimulateRequest{}, KindSimulate}, {ObservedSimulation{}, KindSimulate}, {&SimulateRequest{}, KindSimulate},
		{ValidateRequest{}, KindValidate}, {NernstRequest{}, KindNernst}, {FederatedRequest{}, KindFederated},
		{SimulateResult{}, KindSimulate}, {ValidateResult{}, KindValidate}, {NernstResult{}, KindNernst},
		{FederatedResult{}, KindFederated},
	} {
		require.Equal(t, tc.want, tc.k.Kind(), "%T", tc.k)
	}
}

// decode applies a JSON body over a default request, as the transports do.
func decode[T any](t *testing.T, def T, body string) T {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(body), &def))
	return def
}

type ruleCase struct {
	name      string
	req       Request
	field     string // "" = valid
	typ       string // ValidationError.Type; "" with field set = *RequestError
	reasonHas string
}

func checkRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tc.typ != "" {
				var ve *ValidationError
				require.True(t, errors.As(err, &ve), "want *ValidationError, got %T %v", err, err)
				require.Equal(t, tc.field, ve.Field)
				require.Equal(t, tc.typ, ve.Type)
				require.Contains(t, ve.Reason, tc.reasonHas)
				var re *RequestError
				require.False(t, errors.As(err, &re))
				return
			}
			var re *RequestError
			require.True(t, errors.As(err, &re), "want *RequestError, got %T %v", err, err)
			require.Equal(t, tc.field, re.Field)
			require.Contains(t, re.Reason, tc.reasonHas)
		})
	}
}

func TestSimulateRules(t *testing.T) {
	d := DefaultSimulateRequest()
	with := func(f func(*SimulateRequest)) SimulateRequest { r := d; f(&r); return r }
	checkRules(t, []ruleCase{
		{"defaults", d, "", "", ""},
		{"seed 0", with(func(r *SimulateRequest) { r.Seed = 0 }), "", "", ""},
		{"seed max", with(func(r *SimulateRequest) { r.Seed = math.MaxInt64 }), "", "", ""},
		{"seed -1", with(func(r *SimulateRequest) { r.Seed = -1 }), "seed", "greater_than_equal", "greater than or equal to 0"},
		{"grid 8", with(func(r *SimulateRequest) { r.GridSize = 8 }), "", "", ""},
		{"grid 256", with(func(r *SimulateRequest) { r.GridSize = 256 }), "", "", ""},
		{"grid 7", with(func(r *SimulateRequest) { r.GridSize = 7 }), "grid_size", "greater_than_equal", "to 8"},
		{"grid 257", with(func(r *SimulateRequest) { r.GridSize = 257 }), "grid_size", "less_than_equal", "to 256"},
		{"steps 0", with(func(r *SimulateRequest) { r.Steps = 0 }), "steps", "greater_than_equal", "to 1"},
		{"steps 1001", with(func(r *SimulateRequest) { r.Steps = 1001 }), "steps", "less_than_equal", "to 1000"},
		{"alpha 1 accepted as the reference does", with(func(r *SimulateRequest) { r.Alpha = 1 }), "", "", ""},
		{"alpha 0", with(func(r *SimulateRequest) { r.Alpha = 0 }), "", "", ""},
		{"alpha -0.1", with(func(r *SimulateRequest) { r.Alpha = -0.1 }), "alpha", "greater_than_equal", "to 0.0"},
		{"alpha 1.01", with(func(r *SimulateRequest) { r.Alpha = 1.01 }), "alpha", "less_than_equal", "to 1.0"},
		{"alpha NaN", with(func(r *SimulateRequest) { r.Alpha = math.NaN() }), "alpha", "finite_number", "finite"},
		{"p 1.5", with(func(r *SimulateRequest) { r.SpikeProbability = 1.5 }), "spike_probability", "less_than_equal", "1.0"},
		{"p -Inf", with(func(r *SimulateRequest) { r.SpikeProbability = math.Inf(-1) }), "spike_probability", "finite_number", ""},
		{"threshold -95", with(func(r *SimulateRequest) { r.ThresholdMV = -95 }), "", "", ""},
		{"threshold 41", with(func(r *SimulateRequest) { r.ThresholdMV = 41 }), "threshold_mV", "less_than_equal", "40.0"},
		{"first bad field wins", with(func(r *SimulateRequest) { r.GridSize = 1; r.Steps = 0 }), "grid_size", "greater_than_equal", ""},
		{"json absent fields keep defaults", decode(t, d, `{"seed":7,"unknown":1}`), "", "", ""},
		{"json bad grid", decode(t, d, `{"grid_size":4}`), "grid_size", "greater_than_equal", ""},
	})
	r := decode(t, d, `{"seed":7}`)
	require.Equal(t, int64(7), r.Seed)
	require.Equal(t, -60.0, r.ThresholdMV)
}

func TestObservedRules(t *testing.T) {
	obs := func(Snapshot) bool { return true }
	d := DefaultSimulateRequest()
	bad := d
	bad.Steps = 0
	checkRules(t, []ruleCase{
		{"ok", ObservedSimulation{SimulateRequest: d, Every: 1, Observe: obs}, "", "", ""},
		{"embedded rules", ObservedSimulation{SimulateRequest: bad, Every: 1, Observe: obs}, "steps", "greater_than_equal", ""},
		{"every 0", ObservedSimulation{SimulateRequest: d, Every: 0, Observe: obs}, "every", "greater_than_equal", "to 1"},
		{"nil observe", ObservedSimulation{SimulateRequest: d, Every: 3}, "observe", "missing", ""},
		{"pointer", &ObservedSimulation{SimulateRequest: d, Every: 0, Observe: obs}, "every", "greater_than_equal", ""},
	})
}

func TestValidateRules(t *testing.T) {
	d := DefaultValidateRequest()
	with := func(f func(*ValidateRequest)) ValidateRequest { r := d; f(&r); return r }
	checkRules(t, []ruleCase{
		{"defaults", d, "", "", ""},
		{"seed -5", with(func(r *ValidateRequest) { r.Seed = -5 }), "seed", "greater_than_equal", ""},
		{"epochs 0", with(func(r *ValidateRequest) { r.Epochs = 0 }), "epochs", "greater_than_equal", "to 1"},
		{"epochs 100", with(func(r *ValidateRequest) { r.Epochs = 100 }), "", "", ""},
		{"epochs 101", with(func(r *ValidateRequest) { r.Epochs = 101 }), "epochs", "less_than_equal", "to 100"},
		{"batch 0", with(func(r *ValidateRequest) { r.BatchSize = 0 }), "batch_size", "greater_than_equal", ""},
		{"batch 65", with(func(r *ValidateRequest) { r.BatchSize = 65 }), "batch_size", "less_than_equal", "64"},
		{"grid 300", with(func(r *ValidateRequest) { r.GridSize = 300 }), "grid_size", "less_than_equal", ""},
		{"steps 2000", with(func(r *ValidateRequest) { r.Steps = 2000 }), "steps", "less_than_equal", ""},
	})
}

func TestNernstRules(t *testing.T) {
	d := DefaultNernstRequest()
	d.ConcentrationOutMolar, d.ConcentrationInMolar = fp(0.005), fp(0.14)
	with := func(f func(*NernstRequest)) NernstRequest { r := d; f(&r); return r }
	checkRules(t, []ruleCase{
		{"ok", d, "", "", ""},
		{"absent out", DefaultNernstRequest(), "concentration_out_molar", "missing", "Field required"},
		{"absent in", with(func(r *NernstRequest) { r.ConcentrationInMolar = nil }), "concentration_in_molar", "missing", "Field required"},
		{"json absent", decode(t, DefaultNernstRequest(), `{"concentration_in_molar":0.1}`), "concentration_out_molar", "missing", ""},
		{"json ok", decode(t, DefaultNernstRequest(), `{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`), "", "", ""},
		{"out 0", with(func(r *NernstRequest) { r.ConcentrationOutMolar = fp(0) }), "concentration_out_molar", "greater_than", "greater than 0"},
		{"in -1", with(func(r *NernstRequest) { r.ConcentrationInMolar = fp(-1) }), "concentration_in_molar", "greater_than", ""},
		{"in NaN", with(func(r *NernstRequest) { r.ConcentrationInMolar = fp(math.NaN()) }), "concentration_in_molar", "finite_number", ""},
		{"z 0", with(func(r *NernstRequest) { r.ZValence = 0 }), "z_valence", "greater_than_equal", "to 1"},
		{"z -1 (reference BUG-31 kept)", with(func(r *NernstRequest) { r.ZValence = -1 }), "z_valence", "greater_than_equal", ""},
		{"z 3", with(func(r *NernstRequest) { r.ZValence = 3 }), "", "", ""},
		{"z 4", with(func(r *NernstRequest) { r.ZValence = 4 }), "z_valence", "less_than_equal", "to 3"},
		{"T 273", with(func(r *NernstRequest) { r.TemperatureK = 273 }), "", "", ""},
		{"T 373", with(func(r *NernstRequest) { r.TemperatureK = 373 }), "", "", ""},
		{"T 272.9", with(func(r *NernstRequest) { r.TemperatureK = 272.9 }), "temperature_k", "greater_than_equal", "273.0"},
		{"T 0 (gRPC unset is not special)", with(func(r *NernstRequest) { r.TemperatureK = 0 }), "temperature_k", "greater_than_equal", ""},
	})
}

func TestFederatedRules(t *testing.T) {
	g := [][]float64{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}, {1, 1, 1}}
	d := DefaultFederatedRequest()
	d.Gradients = g
	with := func(f func(*FederatedRequest)) FederatedRequest { r := d; f(&r); return r }
	checkRules(t, []ruleCase{
		{"ok", d, "", "", ""},
		{"absent", DefaultFederatedRequest(), "gradients", "missing", "Field required"},
		{"empty list is 400", decode(t, DefaultFederatedRequest(), `{"gradients":[]}`), "gradients", "", "No gradients provided"},
		{"byzantine 0.5 is 400", with(func(r *FederatedRequest) { r.ByzantineFraction = 0.5 }), "byzantine_fraction", "", "byzantine_fraction=0.5 must be in [0, 0.5)"},
		{"byzantine 0.49", with(func(r *FederatedRequest) { r.ByzantineFraction = 0.49 }), "", "", ""},
		{"byzantine 0", with(func(r *FederatedRequest) { r.ByzantineFraction = 0 }), "", "", ""},
		{"byzantine 0.6 is 422", with(func(r *FederatedRequest) { r.ByzantineFraction = 0.6 }), "byzantine_fraction", "less_than_equal", "0.5"},
		{"byzantine -0.1", with(func(r *FederatedRequest) { r.ByzantineFraction = -0.1 }), "byzantine_fraction", "greater_than_equal", ""},
		{"clusters 0", with(func(r *FederatedRequest) { r.NumClusters = 0 }), "num_clusters", "greater_than_equal", ""},
		{"clusters 1001", with(func(r *FederatedRequest) { r.NumClusters = 1001 }), "num_clusters", "less_than_equal", "1000"},
		{"ragged is 400", with(func(r *FederatedRequest) { r.Gradients = [][]float64{{1, 2}, {1, 2, 3}} }), "gradients", "", "gradients[1] has 3 values, gradients[0] has 2"},
		{"empty inner is 400", with(func(r *FederatedRequest) { r.Gradients = [][]float64{{}, {}} }), "gradients", "", "empty"},
		{"NaN is 400", with(func(r *FederatedRequest) { r.Gradients = [][]float64{{1, math.NaN()}} }), "gradients", "", "finite"},
		{"Inf is 400", with(func(r *FederatedRequest) { r.Gradients = [][]float64{{math.Inf(1)}} }), "gradients", "", "finite"},
		{"beyond float32 is 400", with(func(r *FederatedRequest) { r.Gradients = [][]float64{{1e300}} }), "gradients", "", "finite"},
		{"single gradient", with(func(r *FederatedRequest) { r.Gradients = [][]float64{{1}} }), "", "", ""},
	})
}

func TestErrorMessages(t *testing.T) {
	err := DefaultFederatedRequest().Validate()
	require.EqualError(t, err, "gradients: Field required")
	err = (&RequestError{Reason: "No gradients provided"})
	require.EqualError(t, err, "No gradients provided")
}

func TestPoolConfigValidate(t *testing.T) {
	require.NoError(t, DefaultPoolConfig().Validate())
	for _, tc := range []struct {
		cfg   PoolConfig
		field string
	}{
		{PoolConfig{Workers: -1}, "workers"},
		{PoolConfig{QueueSize: -1}, "queue_size"},
		{PoolConfig{QueueSize: 2_000_000}, "queue_size"},
		{PoolConfig{MaxQueueSeconds: -1}, "max_queue_seconds"},
		{PoolConfig{CheapJobSeconds: -1}, "cheap_job_seconds"},
		{PoolConfig{MemoryLimitBytes: -1}, "memory_limit_bytes"},
		{PoolConfig{MemoryBudgetBytes: -1}, "memory_budget_bytes"},
		{PoolConfig{Limits: Limits{MaxJobMemoryBytes: -1}}, "limits.max_job_memory_bytes"},
		{PoolConfig{Limits: Limits{MaxGradients: -1}}, "limits.max_gradients"},
		{PoolConfig{Limits: Limits{MaxGradientValues: -1}}, "limits.max_gradient_values"},
	} {
		err := tc.cfg.Validate()
		var ce *cfgerr.Error
		require.True(t, errors.As(err, &ce))
		require.Equal(t, tc.field, ce.Key)
		require.Contains(t, err.Error(), tc.field)
	}
	eff := PoolConfig{Workers: 3, MemoryBudgetBytes: 1 << 30}.Effective()
	require.Equal(t, PoolConfig{Workers: 3, QueueSize: 3 * QueuePerWorker, MaxQueueSeconds: DefaultMaxQueueSeconds,
		CheapJobSeconds: DefaultCheapJobSeconds, MemoryBudgetBytes: 1 << 30, Limits: DefaultLimits()}, eff)
	// The per-job limit never exceeds the budget, so an admitted job always fits.
	eff = PoolConfig{MemoryBudgetBytes: 1 << 20}.Effective()
	require.Equal(t, int64(1<<20), eff.Limits.MaxJobMemoryBytes)
	require.Positive(t, DefaultPoolConfig().Effective().Workers)
}
