package validation_test

import (
	"context"
	"fmt"
	"os"

	"mfn/validation"
)

// The numpy-side metrics of the default cycle equal the reference's (§14.3).
func ExampleRun() {
	m, err := validation.Run(context.Background(), validation.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.14f %.13f %.0f %.1f\n", m.PotMinMV, m.PotMaxMV, m.GrowthEvents, m.ExampleFractalDim)
	fmt.Println(m.LossFinal < m.LossStart)
	// Output:
	// -71.08395153742538 -62.9757761271483 20 0.0
	// true
}

func ExampleFormat() {
	m := validation.Metrics{LossStart: 2.432786, PotMinMV: -71.08395153742538, GrowthEvents: 20}
	_ = validation.Format(m, os.Stdout)
	// Output:
	// === MyceliumFractalNet v4.1 :: validation ===
	// loss_start              :  2.432786
	// loss_final              :  0.000000
	// loss_drop               :  0.000000
	// pot_min_mV              : -71.083952
	// pot_max_mV              :  0.000000
	// example_fractal_dim     :  0.000000
	// lyapunov_exponent       :  0.000000
	// lyapunov_mean           :  0.000000
	// growth_events           :  20.000000
	// nernst_symbolic_mV      :  0.000000
	// nernst_numeric_mV       :  0.000000
	// nernst_rtfz_mV          :  0.000000
}
