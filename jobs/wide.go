package jobs

import (
	"context"
	"runtime"
)

// Wide runs: one simulation of a large grid may spread each step's rows over several
// cores (sim.Params.Workers; the numbers do not change). Small runs stay on one worker,
// because many small runs side by side use the cores better than one split run. The
// extra cores are borrowed from the pool, so that a wide run counts against the same
// capacity as the jobs it displaces and REST back-pressure stays honest.
//
// Where it applies: grids from WideConfig.MinGrid (default 512) on, which is beyond
// MaxGridSize (256) of /simulate, the CLI and the pipelines, so today no request
// transport reaches it; it is there for the CLI and dataset jobs once they allow larger
// grids. The pool opts in by putting itself in each job's context with WithWide.

// WideConfig sizes wide runs.
type WideConfig struct {
	// MinGrid is the smallest grid_size that may use several workers; smaller runs use
	// one. 0 = DefaultWideMinGrid.
	MinGrid int `mapstructure:"min_grid"`
	// MaxWorkers caps the workers of one run, the run's own included; 0 = GOMAXPROCS.
	MaxWorkers int `mapstructure:"max_workers"`
}

// DefaultWideMinGrid is the default WideConfig.MinGrid.
const DefaultWideMinGrid = 512

// DefaultWideConfig: grids from 512² on, up to GOMAXPROCS workers.
func DefaultWideConfig() WideConfig { return WideConfig{MinGrid: DefaultWideMinGrid} }

// Validate names the bad key.
func (c WideConfig) Validate() error {
	if c.MinGrid != 0 && c.MinGrid < 128 {
		// Below 128 rows a band is under 64 rows and splitting costs more than it gains.
		return &ValidationError{Field: "min_grid", Reason: "must be at least 128"}
	}
	if c.MaxWorkers < 0 || c.MaxWorkers > maxWorkers {
		return &ValidationError{Field: "max_workers", Reason: "must be between 0 (GOMAXPROCS) and 10000"}
	}
	return nil
}

// WorkerLender is what the pool offers a wide run: idle workers it will not hand to
// queued jobs until they are returned.
type WorkerLender interface {
	// TryBorrow takes up to n idle workers without waiting and says how many it took.
	TryBorrow(n int) int
	// Return gives back workers taken by TryBorrow.
	Return(n int)
}

type wideKey struct{}

type wideCtx struct {
	cfg    WideConfig
	lender WorkerLender
}

// WithWide lets the jobs run with ctx borrow workers from l under cfg. The pool calls it
// for each job it runs; without it every run uses one worker.
func WithWide(ctx context.Context, cfg WideConfig, l WorkerLender) context.Context {
	return context.WithValue(ctx, wideKey{}, &wideCtx{cfg: cfg, lender: l})
}

// mayRunWide reports whether req's run reads the wide context (wideWorkers): only
// simulations do.
func mayRunWide(req Request) bool {
	switch req.(type) {
	case SimulateRequest, ObservedSimulation:
		return true
	}
	return false
}

// wideWorkers is how many workers a run of an n×n grid gets (≥ 1, its own included) and
// the function that returns the borrowed ones.
func wideWorkers(ctx context.Context, n int) (int, func()) {
	w, _ := ctx.Value(wideKey{}).(*wideCtx)
	if w == nil || w.lender == nil {
		return 1, func() {}
	}
	minGrid := w.cfg.MinGrid
	if minGrid == 0 {
		minGrid = DefaultWideMinGrid
	}
	if n < minGrid {
		return 1, func() {}
	}
	limit := w.cfg.MaxWorkers
	if limit == 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	// More bands than sim will use (one per 64 rows) would idle borrowed workers.
	limit = min(limit, n/64)
	if limit < 2 {
		return 1, func() {}
	}
	got := w.lender.TryBorrow(limit - 1)
	return 1 + got, func() {
		if got > 0 {
			w.lender.Return(got)
		}
	}
}
