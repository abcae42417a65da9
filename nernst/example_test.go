package nernst_test

import (
	"fmt"

	"mfn/nernst"
)

func ExamplePotential() {
	// K⁺ at body temperature: 5 mM outside, 140 mM inside.
	e := nernst.Potential(1, 5e-3, 140e-3, nernst.BodyTemperatureK)
	fmt.Printf("%.4f mV\n", e*1000)
	// Output: -89.0107 mV
}

func ExampleValidated() {
	_, err := nernst.Validated(0, 5e-3, 140e-3, 310)
	fmt.Println(err)
	// Output: nernst: z_valence: ion valence cannot be zero
}
