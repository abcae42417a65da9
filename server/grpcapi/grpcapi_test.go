package grpcapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"mfn/internal/cfgerr"
	"mfn/internal/loadtest"
	"mfn/jobs"
	pb "mfn/proto"
)

// grpcTestAuth implements Authenticator for these tests (the REST helper owns the real one).
type grpcTestAuth struct {
	required bool
	keys     []string
}

func (a grpcTestAuth) Required() bool { return a.required }

func (a grpcTestAuth) Valid(key string) bool {
	ok := false
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			ok = true
		}
	}
	return ok
}

// grpcTestLimiter allows the first n calls per key and records the keys it saw.
type grpcTestLimiter struct {
	n    int
	mu   sync.Mutex
	seen map[string]int
}

func (l *grpcTestLimiter) Enabled() bool { return true }

func (l *grpcTestLimiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	l.seen[key]++
	return l.seen[key] <= l.n
}

type grpcEnv struct {
	client pb.MyceliumServiceClient
	conn   *grpc.ClientConn
	pool   *jobs.Pool
	health *health.Server
	reg    *prometheus.Registry
	run    Runner
}

type grpcEnvOpts struct {
	pool  jobs.PoolConfig
	cfg   *Config
	auth  Authenticator
	limit Limiter
	log   *zap.Logger
	// wrap, when set, puts a Runner around the pool (for failure paths the pool never takes).
	wrap func(Runner) Runner
}

// startGRPC runs a real jobs.Pool and a gRPC server from New on a loopback
// listener, and dials it with the generated client.
func startGRPC(tb testing.TB, o grpcEnvOpts) *grpcEnv {
	tb.Helper()
	if o.pool == (jobs.PoolConfig{}) {
		o.pool = jobs.PoolConfig{Workers: 2, QueueSize: 16}
	}
	pool, err := jobs.NewPool(o.pool, nil)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); _ = pool.Run(ctx) }()

	cfg := DefaultConfig()
	if o.cfg != nil {
		cfg = *o.cfg
	}
	log := o.log
	if log == nil {
		if t, ok := tb.(*testing.T); ok {
			log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
		} else {
			log = zap.NewNop()
		}
	}
	var run Runner = pool
	if o.wrap != nil {
		run = o.wrap(pool)
	}
	reg := prometheus.NewRegistry()
	gs, hs, err := New(cfg, run, o.auth, o.limit, log, reg)
	require.NoError(tb, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
		<-served
		cancel()
		<-poolDone
	})
	return &grpcEnv{client: pb.NewMyceliumServiceClient(conn), conn: conn, pool: pool, health: hs, reg: reg, run: run}
}

func grpcWithKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-api-key", key)
}

func grpcTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func gptr[T any](v T) *T { return &v }

func requireGRPCCode(t *testing.T, err error, want codes.Code) *status.Status {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status error: %v", err)
	require.Equal(t, want, st.Code(), "message: %s", st.Message())
	return st
}

func TestGRPCConfigValidate(t *testing.T) {
	tests := []struct {
		name        string
		mod         func(*Config)
		errContains string
	}{
		{"defaults", func(*Config) {}, ""},
		{"tiny recv", func(c *Config) { c.MaxRecvBytes = 10 }, "max_recv_bytes"},
		{"no streams", func(c *Config) { c.MaxConcurrentStreams = 0 }, "max_concurrent_streams"},
		{"keepalive", func(c *Config) { c.KeepaliveTime = 0 }, "keepalive_time"},
		{"keepalive timeout", func(c *Config) { c.KeepaliveTimeout = -time.Second }, "keepalive_timeout"},
		{"min time", func(c *Config) { c.KeepaliveMinTime = 0 }, "keepalive_min_time"},
		{"buffer", func(c *Config) { c.StreamBuffer = 0 }, "stream_buffer"},
		{"huge buffer", func(c *Config) { c.StreamBuffer = 1 << 15 }, "stream_buffer"},
		{"stall", func(c *Config) { c.StreamStallTimeout = 0 }, "stream_stall_timeout"},
		{"no deadlines", func(c *Config) { c.DefaultTimeout, c.StreamTimeout = 0, 0 }, ""},
		{"default timeout", func(c *Config) { c.DefaultTimeout = -time.Second }, "default_timeout"},
		{"stream timeout", func(c *Config) { c.StreamTimeout = -time.Second }, "stream_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.errContains == "" {
				require.NoError(t, err)
				return
			}
			// The key is relative to the section; config and New add "grpc.".
			var ce *cfgerr.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.errContains, ce.Key)
		})
	}
}

func TestGRPCHealth(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{auth: grpcTestAuth{required: true, keys: []string{"k"}}})
	ctx := grpcTestCtx(t)

	// The custom HealthCheck never needs a key.
	res, err := env.client.HealthCheck(ctx, &pb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, "healthy", res.GetStatus())
	require.Equal(t, "4.1.0", res.GetVersion())
	require.GreaterOrEqual(t, res.GetUptimeSeconds(), int64(0))

	hc := healthpb.NewHealthClient(env.conn)
	for _, svc := range []string{"", "mycelium.MyceliumService"} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		require.NoError(t, err, "service %q", svc)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, r.GetStatus(), "service %q", svc)
	}
	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	requireGRPCCode(t, err, codes.NotFound)

	env.health.Shutdown() // what the listener does first on drain
	for _, svc := range []string{"", "mycelium.MyceliumService"} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, r.GetStatus(), "service %q", svc)
	}
}

