package server

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/jobs"
)

var fastSeeds = []string{
	`{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`,
	`{}`, ` { } `, `{"grid_size":64,"steps":10,"alpha":0.1,"turing_enabled":false}`,
	`{"seed":9223372036854775807}`, `{"seed":9223372036854775808}`, `{"seed":-0}`, `{"seed":01}`,
	`{"steps":1.0}`, `{"steps":1e2}`, `{"alpha":1e-3}`, `{"alpha":-0.0}`, `{"alpha":.5}`, `{"alpha":1.}`,
	`{"alpha":1e400}`, `{"alpha":NaN}`, `{"turing_enabled":true,"turing_enabled":false}`, `{"Steps":5}`,
	`{"steps":5,}`, `{"steps":5} x`, `{"steps":"5"}`, `{"steps":null}`, `{"extra":1}`, `{"st\u0065ps":3}`,
	`{"steps" : 7 , "alpha" :0.2}`, `{"steps":5`, `[1]`, `{"threshold_mV":-61.5}`, `{"turing_enabled":tru}`,
	"{\"steps\":\t3\n}", `{"steps":+3}`, `{"steps":-3}`, `{"alpha":1E+2}`, `{"alpha":1e}`,
	`{"steps":4,"size":64,"every":2,"delay_ms":0,"min_mV":-80}`, `{"size":9223372036854775807}`, `{"every":-1}`,
}

// decodeBoth decodes with the fast path and with encoding/json and requires the same
// outcome whenever the fast path accepts.
func decodeBoth(t *testing.T, body string) {
	fast, slow := jobs.DefaultSimulateRequest(), jobs.DefaultSimulateRequest()
	if fastDecode([]byte(body), &fast) {
		require.NoError(t, json.Unmarshal([]byte(body), &slow), body)
		require.Equal(t, slow, fast, body)
	} else {
		require.Equal(t, jobs.DefaultSimulateRequest(), fast, "a rejected body must leave dst untouched: %s", body)
	}
	nf, ns := jobs.DefaultNernstRequest(), jobs.DefaultNernstRequest()
	if fastDecode([]byte(body), &nf) {
		require.NoError(t, json.Unmarshal([]byte(body), &ns), body)
		require.Equal(t, ns, nf, body)
	}
	// The image body: fields of an embedded struct and *int fields.
	imf := imageRequest{SimulateRequest: jobs.DefaultSimulateRequest()}
	ims := imf
	if fastDecode([]byte(body), &imf) {
		require.NoError(t, json.Unmarshal([]byte(body), &ims), body)
		require.Equal(t, ims, imf, body)
	}
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range fastSeeds {
		decodeBoth(t, s)
	}
	r := jobs.DefaultNernstRequest()
	require.True(t, fastDecode([]byte(fastSeeds[0]), &r))
	require.Equal(t, 0.005, *r.ConcentrationOutMolar)
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) { decodeBoth(t, body) })
}
