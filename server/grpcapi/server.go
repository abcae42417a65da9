package grpcapi

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"

	"mfn/internal/cfgerr"
	pb "mfn/proto"
	"mfn/telemetry"
)

// Config tunes the gRPC side of the port. Keys sit under `grpc:` in mfn.yaml.
type Config struct {
	// MaxRecvBytes caps one received message (the reference keeps grpc's 4 MiB default).
	MaxRecvBytes int `mapstructure:"max_recv_bytes"`
	// MaxConcurrentStreams caps in-flight RPCs per client connection.
	MaxConcurrentStreams uint32 `mapstructure:"max_concurrent_streams"`
	// KeepaliveTime pings an idle client after this long to find dead peers on long
	// SimulateStream calls; KeepaliveTimeout is how long the ping may go unanswered.
	KeepaliveTime    time.Duration `mapstructure:"keepalive_time"`
	KeepaliveTimeout time.Duration `mapstructure:"keepalive_timeout"`
	// KeepaliveMinTime is the most frequent client ping tolerated; clients that ping
	// more often get GOAWAY too_many_pings, so keep it below every client's ping interval.
	KeepaliveMinTime time.Duration `mapstructure:"keepalive_min_time"`
	// MaxConnectionAge closes a client connection (GOAWAY, in-flight calls may finish
	// within MaxConnectionAgeGrace) after this long, so that long-lived HTTP/2 clients
	// reconnect and spread over new replicas behind a Kubernetes Service; 0 = never.
	MaxConnectionAge      time.Duration `mapstructure:"max_connection_age"`
	MaxConnectionAgeGrace time.Duration `mapstructure:"max_connection_age_grace"`
	// StreamBuffer is how many SimulationUpdates may wait between the simulation and a
	// slow SimulateStream client before the simulation waits for the client.
	StreamBuffer int `mapstructure:"stream_buffer"`
	// StreamStallTimeout stops a SimulateStream whose client has not taken an update for
	// this long, so that a client that stops reading cannot hold a worker forever.
	StreamStallTimeout time.Duration `mapstructure:"stream_stall_timeout"`
	// DefaultTimeout bounds every call but the streams below, as server.request_timeout
	// bounds a REST request: a client deadline that is later (or none) is cut to it.
	// 0 = none.
	DefaultTimeout time.Duration `mapstructure:"default_timeout"`
	// StreamTimeout is that bound for SimulateStream, whose legal maximum is set by the
	// reader, not the simulation: 1000 updates are computed in under a second, so the
	// default 10m lets a client take them at 0.6 s each on average. grpc.health.v1 Watch
	// is meant to stay open and costs no worker: it has no server deadline. 0 = none.
	StreamTimeout time.Duration `mapstructure:"stream_timeout"`

	// HTTP/2 limits before any RPC runs (grpc-go's defaults are 16 MiB and 120 s).
	// MaxHeaderListBytes caps a call's header list (metadata, as HTTP/2 counts it); a
	// larger one is reset before the call runs.
	MaxHeaderListBytes uint32 `mapstructure:"max_header_list_bytes"`
	// ConnectionTimeout bounds the HTTP/2 handshake (preface and SETTINGS) of a new
	// connection; a client that does not finish it is closed.
	ConnectionTimeout time.Duration `mapstructure:"connection_timeout"`
}

// DefaultConfig returns the gRPC defaults: 4 MiB messages, 1000 streams per
// connection, keepalive 2 min / 20 s with client pings tolerated every 10 s, a 64-update
// stream buffer, a 30 s stall limit, 32 KiB of headers and a 10 s handshake.
func DefaultConfig() Config {
	return Config{
		MaxRecvBytes:          4 << 20,
		MaxConcurrentStreams:  1000,
		KeepaliveTime:         2 * time.Minute,
		KeepaliveTimeout:      20 * time.Second,
		KeepaliveMinTime:      10 * time.Second,
		StreamBuffer:          64,
		StreamStallTimeout:    30 * time.Second,
		MaxConnectionAgeGrace: 30 * time.Second,
		DefaultTimeout:        120 * time.Second,
		StreamTimeout:         10 * time.Minute,
		MaxHeaderListBytes:    32 << 10,
		ConnectionTimeout:     10 * time.Second,
	}
}