func TestGRPCReflection(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{auth: grpcTestAuth{required: true, keys: []string{"k"}}})
	ctx := grpcTestCtx(t)

	t.Run("v1", func(t *testing.T) {
		stream, err := reflectionv1.NewServerReflectionClient(env.conn).ServerReflectionInfo(ctx)
		require.NoError(t, err)
		require.NoError(t, stream.Send(&reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}))
		res, err := stream.Recv()
		require.NoError(t, err)
		var names []string
		for _, s := range res.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		require.Contains(t, names, "mycelium.MyceliumService")
		require.Contains(t, names, "grpc.health.v1.Health")

		// grpcurl describe needs the file descriptor by symbol.
		require.NoError(t, stream.Send(&reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "mycelium.MyceliumService"}}))
		res, err = stream.Recv()
		require.NoError(t, err)
		require.NotEmpty(t, res.GetFileDescriptorResponse().GetFileDescriptorProto())
		require.NoError(t, stream.CloseSend())
	})
	t.Run("v1alpha", func(t *testing.T) {
		stream, err := reflectionv1alpha.NewServerReflectionClient(env.conn).ServerReflectionInfo(ctx)
		require.NoError(t, err)
		// v1alpha is deprecated, but older grpcui, Postman and Kreya speak only it, so
		// the server keeps answering it (PITFALLS 2.2).
		//lint:ignore SA1019 the test is of the deprecated v1alpha API, for those clients
		require.NoError(t, stream.Send(&reflectionv1alpha.ServerReflectionRequest{
			MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}))
		res, err := stream.Recv()
		require.NoError(t, err)
		var names []string
		//lint:ignore SA1019 as above
		for _, s := range res.GetListServicesResponse().GetService() {
			//lint:ignore SA1019 as above
			names = append(names, s.GetName())
		}
		require.Contains(t, names, "mycelium.MyceliumService")
		require.NoError(t, stream.CloseSend())
	})
}

func TestGRPCComputeNernst(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)

	tests := []struct {
		name string
		in   *pb.NernstRequest
		want jobs.NernstRequest
	}{
		{
			name: "potassium",
			in:   &pb.NernstRequest{ZValence: gptr[int32](1), ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3), TemperatureK: gptr(310.0)},
			want: jobs.NernstRequest{ZValence: 1, ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3), TemperatureK: 310},
		},
		{
			name: "calcium at 300 K",
			in:   &pb.NernstRequest{ZValence: gptr[int32](2), ConcentrationOutMolar: gptr(2e-3), ConcentrationInMolar: gptr(1e-4), TemperatureK: gptr(300.0)},
			want: jobs.NernstRequest{ZValence: 2, ConcentrationOutMolar: gptr(2e-3), ConcentrationInMolar: gptr(1e-4), TemperatureK: 300},
		},
		{
			name: "unset valence and temperature take the REST defaults",
			in:   &pb.NernstRequest{ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3)},
			want: func() jobs.NernstRequest {
				r := jobs.DefaultNernstRequest()
				r.ConcentrationOutMolar, r.ConcentrationInMolar = gptr(5e-3), gptr(140e-3)
				return r
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.client.ComputeNernst(ctx, tt.in)
			require.NoError(t, err)
			want, err := env.pool.Do(ctx, tt.want)
			require.NoError(t, err)
			require.Equal(t, want.(jobs.NernstResult).PotentialMV, got.GetPotentialMV())
		})
	}
}

