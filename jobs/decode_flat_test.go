package jobs

import (
	"bytes"
	"reflect"
	"testing"
)

// flatTargets are the request types decodeFlat takes, each from its defaults, plus a
// Nernst request whose pointers are already set (encoding/json writes through them).
func flatTargets() []func() any {
	one, two := 1.0, 2.0
	return []func() any{
		func() any { r := DefaultNernstRequest(); return &r },
		func() any { r := DefaultSimulateRequest(); return &r },
		func() any { r := DefaultValidateRequest(); return &r },
		func() any {
			r := DefaultNernstRequest()
			a, b := one, two
			r.ConcentrationOutMolar, r.ConcentrationInMolar = &a, &b
			return &r
		},
	}
}

var flatSeeds = []string{
	`{}`, ` { } `, `{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`,
	`{"z_valence":2, "concentration_out_molar" : 5e-3 ,"concentration_in_molar":1.4E-1}`,
	`{"seed":42,"grid_size":32,"steps":64,"alpha":0.18,"spike_probability":0.25,"turing_enabled":false,"threshold_mV":-60}`,
	`{"seed":-9223372036854775808}`, `{"seed":9223372036854775808}`, `{"steps":1.0}`, `{"steps":1e2}`,
	`{"alpha":1e400}`, `{"alpha":-0}`, `{"alpha":01}`, `{"alpha":1.}`, `{"alpha":.5}`, `{"alpha":+1}`,
	`{"alpha":inf}`, `{"alpha":0x1p3}`, `{"alpha":"1"}`, `{"alpha":null}`, `{"alpha":[1]}`, `{"alpha":{}}`,
	`{"turing_enabled":true}`, `{"turing_enabled":1}`, `{"turing_enabled":True}`, `{"STEPS":5}`,
	`{"st\u0065ps":5}`, `{"steps":5,"steps":6}`, `{"unknown":5}`, `{"steps":5,}`, `{"steps":5}x`,
	`{"steps":5}}`, `{"steps" 5}`, `{"steps":}`, `{,}`, `{"steps":5 6}`, `null`, `[]`, `1`, ``, `{`,
	"{\"steps\":5\f}", "{\"st\x00eps\":5}", `{"z_valence":2147483648}`, `{"concentration_in_molar":1e-400}`,
}

// FuzzDecodeFlat: on any input, Decode (fast path first) and decodeFull give the same
// value and the same error, for every flat request type.
func FuzzDecodeFlat(f *testing.F) {
	for _, s := range flatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range flatTargets() {
			fast, full := target(), target()
			errFast := Decode(body, fast)
			errFull := decodeFull(bytes.Trim(body, jsonSpace), full)
			if !reflect.DeepEqual(errFast, errFull) {
				t.Fatalf("%T %q: error %v, full decoder %v", fast, body, errFast, errFull)
			}
			if !reflect.DeepEqual(fast, full) {
				t.Fatalf("%T %q: %+v, full decoder %+v", fast, body, fast, full)
			}
		}
	})
}

// TestDecodeFlatTakes checks that the common bodies do take the fast path (the fuzz
// test alone would pass with a fast path that always declines).
func TestDecodeFlatTakes(t *testing.T) {
	nernst, simulate, validate := flatTargets()[0], flatTargets()[1], flatTargets()[2]
	for _, tc := range []struct {
		body   string
		target func() any
	}{
		{`{}`, nernst},
		{`{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`, nernst},
		{`{"seed":42,"grid_size":32,"steps":64,"alpha":0.18,"turing_enabled":true,"threshold_mV":-6e1}`, simulate},
		{` { "epochs" : 1 , "quantum_jitter" : false }`, validate},
	} {
		dst := tc.target()
		if !decodeFlat(bytes.Trim([]byte(tc.body), jsonSpace), dst) {
			t.Errorf("%T %s: fast path declined", dst, tc.body)
		}
	}
	for _, body := range []string{`{"alpha":null}`, `{"steps":5,"steps":6}`, `{"unknown":1}`, `{"steps":"5"}`, `{"seed":1,"steps":1.5}`} {
		r := DefaultSimulateRequest()
		if decodeFlat([]byte(body), &r) {
			t.Errorf("%s: fast path took it", body)
		}
		if r != DefaultSimulateRequest() {
			t.Errorf("%s: declined but changed dst to %+v", body, r)
		}
	}
	var m map[string]any
	if decodeFlat([]byte(`{}`), &m) {
		t.Error("a map took the fast path")
	}
}

func BenchmarkDecodeNernst(b *testing.B) {
	body := []byte(`{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`)
	b.Run("flat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := DefaultNernstRequest()
			if err := Decode(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := DefaultNernstRequest()
			if err := decodeFull(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
