package sim

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/nprand"
)

// Goldens of numerical-core.md §20.1: simulate_mycelium_field(default_rng(42), …).
func TestLegacyGoldens(t *testing.T) {
	tests := []struct {
		name                    string
		mod                     func(*Params)
		events                  int
		minV, maxV, meanV, stdV float64
		first, last             float64
	}{
		{"grid32_steps50", func(p *Params) { p.GridSize, p.Steps = 32, 50 }, 17,
			-0.07082453196698339, -0.06497201831234893, -0.06980622579323571, 0.0005802650650273584, -0.06760062728892881, -0.0689823046869061},
		{"defaults_64x64", func(p *Params) {}, 14,
			-0.07070938698488535, -0.06730757873491175, -0.07003076248064738, 0.0003302476077214526, -0.07024271089420192, -0.07024616855196207},
		{"grid32_steps50_turing_off", func(p *Params) { p.GridSize, p.Steps, p.TuringEnabled = 32, 50, false }, 9,
			-0.07079189661827061, -0.06765295560310579, -0.0699592559971551, 0.0004234459985145224, -0.0696972705062135, -0.06974538887481488},
		{"grid32_steps100_jitter", func(p *Params) { p.GridSize, p.Steps, p.QuantumJitter = 32, 100, true }, 20,
			-0.095, 0.04, -0.03888319747140897, 0.028165068869211506, -0.08758585922553777, -0.06621046629012241},
		{"grid64_steps100", func(p *Params) { p.Steps = 100 }, 25,
			-0.07061010865826364, -0.06605374972580627, -0.06997659422623444, 0.0003152235253187004, -0.07011164048595106, -0.07012686279935358},
		{"grid32_steps100_p0", func(p *Params) { p.GridSize, p.Steps, p.SpikeProbability = 32, 100, 0 }, 0,
			-0.0706751450687567, -0.06980637112350906, -0.07014628178484765, 0.00020943002405238224, -0.06996355218561669, -0.0700016542968439},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultParams()
			tc.mod(&p)
			field, events, err := Run(context.Background(), nprand.New(42), p, nil)
			require.NoError(t, err)
			n := p.GridSize
			require.Len(t, field, n*n)
			require.Equal(t, tc.events, events)
			require.Equal(t, tc.minV, Min(field))
			require.Equal(t, tc.maxV, Max(field))
			require.Equal(t, tc.meanV, Mean(field))
			require.Equal(t, tc.stdV, Std(field))
			require.Equal(t, tc.first, field[0])
			require.Equal(t, tc.last, field[n*n-1])
		})
	}
}