func TestGRPCSimulateMatchesREST(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)

	tests := []struct {
		name string
		in   *pb.SimulateRequest
		want jobs.SimulateRequest
	}{
		{
			// An empty request is REST's defaults: grid 64, 64 steps, alpha 0.18, spike
			// 0.25, Turing on (not the reference gRPC's 100 steps / 0.1 / Turing off).
			name: "defaults",
			in:   &pb.SimulateRequest{},
			want: jobs.DefaultSimulateRequest(),
		},
		{
			name: "explicit zero seed and Turing off",
			in:   &pb.SimulateRequest{Seed: gptr[int32](0), GridSize: gptr[int32](16), Steps: gptr[int32](10), TuringEnabled: gptr(false), Alpha: gptr(0.1), SpikeProbability: gptr(0.5), Gamma: gptr(0.8)},
			want: func() jobs.SimulateRequest {
				r := jobs.DefaultSimulateRequest()
				r.Seed, r.GridSize, r.Steps, r.TuringEnabled, r.Alpha, r.SpikeProbability = 0, 16, 10, false, 0.1, 0.5
				return r
			}(),
		},
		{
			name: "threshold",
			in:   &pb.SimulateRequest{Seed: gptr[int32](7), GridSize: gptr[int32](32), Steps: gptr[int32](20), ThresholdMV: gptr(-70.0)},
			want: func() jobs.SimulateRequest {
				r := jobs.DefaultSimulateRequest()
				r.Seed, r.GridSize, r.Steps, r.ThresholdMV = 7, 32, 20, -70
				return r
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.client.Simulate(ctx, tt.in)
			require.NoError(t, err)
			res, err := env.pool.Do(ctx, tt.want)
			require.NoError(t, err)
			want := res.(jobs.SimulateResult)

			require.Equal(t, want.PotMinMV, got.GetPotMinMV())
			require.Equal(t, want.PotMaxMV, got.GetPotMaxMV())
			require.Equal(t, want.PotMeanMV, got.GetPotMeanMV())
			require.Equal(t, want.PotStdMV, got.GetPotStdMV())
			require.Equal(t, int32(want.GrowthEvents), got.GetGrowthEvents())
			require.Equal(t, want.FractalDimension, got.GetFractalDimension())

			// Volts, as the reference's gRPC: one mean/std per step, the last one the final field's.
			require.Len(t, got.GetFieldMean(), tt.want.Steps)
			require.Len(t, got.GetFieldStd(), tt.want.Steps)
			fs := got.GetFieldStats()
			require.Equal(t, want.PotMeanMV, fs.GetMean()*1000)
			require.Equal(t, want.PotStdMV, fs.GetStd()*1000)
			require.Equal(t, want.PotMinMV, fs.GetMin()*1000)
			require.Equal(t, want.PotMaxMV, fs.GetMax()*1000)
			require.Equal(t, fs.GetMean(), got.GetFieldMean()[tt.want.Steps-1])
			require.Equal(t, fs.GetStd(), got.GetFieldStd()[tt.want.Steps-1])
			for i, m := range got.GetFieldMean() {
				require.True(t, m > -0.1 && m < 0.05, "field_mean[%d] = %g is not a potential in volts", i, m)
			}
		})
	}
}

func TestGRPCSimulateStream(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)
	in := &pb.SimulateRequest{Seed: gptr[int32](3), GridSize: gptr[int32](24), Steps: gptr[int32](17)}

	stream, err := env.client.SimulateStream(ctx, in)
	require.NoError(t, err)
	var updates []*pb.SimulationUpdate
	for {
		u, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		updates = append(updates, u)
	}
	require.Len(t, updates, 17)
	for i, u := range updates {
		require.Equal(t, int32(i), u.GetStep())
		require.Equal(t, int32(17), u.GetTotalSteps())
		require.Equal(t, i == 16, u.GetCompleted(), "completed on step %d", i)
		if i > 0 {
			require.GreaterOrEqual(t, u.GetGrowthEvents(), updates[i-1].GetGrowthEvents(), "growth events so far never decrease")
		}
	}

	// The stream's last numbers are Simulate's (and hence REST's).
	sim, err := env.client.Simulate(ctx, in)
	require.NoError(t, err)
	last := updates[16]
	require.Equal(t, sim.GetPotMeanMV(), last.GetPotMeanMV())
	require.Equal(t, sim.GetPotStdMV(), last.GetPotStdMV())
	require.Equal(t, sim.GetGrowthEvents(), last.GetGrowthEvents())
	for i, u := range updates {
		// field_mean/field_std are numpy's volts; the mV values are exactly those × 1000.
		require.Equal(t, sim.GetFieldMean()[i]*1000, u.GetPotMeanMV(), "step %d", i)
		require.Equal(t, sim.GetFieldStd()[i]*1000, u.GetPotStdMV(), "step %d", i)
	}
}

// grpcStepRecorder wraps the pool to record the last step a 1000-step observed run reached.
type grpcStepRecorder struct {
	Runner
	last atomic.Int64
}

func (r *grpcStepRecorder) Do(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	if o, ok := req.(jobs.ObservedSimulation); ok && o.Steps == 1000 {
		inner := o.Observe
		o.Observe = func(s jobs.Snapshot) bool { r.last.Store(int64(s.Step)); return inner(s) }
		req = o
	}
	return r.Runner.Do(ctx, req)
}

