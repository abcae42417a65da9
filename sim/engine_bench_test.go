package sim

import (
	"context"
	"testing"
)

// BenchmarkEngine128x200 is §19's "engine 128×128×200" (reference target < 60 s for 256×256×100).
func BenchmarkEngine128x200(b *testing.B) {
	cfg := DefaultEngineConfig()
	cfg.GridSize, cfg.Seed = 128, 42
	e, err := NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := e.Simulate(context.Background(), 200, true, false, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFeatures32x32x32 is §19's "features on a 32×32×32 history" (reference: 1.0 ms
// for the demo result with history).
func BenchmarkFeatures32x32x32(b *testing.B) {
	cfg := DefaultEngineConfig()
	cfg.GridSize, cfg.Seed = 32, 42
	e, err := NewEngine(cfg)
	if err != nil {
		b.Fatal(err)
	}
	run, err := e.Simulate(context.Background(), 32, true, true, nil)
	if err != nil {
		b.Fatal(err)
	}
	fc := DefaultFeatureConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ComputeFeatures(run.History, 32, 32, fc); err != nil {
			b.Fatal(err)
		}
	}
}
