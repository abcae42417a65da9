package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"mfn/jobs"
	"mfn/server/internal/loadtest"
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

// loadClient is one keep-alive connection sending the same request.
type loadClient struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
}

func newLoadClient(addr, path, body string) (*loadClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, addr, len(body), body)
	return &loadClient{conn: c, r: bufio.NewReaderSize(c, 16<<10), req: []byte(req)}, nil
}

var contentLength = []byte("content-length:")

// do sends one request and reads the whole response; it returns the status code.
func (c *loadClient) do() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	n := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > len(contentLength) && bytes.EqualFold(h[:len(contentLength)], contentLength) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(h[len(contentLength):])))
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("no content-length")
	}
	_, err = c.r.Discard(n)
	return status, err
}

// runLoad sends b.N requests over conns connections and reports throughput and latency.
func runLoad(b *testing.B, addr, path, body string, conns int) {
	clients := make([]*loadClient, conns)
	for i := range clients {
		c, err := newLoadClient(addr, path, body)
		if err != nil {
			b.Fatal(err)
		}
		defer c.conn.Close()
		if st, err := c.do(); err != nil || st != 200 { // warm the connection and check the answer
			b.Fatalf("warm-up: status %d, %v", st, err)
		}
		clients[i] = c
	}
	lat := make([][]time.Duration, conns)
	var next atomic.Int64
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := loadtest.ProcessCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			l := make([]time.Duration, 0, b.N/conns+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				st, err := c.do()
				l = append(l, time.Since(t0))
				if err != nil || st != 200 {
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
	cpu := loadtest.ProcessCPU() - cpu0
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d requests failed", f)
	}
	loadtest.Report(b, slices.Concat(lat...), elapsed, cpu)
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