// TestGRPCSimulateStreamCancel: a client that cancels mid-stream stops the simulation
// early and frees the only worker, so the next request runs.
func TestGRPCSimulateStreamCancel(t *testing.T) {
	rec := &grpcStepRecorder{}
	env := startGRPC(t, grpcEnvOpts{pool: jobs.PoolConfig{Workers: 1, QueueSize: 1},
		wrap: func(r Runner) Runner { rec.Runner = r; return rec }})
	ctx := grpcTestCtx(t)

	sctx, cancel := context.WithCancel(ctx)
	stream, err := env.client.SimulateStream(sctx, &pb.SimulateRequest{GridSize: gptr[int32](256), Steps: gptr[int32](1000)})
	require.NoError(t, err)
	for i := range 2 {
		u, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, int32(i), u.GetStep())
	}
	cancel()
	got := 2
	for {
		// Updates that arrived before the cancel may still be delivered.
		if _, err = stream.Recv(); err != nil {
			break
		}
		got++
	}
	requireGRPCCode(t, err, codes.Canceled)
	require.Less(t, got, 1000)

	// With one worker this runs only after the cancelled run has left it.
	res, err := env.client.Simulate(ctx, &pb.SimulateRequest{GridSize: gptr[int32](16), Steps: gptr[int32](4)})
	require.NoError(t, err)
	require.Len(t, res.GetFieldMean(), 4)
	require.Less(t, rec.last.Load(), int64(999), "the cancelled run went on to the last step")

	// The server side of the stream ended with CANCELED (it is counted once it has returned).
	require.Eventually(t, func() bool {
		return env.count(t, "/mycelium.MyceliumService/SimulateStream", "Canceled") == 1
	}, 10*time.Second, 10*time.Millisecond)
}

// grpcStalledStream is a SimulateStream server stream whose client never reads: Send blocks
// until the call's context ends, as grpc's Send does once the flow-control window is
// full. Over a real connection the window (64 KiB) outlasts the largest allowed run, so
// the condition is produced here directly.
type grpcStalledStream struct {
	grpc.ServerStream
	ctx     context.Context
	sending chan struct{} // closed at the first Send: the run is on the worker
	once    *sync.Once
}

func (s grpcStalledStream) Context() context.Context { return s.ctx }

func (s grpcStalledStream) Send(*pb.SimulationUpdate) error {
	s.once.Do(func() { close(s.sending) })
	<-s.ctx.Done()
	return s.ctx.Err()
}

// TestGRPCSimulateStreamStall: a client that stops reading holds the worker no longer
// than the stall timeout.
func TestGRPCSimulateStreamStall(t *testing.T) {
	pool, err := jobs.NewPool(jobs.PoolConfig{Workers: 1, QueueSize: 1}, nil)
	require.NoError(t, err)
	pctx, stop := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); _ = pool.Run(pctx) }()
	defer func() { stop(); <-poolDone }()

	cfg := DefaultConfig()
	cfg.StreamBuffer = 1
	cfg.StreamStallTimeout = 100 * time.Millisecond
	svc := newService(cfg, pool, time.Now)
	ctx, cancel := context.WithCancel(grpcTestCtx(t))
	handlerDone := make(chan error, 1)
	stream := grpcStalledStream{ctx: ctx, sending: make(chan struct{}), once: new(sync.Once)}
	go func() {
		handlerDone <- svc.SimulateStream(&pb.SimulateRequest{GridSize: gptr[int32](64), Steps: gptr[int32](1000)}, stream)
	}()
	<-stream.sending

	// The only worker is free again once the stall timeout has stopped the run.
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	res, err := pool.Do(fctx, jobs.SimulateRequest{Seed: 1, GridSize: 8, Steps: 2, Alpha: 0.18, ThresholdMV: -60})
	require.NoError(t, err, "the stalled stream still holds the worker")
	require.NotNil(t, res)

	// The handler itself waits in Send until the client goes away, as grpc's does.
	cancel()
	select {
	case err := <-handlerDone:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("SimulateStream did not return after its context ended")
	}
}

func TestGRPCValidate(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)

	in := &pb.ValidateRequest{Seed: gptr[int32](5), Epochs: gptr[int32](1), GridSize: gptr[int32](16), BatchSize: gptr[int32](2), Steps: gptr[int32](8), TuringEnabled: gptr(false), QuantumJitter: gptr(true)}
	got, err := env.client.Validate(ctx, in)
	require.NoError(t, err)
	res, err := env.pool.Do(ctx, jobs.ValidateRequest{Seed: 5, Epochs: 1, GridSize: 16, BatchSize: 2, Steps: 8, TuringEnabled: false, QuantumJitter: true})
	require.NoError(t, err)
	want := res.(jobs.ValidateResult)
	requireGRPCValidateEqual(t, want, got)
}

func TestGRPCValidateDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a full-size validation cycle (64×64, 64 steps)")
	}
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)
	got, err := env.client.Validate(ctx, &pb.ValidateRequest{})
	require.NoError(t, err)
	res, err := env.pool.Do(ctx, jobs.DefaultValidateRequest())
	require.NoError(t, err)
	requireGRPCValidateEqual(t, res.(jobs.ValidateResult), got)
}

func requireGRPCValidateEqual(t *testing.T, want jobs.ValidateResult, got *pb.ValidateResponse) {
	t.Helper()
	require.Equal(t, want.LossStart, got.GetLossStart())
	require.Equal(t, want.LossFinal, got.GetLossFinal())
	require.Equal(t, want.LossDrop, got.GetLossDrop())
	require.Equal(t, want.PotMinMV, got.GetPotMinMV())
	require.Equal(t, want.PotMaxMV, got.GetPotMaxMV())
	require.Equal(t, want.LyapunovExponent, got.GetLyapunovExponent())
	require.Equal(t, want.NernstSymbolicMV, got.GetNernstSymbolicMV())
	require.Equal(t, want.ExampleFractalDim, got.GetExampleFractalDim())
	require.Equal(t, want.GrowthEvents, got.GetGrowthEvents())
	require.Equal(t, want.NernstNumericMV, got.GetNernstNumericMV())
}

