package server

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// WSConfig tunes the WebSocket streams.
type WSConfig struct {
	MaxConnections int `mapstructure:"max_connections"`
}

// DefaultWSConfig returns the WebSocket defaults.
func DefaultWSConfig() WSConfig { panic("server: TODO ws") }

// Validate names the bad key.
func (c WSConfig) Validate() error { panic("server: TODO ws") }

// streamHub serves /ws/simulation_live and /ws/stream_features and owns every connection.
type streamHub struct{}

// newStreamHub allocates the hub; auth may be nil (auth off).
func newStreamHub(cfg WSConfig, run Runner, auth Authenticator, log *zap.Logger, reg prometheus.Registerer) (*streamHub, error) {
	panic("server: TODO ws")
}

// SimulationLive upgrades and serves /ws/simulation_live.
func (h *streamHub) SimulationLive(w http.ResponseWriter, r *http.Request) { panic("server: TODO ws") }

// StreamFeatures upgrades and serves /ws/stream_features.
func (h *streamHub) StreamFeatures(w http.ResponseWriter, r *http.Request) { panic("server: TODO ws") }

// Shutdown closes every connection with StatusGoingAway and waits for their goroutines.
func (h *streamHub) Shutdown(ctx context.Context) error { panic("server: TODO ws") }
