package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// GRPCConfig tunes the gRPC side of the port.
type GRPCConfig struct {
	MaxRecvBytes int `mapstructure:"max_recv_bytes"`
}

// DefaultGRPCConfig returns the gRPC defaults.
func DefaultGRPCConfig() GRPCConfig { panic("server: TODO grpc") }

// Validate names the bad key.
func (c GRPCConfig) Validate() error { panic("server: TODO grpc") }

// newGRPCServer builds the gRPC server: MyceliumService, reflection, grpc.health.v1 (returned
// so shutdown can flip it to NOT_SERVING), and interceptors for request id, logging, metrics,
// auth, rate limiting and panic recovery. auth and limit may be nil (off).
func newGRPCServer(cfg GRPCConfig, run Runner, auth Authenticator, limit Limiter, log *zap.Logger, reg prometheus.Registerer) (*grpc.Server, *health.Server, error) {
	panic("server: TODO grpc")
}