func TestGRPCAggregateFederated(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)

	grads := [][]float64{{1, 2, 3}, {1.1, 2.1, 2.9}, {0.9, 1.8, 3.2}, {50, -40, 70}, {1, 2.2, 3.1}}
	in := &pb.FederatedAggregateRequest{NumClusters: gptr[int32](2), ByzantineFraction: gptr(0.0)}
	for _, g := range grads {
		in.Gradients = append(in.Gradients, &pb.Gradient{Values: g})
	}
	got, err := env.client.AggregateFederated(ctx, in)
	require.NoError(t, err)
	res, err := env.pool.Do(ctx, jobs.FederatedRequest{Gradients: grads, NumClusters: 2, ByzantineFraction: 0})
	require.NoError(t, err)
	want := res.(jobs.FederatedResult)
	require.Equal(t, want.AggregatedGradient, got.GetAggregatedGradient())
	require.Equal(t, int32(len(grads)), got.GetNumAccepted())
	require.Equal(t, int32(0), got.GetNumRejected())
	require.Equal(t, int32(len(grads)), got.GetNumInputGradients())

	// Unset num_clusters / byzantine_fraction are REST's 10 / 0.2.
	in.NumClusters, in.ByzantineFraction = nil, nil
	got, err = env.client.AggregateFederated(ctx, in)
	require.NoError(t, err)
	def := jobs.DefaultFederatedRequest()
	def.Gradients = grads
	res, err = env.pool.Do(ctx, def)
	require.NoError(t, err)
	require.Equal(t, res.(jobs.FederatedResult).AggregatedGradient, got.GetAggregatedGradient())
}

func TestGRPCInvalidArgument(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)
	simulate := func(in *pb.SimulateRequest) error { _, err := env.client.Simulate(ctx, in); return err }
	stream := func(in *pb.SimulateRequest) error {
		s, err := env.client.SimulateStream(ctx, in)
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	nernst := func(in *pb.NernstRequest) error { _, err := env.client.ComputeNernst(ctx, in); return err }
	fed := func(in *pb.FederatedAggregateRequest) error {
		_, err := env.client.AggregateFederated(ctx, in)
		return err
	}
	validate := func(in *pb.ValidateRequest) error { _, err := env.client.Validate(ctx, in); return err }

	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"grid too small", func() error { return simulate(&pb.SimulateRequest{GridSize: gptr[int32](4)}) }, "grid_size"},
		{"negative seed", func() error { return simulate(&pb.SimulateRequest{Seed: gptr[int32](-1)}) }, "seed"},
		{"explicit zero steps", func() error { return simulate(&pb.SimulateRequest{Steps: gptr[int32](0)}) }, "steps"},
		{"alpha above 1", func() error { return simulate(&pb.SimulateRequest{Alpha: gptr(1.5)}) }, "alpha"},
		{"spike probability", func() error { return simulate(&pb.SimulateRequest{SpikeProbability: gptr(-0.1)}) }, "spike_probability"},
		{"stream steps", func() error { return stream(&pb.SimulateRequest{Steps: gptr[int32](1001)}) }, "steps"},
		{"valence zero", func() error {
			return nernst(&pb.NernstRequest{ZValence: gptr[int32](0), ConcentrationOutMolar: gptr(1.0), ConcentrationInMolar: gptr(1.0)})
		}, "z_valence"},
		{"missing concentration", func() error { return nernst(&pb.NernstRequest{ConcentrationOutMolar: gptr(1.0)}) }, "concentration_in_molar"},
		{"zero temperature", func() error {
			return nernst(&pb.NernstRequest{ConcentrationOutMolar: gptr(1.0), ConcentrationInMolar: gptr(1.0), TemperatureK: gptr(0.0)})
		}, "temperature_k"},
		{"no gradients", func() error { return fed(&pb.FederatedAggregateRequest{}) }, "gradients"},
		{"byzantine half", func() error {
			return fed(&pb.FederatedAggregateRequest{Gradients: []*pb.Gradient{{Values: []float64{1}}}, ByzantineFraction: gptr(0.5)})
		}, "byzantine_fraction"},
		{"ragged", func() error {
			return fed(&pb.FederatedAggregateRequest{Gradients: []*pb.Gradient{{Values: []float64{1}}, {Values: []float64{1, 2}}}})
		}, "gradients"},
		{"epochs zero", func() error { return validate(&pb.ValidateRequest{Epochs: gptr[int32](0)}) }, "epochs"},
		{"batch too big", func() error { return validate(&pb.ValidateRequest{BatchSize: gptr[int32](65)}) }, "batch_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := requireGRPCCode(t, tt.call(), codes.InvalidArgument)
			require.Contains(t, st.Message(), tt.field)
		})
	}
}