// Validate names the bad key.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRecvBytes < 1024 || c.MaxRecvBytes > 1<<30 {
		errs = append(errs, cfgerr.New("max_recv_bytes", "%d is outside [1024, %d]", c.MaxRecvBytes, 1<<30))
	}
	if c.MaxConcurrentStreams < 1 {
		errs = append(errs, cfgerr.New("max_concurrent_streams", "must be at least 1"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"keepalive_time", c.KeepaliveTime},
		{"keepalive_timeout", c.KeepaliveTimeout},
		{"keepalive_min_time", c.KeepaliveMinTime},
		{"stream_stall_timeout", c.StreamStallTimeout},
		{"max_connection_age_grace", c.MaxConnectionAgeGrace},
		{"connection_timeout", c.ConnectionTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, cfgerr.New(d.key, "%s must be positive", d.v))
		}
	}
	if c.DefaultTimeout < 0 {
		errs = append(errs, cfgerr.New("default_timeout", "%s must be 0 (none) or positive", c.DefaultTimeout))
	}
	if c.StreamTimeout < 0 {
		errs = append(errs, cfgerr.New("stream_timeout", "%s must be 0 (none) or positive", c.StreamTimeout))
	}
	if c.MaxHeaderListBytes < 1024 || c.MaxHeaderListBytes > 16<<20 {
		errs = append(errs, cfgerr.New("max_header_list_bytes", "%d is outside [1024, %d]", c.MaxHeaderListBytes, 16<<20))
	}
	if c.MaxConnectionAge < 0 {
		errs = append(errs, cfgerr.New("max_connection_age", "%s must be 0 (never) or positive", c.MaxConnectionAge))
	}
	if c.StreamBuffer < 1 || c.StreamBuffer > math.MaxInt16 {
		errs = append(errs, cfgerr.New("stream_buffer", "%d is outside [1, %d]", c.StreamBuffer, math.MaxInt16))
	}
	return errors.Join(errs...)
}

// keepAlive maps the config to grpc's server parameters; a zero MaxConnectionAge must stay
// grpc's "infinity", not "close at once".
func keepAlive(cfg Config) keepalive.ServerParameters {
	p := keepalive.ServerParameters{Time: cfg.KeepaliveTime, Timeout: cfg.KeepaliveTimeout}
	if cfg.MaxConnectionAge > 0 {
		p.MaxConnectionAge, p.MaxConnectionAgeGrace = cfg.MaxConnectionAge, cfg.MaxConnectionAgeGrace
	}
	return p
}

// ServiceName is the fully qualified service name, as registered with grpc.health.v1.
const ServiceName = "mycelium.MyceliumService"

// New builds the gRPC server: MyceliumService, reflection, grpc.health.v1 (returned
// so shutdown can flip it to NOT_SERVING), and interceptors for request id, logging, metrics,
// auth, rate limiting and panic recovery. auth and limit may be nil (off).
//
// Both the overall health ("") and ServiceName start SERVING: the jobs pool is the
// only dependency of the RPCs and it accepts work from construction; the caller flips
// them with Shutdown on drain. It starts no goroutines: the caller runs Serve.
func New(cfg Config, run Runner, auth Authenticator, limit Limiter, log *zap.Logger, reg prometheus.Registerer) (*grpc.Server, *health.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, cfgerr.Prefix("grpc.", err) // the section's place in mfn.yaml
	}
	if run == nil {
		return nil, nil, errors.New("grpc: nil Runner")
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("component", "grpc"))
	m, err := newMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	ic := &interceptors{log: log, metrics: m, auth: auth, limit: limit,
		defaultTimeout: cfg.DefaultTimeout, streamTimeout: cfg.StreamTimeout}

	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvBytes),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.MaxHeaderListSize(cfg.MaxHeaderListBytes),
		grpc.ConnectionTimeout(cfg.ConnectionTimeout),
		// Flow-control windows stay grpc-go's (64 KiB per stream, grown by its BDP
		// estimator to at most 16 MiB per connection), which bounds what a client can make
		// the server buffer; pings and resets are policed by grpc-go itself.
		grpc.KeepaliveParams(keepAlive(cfg)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveMinTime, PermitWithoutStream: true}),
		// Outermost first: the request id, log line and metrics see the final code,
		// including a rejected key or a recovered panic.
		grpc.UnaryInterceptor(ic.unary),
		grpc.ChainStreamInterceptor(ic.streamObserve, ic.streamRecover, ic.streamGuard, ic.streamDeadline),
		// Calls run on long-lived worker goroutines rather than on one new goroutine
		// each: a new goroutine's stack grows (is copied) through grpc-go's and our
		// frames on every call, a tenth of a ComputeNernst call's CPU. 16 per core keep
		// 128 concurrent ComputeNernst streams on workers (BenchmarkServerCPU); when all
		// are busy grpc-go starts a goroutine as before, so no call ever waits for one.
		// grpc-go replaces each worker every 65536 calls, giving back a stack a deep
		// call grew; Stop and GracefulStop end them.
		grpc.NumStreamWorkers(uint32(16 * runtime.GOMAXPROCS(0))), // #nosec G115 -- GOMAXPROCS is at least 1 and far below 2^28
	}
	if telemetry.Enabled() {
		// A stats handler sees the call before the interceptors, so its span (continuing
		// the client's traceparent) is in the ctx they log and measure with. Off, it is
		// not installed at all: tracing off costs gRPC nothing.
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithFilter(traced))))
	}
	gs := grpc.NewServer(opts...)
	pb.RegisterMyceliumServiceServer(gs, newService(cfg, run, time.Now))

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)

	// Register installs both grpc.reflection.v1 and v1alpha: grpcurl speaks v1 first,
	// older grpcui/Postman/Kreya only v1alpha (PITFALLS 2.2).
	reflection.Register(gs)
	return gs, hs, nil
}

// traced leaves out the calls that are probes, not work: grpc.health.v1 (the kubelet's
// startup probe every 2 s) and reflection, which would otherwise fill the traces.
func traced(info *stats.RPCTagInfo) bool {
	return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.") && !strings.HasPrefix(info.FullMethodName, "/grpc.reflection.")
}
