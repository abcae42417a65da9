package server

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"mfn/internal/loadtest"
	"mfn/jobs"
)

// Load benchmarks: the whole server (cmux, echo, every middleware with access logs and
// metrics on, the pool) on a loopback port, driven by parallel keep-alive HTTP/1.1
// clients. They report req/s and p50/p99 latency; scripts/loadbench.sh runs them.

// benchServer starts a production-configured server whose logs are JSON-encoded and
// discarded (the encoding is measured, the terminal is not).
func benchServer(b *testing.B) string {
	b.Helper()
	reg := prometheus.NewRegistry()
	pool, err := jobs.NewPool(jobs.DefaultPoolConfig(), reg)
	if err != nil {
		b.Fatal(err)
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	cfg := DefaultConfig()
	s, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(), Runner: pool, Log: log, Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Run(ctx) })
	srvCtx, srvCancel := context.WithCancel(context.Background())
	wg.Go(func() { _ = s.Serve(srvCtx, ln, nil) })
	b.Cleanup(func() { srvCancel(); cancel(); wg.Wait() })
	return ln.Addr().String()
}

// loadConns keeps 8 requests in flight: enough to saturate 2 cores (p50 stays at a few
// hundred µs) and within the default pool's 2 workers + 8 queued, so nothing is refused.
const loadConns = 8

func BenchmarkLoadRESTNernst(b *testing.B) {
	addr := benchServer(b)
	runLoad(b, addr, "/nernst", `{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`, loadConns)
}

func BenchmarkLoadRESTSimulate(b *testing.B) {
	addr := benchServer(b)
	runLoad(b, addr, "/simulate", `{}`, loadConns)
}

// runLoad sends b.N requests over conns connections and reports throughput, latency and
// the CPU of this process (server and client) per request.
func runLoad(b *testing.B, addr, path, body string, conns int) {
	loadtest.Measure(b, loadtest.HTTPLoad(b, addr, path, body, conns), map[string]loadtest.Meter{"cpu": loadtest.SelfCPU})
}
