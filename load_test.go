package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"mfn/config"
	"mfn/jobs"
	"mfn/server"
)

// An empty environment variable counts as unset everywhere (PITFALLS §7.3), including
// the MFN_<KEY> forms that take precedence over the reference's combined names, and
// values are trimmed as the reference's int() did.
func TestEnvEmptyMeansUnset(t *testing.T) {
	cfg, err := loadConfig("", envOf(map[string]string{
		"MFN_SERVER_AUTH_KEYS": "", "MFN_API_KEY": "k1", "MFN_API_KEY_REQUIRED": "true",
		"MFN_SERVER_GRPC_ADDR": "", "MFN_GRPC_PORT": "50052",
		"MFN_RATE_LIMIT_REQUESTS": " 7 ", "MFN_RATE_LIMIT_ENABLED": " yes ",
	}))
	require.NoError(t, err)
	require.Equal(t, []string{"k1"}, cfg.Server.Auth.Keys)
	require.True(t, cfg.Server.Auth.Required)
	require.Equal(t, "0.0.0.0:50052", cfg.Server.GRPCAddr)
	require.Equal(t, 7, cfg.Server.RateLimit.Requests)
	require.True(t, cfg.Server.RateLimit.Enabled)
}

// mixConns and mixSources: the load, 1000 concurrent keep-alive connections,
// spread over eight loopback source addresses (127.0.0.2-9) so that a per-address
// connection share of a few hundred does not refuse them.
const (
	mixConns   = 1000
	mixSources = 8
)

// mixRequests is the realistic mix, cycled per connection: mostly /health and /nernst,
// two small /simulate in eleven (32×32 with 32 steps, and the 64×64, 64-step defaults).
var mixRequests = []struct{ method, path, body string }{
	{"GET", "/health", ""},
	{"POST", "/nernst", `{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`},
	{"GET", "/health", ""},
	{"POST", "/nernst", `{"z_valence":2,"concentration_out_molar":0.002,"concentration_in_molar":0.0001,"temperature_k":310.0}`},
	{"POST", "/simulate", `{"grid_size":32,"steps":32,"seed":7}`},
	{"POST", "/simulate", `{}`}, // the defaults: 64×64, 64 steps (about 1 ms)
	{"GET", "/health", ""},
	{"POST", "/nernst", `{"z_valence":1,"concentration_out_molar":0.145,"concentration_in_molar":0.012,"temperature_k":310.0}`},
	{"GET", "/health", ""},
	{"POST", "/nernst", `{"z_valence":1,"concentration_out_molar":0.004,"concentration_in_molar":0.155,"temperature_k":300.0}`},
	{"POST", "/nernst", `{"z_valence":3,"concentration_out_molar":0.01,"concentration_in_molar":0.02,"temperature_k":310.0}`},
}

// mixServer serves the default dev configuration (pool defaults included) on a
// loopback port, as `mfn serve` would, with logs discarded.
func mixServer(b *testing.B) string {
	b.Helper()
	cfg, err := config.Default(config.EnvDev)
	require.NoError(b, err)
	reg := prometheus.NewRegistry()
	pool, err := jobs.NewPool(cfg.Pool, reg)
	require.NoError(b, err)
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	srv, err := server.New(server.Params{HTTP: cfg.Server.Config, GRPC: cfg.GRPC, WS: cfg.Server.WS, Runner: pool, Log: log, Registry: reg})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	srvCtx, srvCancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Run(ctx) })
	wg.Go(func() { _ = srv.Serve(srvCtx, ln, nil) })
	b.Cleanup(func() { srvCancel(); cancel(); wg.Wait() })
	return ln.Addr().String()
}

// mixConn is one keep-alive HTTP/1.1 connection with the mix's requests pre-encoded.
type mixConn struct {
	conn net.Conn
	r    *bufio.Reader
	reqs [][]byte
	next int
}

func dialMix(addr string, source int) (*mixConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+source%mixSources))}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	mc := &mixConn{conn: c, r: bufio.NewReaderSize(c, 16<<10), next: source % len(mixRequests)}
	for _, m := range mixRequests {
		req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n", m.method, m.path, addr)
		if m.body != "" {
			req += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(m.body))
		}
		mc.reqs = append(mc.reqs, []byte(req+"\r\n"+m.body))
	}
	return mc, nil
}

// do sends the connection's next request and reads the whole response.
func (c *mixConn) do() (int, error) {
	req := c.reqs[c.next]
	c.next = (c.next + 1) % len(c.reqs)
	if _, err := c.conn.Write(req); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, err
}

// BenchmarkLoadMixed1000 is the load: 1000 concurrent connections of the mix
// against the default configuration. It reports req/s, p50/p99 latency and the share
// of answers that were not 200 (errors) and of those that were 503 (busy); the goal is
// 0 %. Run with a fixed count, e.g. -benchtime 40000x (scripts/loadbench.sh).
func BenchmarkLoadMixed1000(b *testing.B) {
	addr := mixServer(b)
	conns := make([]*mixConn, mixConns)
	for i := range conns {
		c, err := dialMix(addr, i)
		require.NoError(b, err)
		defer c.conn.Close()
		conns[i] = c
	}
	lat := make([][]time.Duration, len(conns))
	var next, failed, busy atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			l := make([]time.Duration, 0, b.N/len(conns)+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				st, err := c.do()
				l = append(l, time.Since(t0))
				if st == http.StatusServiceUnavailable {
					busy.Add(1)
				}
				if err != nil || st != http.StatusOK {
					failed.Add(1)
					if err != nil {
						break
					}
				}
			}
			lat[i] = l
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99_ms")
	}
	b.ReportMetric(100*float64(failed.Load())/float64(b.N), "err_%")
	b.ReportMetric(100*float64(busy.Load())/float64(b.N), "503_%")
}