func TestGRPCAuth(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{auth: grpcTestAuth{required: true, keys: []string{"key-one", "key-two"}}})
	ctx := grpcTestCtx(t)
	nernstIn := &pb.NernstRequest{ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3)}

	tests := []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"missing", ctx, codes.Unauthenticated},
		{"empty", grpcWithKey(ctx, ""), codes.Unauthenticated},
		{"wrong", grpcWithKey(ctx, "key-three"), codes.Unauthenticated},
		{"right", grpcWithKey(ctx, "key-one"), codes.OK},
		{"second key", grpcWithKey(ctx, "key-two"), codes.OK},
		{"last value wins", grpcWithKey(grpcWithKey(ctx, "wrong"), "key-two"), codes.OK},
		{"last value wrong", grpcWithKey(grpcWithKey(ctx, "key-one"), "wrong"), codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.client.ComputeNernst(tt.ctx, nernstIn)
			if tt.want == codes.OK {
				require.NoError(t, err)
				return
			}
			st := requireGRPCCode(t, err, tt.want)
			require.Equal(t, "Invalid or missing API key", st.Message())
		})
	}

	t.Run("stream", func(t *testing.T) {
		s, err := env.client.SimulateStream(ctx, &pb.SimulateRequest{GridSize: gptr[int32](8), Steps: gptr[int32](2)})
		require.NoError(t, err)
		_, err = s.Recv()
		requireGRPCCode(t, err, codes.Unauthenticated)

		s, err = env.client.SimulateStream(grpcWithKey(ctx, "key-one"), &pb.SimulateRequest{GridSize: gptr[int32](8), Steps: gptr[int32](2)})
		require.NoError(t, err)
		_, err = s.Recv()
		require.NoError(t, err)
	})
	t.Run("every protected rpc", func(t *testing.T) {
		_, err := env.client.Validate(ctx, &pb.ValidateRequest{})
		requireGRPCCode(t, err, codes.Unauthenticated)
		_, err = env.client.Simulate(ctx, &pb.SimulateRequest{})
		requireGRPCCode(t, err, codes.Unauthenticated)
		_, err = env.client.AggregateFederated(ctx, &pb.FederatedAggregateRequest{})
		requireGRPCCode(t, err, codes.Unauthenticated)
	})
	t.Run("fails closed without keys", func(t *testing.T) {
		closed := startGRPC(t, grpcEnvOpts{auth: grpcTestAuth{required: true}})
		_, err := closed.client.ComputeNernst(grpcWithKey(ctx, ""), nernstIn)
		requireGRPCCode(t, err, codes.Unauthenticated)
		_, err = closed.client.HealthCheck(ctx, &pb.HealthCheckRequest{})
		require.NoError(t, err)
	})
	t.Run("not required", func(t *testing.T) {
		open := startGRPC(t, grpcEnvOpts{auth: grpcTestAuth{required: false, keys: []string{"key-one"}}})
		_, err := open.client.ComputeNernst(ctx, nernstIn)
		require.NoError(t, err)
	})
	require.Equal(t, 3.0, env.count(t, "/mycelium.MyceliumService/ComputeNernst", "OK"))
	require.Equal(t, 4.0, env.count(t, "/mycelium.MyceliumService/ComputeNernst", "Unauthenticated"))
}

func TestGRPCRateLimit(t *testing.T) {
	lim := &grpcTestLimiter{n: 2}
	env := startGRPC(t, grpcEnvOpts{auth: grpcTestAuth{required: true, keys: []string{"good"}}, limit: lim})
	ctx := grpcTestCtx(t)
	in := &pb.NernstRequest{ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3)}

	for range 2 {
		_, err := env.client.ComputeNernst(grpcWithKey(ctx, "good"), in)
		require.NoError(t, err)
	}
	_, err := env.client.ComputeNernst(grpcWithKey(ctx, "good"), in)
	requireGRPCCode(t, err, codes.ResourceExhausted)

	// Bad keys share the peer's bucket, so guessing keys is throttled too.
	for _, key := range []string{"guess-1", "guess-2"} {
		_, err := env.client.ComputeNernst(grpcWithKey(ctx, key), in)
		requireGRPCCode(t, err, codes.Unauthenticated)
	}
	_, err = env.client.ComputeNernst(grpcWithKey(ctx, "guess-3"), in)
	requireGRPCCode(t, err, codes.ResourceExhausted)

	// Health is never limited.
	for range 5 {
		_, err := env.client.HealthCheck(ctx, &pb.HealthCheckRequest{})
		require.NoError(t, err)
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	require.Equal(t, map[string]int{"good": 3, "127.0.0.1": 3}, lim.seen)
}

