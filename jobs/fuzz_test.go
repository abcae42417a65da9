package jobs

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

// checkErr fails unless err is nil or one of the two typed validation errors.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	var re *RequestError
	if err != nil && !errors.As(err, &ve) && !errors.As(err, &re) {
		t.Fatalf("Validate returned %T %v", err, err)
	}
	if ve != nil && (ve.Field == "" || ve.Reason == "") {
		t.Fatalf("ValidationError without field or reason: %+v", ve)
	}
}

func inRange(t *testing.T, name string, v, lo, hi float64) {
	t.Helper()
	if math.IsNaN(v) || v < lo || v > hi {
		t.Fatalf("valid request has %s = %v outside [%v, %v]", name, v, lo, hi)
	}
}

func FuzzSimulateRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"seed":-1}`, `{"grid_size":8,"steps":1000,"alpha":1}`, `{"alpha":1e308}`,
		`{"threshold_mV":-95}`, `{"seed":9223372036854775807}`, `{"spike_probability":-0}`, `null`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := DefaultSimulateRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		inRange(t, "seed", float64(r.Seed), 0, math.MaxInt64)
		inRange(t, "grid_size", float64(r.GridSize), MinGridSize, MaxGridSize)
		inRange(t, "steps", float64(r.Steps), MinSteps, MaxSteps)
		inRange(t, "alpha", r.Alpha, 0, 1)
		inRange(t, "spike_probability", r.SpikeProbability, 0, 1)
		inRange(t, "threshold_mV", r.ThresholdMV, MinThresholdMV, MaxThresholdMV)
	})
}

func FuzzValidateRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"epochs":0}`, `{"batch_size":64,"epochs":100}`, `{"seed":-5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := DefaultValidateRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		inRange(t, "seed", float64(r.Seed), 0, math.MaxInt64)
		inRange(t, "epochs", float64(r.Epochs), MinEpochs, MaxEpochs)
		inRange(t, "batch_size", float64(r.BatchSize), MinBatchSize, MaxBatchSize)
		inRange(t, "grid_size", float64(r.GridSize), MinGridSize, MaxGridSize)
		inRange(t, "steps", float64(r.Steps), MinSteps, MaxSteps)
	})
}

func FuzzNernstRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`,
		`{"concentration_out_molar":0,"concentration_in_molar":null}`, `{"z_valence":3,"temperature_k":373,"concentration_out_molar":5e-324,"concentration_in_molar":1e308}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := DefaultNernstRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		inRange(t, "z_valence", float64(r.ZValence), MinValence, MaxValence)
		inRange(t, "temperature_k", r.TemperatureK, MinTempK, MaxTempK)
		if r.ConcentrationOutMolar == nil || r.ConcentrationInMolar == nil {
			t.Fatal("valid request without concentrations")
		}
		inRange(t, "concentration_out_molar", *r.ConcentrationOutMolar, math.SmallestNonzeroFloat64, math.MaxFloat64)
		inRange(t, "concentration_in_molar", *r.ConcentrationInMolar, math.SmallestNonzeroFloat64, math.MaxFloat64)
	})
}

func FuzzFederatedRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"gradients":[]}`, `{"gradients":[[]]}`, `{"gradients":[[1,2],[3]]}`,
		`{"gradients":[[1,2],[3,4]],"byzantine_fraction":0.5}`, `{"gradients":[[1e39]]}`, `{"gradients":null}`,
		`{"gradients":[[1,2,3],[4,5,6]],"num_clusters":1000,"byzantine_fraction":0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := DefaultFederatedRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		inRange(t, "num_clusters", float64(r.NumClusters), MinClusters, MaxClusters)
		inRange(t, "byzantine_fraction", r.ByzantineFraction, 0, math.Nextafter(MaxByzantineFraction, 0))
		if len(r.Gradients) == 0 || len(r.Gradients[0]) == 0 {
			t.Fatal("valid request without gradients")
		}
		for _, g := range r.Gradients {
			if len(g) != len(r.Gradients[0]) {
				t.Fatal("valid request with ragged gradients")
			}
			for _, v := range g {
				inRange(t, "gradient value", v, -math.MaxFloat32, math.MaxFloat32)
			}
		}
	})
}
