package federated_test

import (
	"fmt"

	"mfn/federated"
)

// Ten clients (i, i² mod 7) in three clusters: numerical-core.md §13.4 B.
func ExampleAggregate() {
	g := make([][]float32, 10)
	for i := range g {
		g[i] = []float32{float32(i), float32(i * i % 7)}
	}
	out, err := federated.Aggregate(g, 3, 0.2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)
	// Output: [3.6 2]
}

func ExampleKrum() {
	g := [][]float32{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {10, 10}, {0.5, 0.4}}
	out, _ := federated.Krum(g, 1)
	fmt.Println(out)
	// Output: [0.5 0.4]
}
