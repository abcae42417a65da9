// Package pipeline runs configured pipelines: a Source feeds jobs.Pool, every result goes to
// every Sink, and the input is acknowledged only after all sinks took it.
package pipeline

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"mfn/jobs"
)

// Config declares one pipeline (mfn.yaml `pipelines:` list entry).
type Config struct {
	Name string `mapstructure:"name"`
}

// Validate names the bad key (prefix "pipelines[i]." is added by the caller).
func (c Config) Validate() error { panic("pipeline: TODO") }

// Runner is what a pipeline needs from jobs.Pool: run one job, waiting for queue space.
type Runner interface {
	DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error)
}

// Manager owns every configured pipeline.
type Manager struct{}

// New validates and builds the pipelines; it starts nothing.
func New(cfgs []Config, run Runner, log *zap.Logger, reg prometheus.Registerer) (*Manager, error) {
	panic("pipeline: TODO")
}

// Run starts every pipeline and blocks until ctx is done, then stops fetching, finishes
// in-flight jobs, publishes, commits, and returns (bounded by each pipeline's grace period).
func (m *Manager) Run(ctx context.Context) error { panic("pipeline: TODO") }

// Ready reports nil when every pipeline can reach its source and sinks, or an error naming the one that cannot.
func (m *Manager) Ready() error { panic("pipeline: TODO") }