// TestGRPCBusy fills the pool's one worker and one queue slot, then expects UNAVAILABLE.
func TestGRPCBusy(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{pool: jobs.PoolConfig{Workers: 1, QueueSize: 1}})
	ctx := grpcTestCtx(t)

	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // even when an assertion fails, or the pool could never drain
	started := make(chan struct{})
	var once sync.Once
	blocker := jobs.ObservedSimulation{SimulateRequest: jobs.SimulateRequest{Seed: 1, GridSize: 8, Steps: 2, Alpha: 0.18, ThresholdMV: -60}, Every: 1,
		Observe: func(jobs.Snapshot) bool { once.Do(func() { close(started) }); <-release; return true }}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _, _ = env.pool.Do(ctx, blocker) })
	<-started
	wg.Go(func() { _, _ = env.pool.Do(ctx, blocker) }) // takes the queue slot
	in := &pb.NernstRequest{ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3)}
	var busyErr error
	require.Eventually(t, func() bool {
		// A call that wins the queue slot before the second blocker times out; the
		// pool skips it, and the blocker then takes the slot.
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, busyErr = env.client.ComputeNernst(cctx, in)
		return status.Code(busyErr) == codes.Unavailable
	}, 10*time.Second, 5*time.Millisecond)
	// The pool's retry hint travels as RetryInfo, as REST's Retry-After.
	var info *errdetails.RetryInfo
	for _, d := range status.Convert(busyErr).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	require.NotNil(t, info, "UNAVAILABLE without RetryInfo: %v", busyErr)
	require.GreaterOrEqual(t, info.GetRetryDelay().AsDuration(), time.Second)
	unblock()
	wg.Wait()
	_, err := env.client.ComputeNernst(ctx, in)
	require.NoError(t, err)
}

// grpcFailingRunner turns the pool into a Runner that fails in ways the pool does not
// (a foreign error, a panic), to check the generic INTERNAL answer.
type grpcFailingRunner struct {
	Runner
	mode string
}

var errGRPCSecretDetail = errors.New("database password is hunter2")

func (f grpcFailingRunner) Do(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	switch f.mode {
	case "error":
		return nil, errGRPCSecretDetail
	case "panic":
		panic("boom")
	case "wrong result":
		return jobs.NernstResult{}, nil
	}
	return f.Runner.Do(ctx, req)
}

func TestGRPCInternal(t *testing.T) {
	for _, mode := range []string{"error", "panic", "wrong result"} {
		t.Run(mode, func(t *testing.T) {
			env := startGRPC(t, grpcEnvOpts{log: zap.NewNop(), wrap: func(r Runner) Runner { return grpcFailingRunner{Runner: r, mode: mode} }})
			ctx := grpcTestCtx(t)
			_, err := env.client.Simulate(ctx, &pb.SimulateRequest{GridSize: gptr[int32](8), Steps: gptr[int32](2)})
			st := requireGRPCCode(t, err, codes.Internal)
			require.Equal(t, "internal error", st.Message())
			// The server survives.
			_, err = env.client.HealthCheck(ctx, &pb.HealthCheckRequest{})
			require.NoError(t, err)
		})
	}
}

func TestGRPCRequestIDAndMetrics(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)

	var hdr metadata.MD
	_, err := env.client.HealthCheck(metadata.AppendToOutgoingContext(ctx, "x-request-id", "abc-123"), &pb.HealthCheckRequest{}, grpc.Header(&hdr))
	require.NoError(t, err)
	require.Equal(t, []string{"abc-123"}, hdr.Get("x-request-id"))

	hdr = nil
	_, err = env.client.HealthCheck(ctx, &pb.HealthCheckRequest{}, grpc.Header(&hdr))
	require.NoError(t, err)
	require.Len(t, hdr.Get("x-request-id"), 1)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), hdr.Get("x-request-id")[0])

	// An id that could inject into logs or headers is replaced.
	hdr = nil
	_, err = env.client.HealthCheck(metadata.AppendToOutgoingContext(ctx, "x-request-id", "bad id; with spaces"), &pb.HealthCheckRequest{}, grpc.Header(&hdr))
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), hdr.Get("x-request-id")[0])

	// Errors carry it too (headers of a trailers-only response).
	hdr = nil
	_, err = env.client.Simulate(metadata.AppendToOutgoingContext(ctx, "x-request-id", "req-9"), &pb.SimulateRequest{GridSize: gptr[int32](1)}, grpc.Header(&hdr))
	requireGRPCCode(t, err, codes.InvalidArgument)
	require.Equal(t, []string{"req-9"}, hdr.Get("x-request-id"))

	// Streams send it in their header.
	s, err := env.client.SimulateStream(metadata.AppendToOutgoingContext(ctx, "x-request-id", "stream-1"), &pb.SimulateRequest{GridSize: gptr[int32](8), Steps: gptr[int32](1)})
	require.NoError(t, err)
	h, err := s.Header()
	require.NoError(t, err)
	require.Equal(t, []string{"stream-1"}, h.Get("x-request-id"))
	for {
		if _, err := s.Recv(); err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
	}

	require.Equal(t, 3.0, env.count(t, "/mycelium.MyceliumService/HealthCheck", "OK"))
	require.Equal(t, 1.0, env.count(t, "/mycelium.MyceliumService/Simulate", "InvalidArgument"))
	require.Eventually(t, func() bool {
		return env.count(t, "/mycelium.MyceliumService/SimulateStream", "OK") == 1
	}, 5*time.Second, 5*time.Millisecond)
	n, err := testutil.GatherAndCount(env.reg, "mfn_grpc_request_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 3, n) // HealthCheck, Simulate, SimulateStream
}

