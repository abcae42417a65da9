package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkRESTNernstTracing measures one POST /nernst through a whole mfn (cmux, echo,
// every middleware, the pool) with tracing off (the default: no exporter) and on at the
// default sampler (every trace recorded and exported over OTLP/gRPC to an in-process
// receiver). Sequential keep-alive requests: the per-request cost, not throughput.
//
//	go test -run '^$' -bench BenchmarkRESTNernstTracing -count 6 .
func BenchmarkRESTNernstTracing(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			recv := startReceiver(b)
			addr := freePort(b)
			cfg := fmt.Sprintf("server:\n  addr: %s\nlog:\n  level: ERROR\ntelemetry:\n  tracing:\n    enabled: %t\n    endpoint: http://%s\n", addr, on, recv.addr)
			path := filepath.Join(b.TempDir(), "mfn.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"serve", "--config", path}, envOf(nil), io.Discard, io.Discard) }()
			defer func() { cancel(); <-done }()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			const body = `{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`
			post := func() int {
				res, err := client.Post("http://"+addr+"/nernst", "application/json", strings.NewReader(body))
				if err != nil {
					return 0
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				return res.StatusCode
			}
			for deadline := time.Now().Add(10 * time.Second); post() != 200; {
				if time.Now().After(deadline) {
					b.Fatal("mfn did not start")
				}
				time.Sleep(20 * time.Millisecond) // polling a port that opens once
			}
			b.ReportAllocs()
			for b.Loop() {
				if code := post(); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
		})
	}
}
