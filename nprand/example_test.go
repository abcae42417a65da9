package nprand_test

import (
	"fmt"

	"mfn/nprand"
)

func ExampleNew() {
	// The same numbers as numpy.random.default_rng(42).
	g := nprand.New(42)
	fmt.Println(g.Random(), g.Integers(0, 64), g.Normal(-0.07, 0.005))
	// Output: 0.7739560485559633 41 -0.06624774402096772
}