// count reads mfn_grpc_requests_total{method,code} from the env's private registry (0 if absent).
func (e *grpcEnv) count(t *testing.T, method, code string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Errorf("gather: %v", err)
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "mfn_grpc_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestGRPCMetricsOnGivenRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	pool, err := jobs.NewPool(jobs.PoolConfig{Workers: 1, QueueSize: 1}, nil)
	require.NoError(t, err)
	_, _, err = New(DefaultConfig(), pool, nil, nil, nil, reg)
	require.NoError(t, err)
	// A second server on the same registry is a configuration error, not a panic.
	_, _, err = New(DefaultConfig(), pool, nil, nil, nil, reg)
	require.ErrorContains(t, err, "register grpc metrics")
	_, _, err = New(Config{}, pool, nil, nil, nil, nil)
	require.ErrorContains(t, err, "grpc.max_recv_bytes")
}

// BenchmarkLoadGRPCNernst drives ComputeNernst over a real loopback listener from
// parallel clients sharing a few connections, with auth and the interceptor chain on,
// and reports throughput (req/s) and the 99th-percentile latency.
func BenchmarkLoadGRPCNernst(b *testing.B) {
	env := startGRPC(b, grpcEnvOpts{
		pool: jobs.PoolConfig{QueueSize: 4096},
		auth: grpcTestAuth{required: true, keys: []string{"bench-key"}},
	})
	const conns = 4
	clients := []pb.MyceliumServiceClient{env.client}
	for len(clients) < conns {
		conn, err := grpc.NewClient(env.conn.Target(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(b, err)
		b.Cleanup(func() { _ = conn.Close() })
		clients = append(clients, pb.NewMyceliumServiceClient(conn))
	}
	ctx := grpcWithKey(context.Background(), "bench-key")
	in := &pb.NernstRequest{ZValence: gptr[int32](1), ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3), TemperatureK: gptr(310.0)}
	for _, c := range clients { // connect outside the timed region
		_, err := c.ComputeNernst(ctx, in)
		require.NoError(b, err)
	}

	var (
		mu     sync.Mutex
		lat    []time.Duration
		next   atomic.Int64
		failed atomic.Int64
	)
	b.SetParallelism(16) // 16 × GOMAXPROCS in-flight calls
	b.ResetTimer()
	cpu0 := loadtest.ProcessCPU()
	start := time.Now()
	b.RunParallel(func(p *testing.PB) {
		c := clients[next.Add(1)%conns]
		local := make([]time.Duration, 0, 1024)
		for p.Next() {
			t0 := time.Now()
			if _, err := c.ComputeNernst(ctx, in); err != nil {
				failed.Add(1)
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	cpu := loadtest.ProcessCPU() - cpu0
	b.StopTimer()
	require.Zero(b, failed.Load(), "calls failed")
	loadtest.Report(b, lat, elapsed, cpu)
}

func TestGRPCLogLine(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	env := startGRPC(t, grpcEnvOpts{log: zap.New(core), wrap: func(r Runner) Runner { return grpcFailingRunner{Runner: r, mode: "error"} }})
	ctx := metadata.AppendToOutgoingContext(grpcTestCtx(t), "x-request-id", "log-1")

	_, err := env.client.Simulate(ctx, &pb.SimulateRequest{})
	requireGRPCCode(t, err, codes.Internal)
	require.NotContains(t, status.Convert(err).Message(), "hunter2")

	entries := logs.FilterField(zap.String("request_id", "log-1")).All()
	require.Len(t, entries, 1)
	e := entries[0]
	require.Equal(t, zap.ErrorLevel, e.Level)
	fields := e.ContextMap()
	require.Equal(t, "/mycelium.MyceliumService/Simulate", fields["method"])
	require.Equal(t, "Internal", fields["code"])
	require.Equal(t, "grpc", fields["component"])
	require.Contains(t, fields, "duration")
	require.Contains(t, fields["error"], "hunter2", "the cause is logged, not sent")
}

func TestGRPCKeepAliveConnectionAge(t *testing.T) {
	cfg := DefaultConfig()
	p := keepAlive(cfg)
	require.Zero(t, p.MaxConnectionAge, "0 keeps grpc's default: connections live forever")
	require.Zero(t, p.MaxConnectionAgeGrace)
	require.Equal(t, cfg.KeepaliveTime, p.Time)

	cfg.MaxConnectionAge = 5 * time.Minute
	p = keepAlive(cfg)
	require.Equal(t, 5*time.Minute, p.MaxConnectionAge)
	require.Equal(t, cfg.MaxConnectionAgeGrace, p.MaxConnectionAgeGrace)

	cfg.MaxConnectionAge = -time.Second
	require.ErrorContains(t, cfg.Validate(), "max_connection_age: -1s must be 0 (never) or positive")
}
