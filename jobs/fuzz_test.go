package jobs_test

import (
	"encoding/json"
	"errors"
	"testing"

	"mfn/internal/jobstest"
	"mfn/jobs"
)

// checkErr fails unless err is nil or one of the two typed validation errors.
func checkErr(t *testing.T, err error) {
	t.Helper()
	var ve *jobs.ValidationError
	var re *jobs.RequestError
	if err != nil && !errors.As(err, &ve) && !errors.As(err, &re) {
		t.Fatalf("Validate returned %T %v", err, err)
	}
	if ve != nil && (ve.Field == "" || ve.Reason == "") {
		t.Fatalf("jobs.ValidationError without field or reason: %+v", ve)
	}
}

// checkValid fails when a request that passed Validate lies outside the documented ranges.
func checkValid(t *testing.T, req jobs.Request) {
	t.Helper()
	if err := jobstest.OutOfRange(req); err != nil {
		t.Fatalf("valid request: %v", err)
	}
}

func FuzzSimulateRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"seed":-1}`, `{"grid_size":8,"steps":1000,"alpha":1}`, `{"alpha":1e308}`,
		`{"threshold_mV":-95}`, `{"seed":9223372036854775807}`, `{"spike_probability":-0}`, `null`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := jobs.DefaultSimulateRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		checkValid(t, r)
	})
}

func FuzzValidateRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"epochs":0}`, `{"batch_size":64,"epochs":100}`, `{"seed":-5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := jobs.DefaultValidateRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		checkValid(t, r)
	})
}

func FuzzNernstRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`,
		`{"concentration_out_molar":0,"concentration_in_molar":null}`, `{"z_valence":3,"temperature_k":373,"concentration_out_molar":5e-324,"concentration_in_molar":1e308}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := jobs.DefaultNernstRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		checkValid(t, r)
	})
}

func FuzzFederatedRequestJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"gradients":[]}`, `{"gradients":[[]]}`, `{"gradients":[[1,2],[3]]}`,
		`{"gradients":[[1,2],[3,4]],"byzantine_fraction":0.5}`, `{"gradients":[[1e39]]}`, `{"gradients":null}`,
		`{"gradients":[[1,2,3],[4,5,6]],"num_clusters":1000,"byzantine_fraction":0}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := jobs.DefaultFederatedRequest()
		if json.Unmarshal(data, &r) != nil {
			return
		}
		err := r.Validate()
		checkErr(t, err)
		if err != nil {
			return
		}
		checkValid(t, r)
	})
}
