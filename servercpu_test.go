package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"mfn/internal/loadtest"
)

// BenchmarkServerCPU runs the release binary (embedded defaults: access logs on, auth
// and rate limiting off, the default pool) as its own process and drives it from this
// one over loopback, so that the CPU the server spends per request is measured apart
// from the load generator's: server_cpu_us/req from /proc/<pid>/stat, client_cpu_us/req
// this process's. With both on one 2-core machine, req/s is what 2 cores give server
// and client together. Use a benchtime of seconds (the server's counter has 10 ms
// resolution), e.g. `-bench ServerCPU -benchtime 5s -count 5`. MFN_SERVERCPU_BIN runs it
// against another build (e.g. one from before a change) instead of this tree's.
func BenchmarkServerCPU(b *testing.B) {
	addr, pid := startServerProcess(b)
	server := map[string]loadtest.Meter{"server_cpu": loadtest.PIDCPU(pid), "client_cpu": loadtest.SelfCPU}

	b.Run("RESTNernst", func(b *testing.B) {
		loadtest.Measure(b, loadtest.HTTPLoad(b, addr, "/nernst",
			`{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`, 8), server)
	})
	b.Run("RESTSimulate", func(b *testing.B) {
		loadtest.Measure(b, loadtest.HTTPLoad(b, addr, "/simulate", `{}`, 8), server)
	})
	b.Run("GRPCNernst", func(b *testing.B) {
		loadtest.Measure(b, loadtest.GRPCNernst(b, addr, 4, 32), server)
	})
}

// startServerProcess starts the binary on a free loopback port with its output
// discarded and returns the address and the process id once /health answers.
func startServerProcess(b *testing.B) (addr string, pid int) {
	addr = freePort(b)
	cfg := filepath.Join(b.TempDir(), "mfn.yaml")
	require.NoError(b, os.WriteFile(cfg, []byte("server:\n  addr: "+addr+"\n"), 0o600))
	bin := os.Getenv("MFN_SERVERCPU_BIN")
	if bin == "" {
		bin = mfnBinary(b)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg) // #nosec G204 -- the test's own build, or one its runner names
	cmd.Env = append(os.Environ(), "MFN_CONFIG=")
	require.NoError(b, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return addr, cmd.Process.Pid
			}
		}
		select {
		case <-exited:
			b.Fatal("mfn exited before serving /health")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatal("mfn did not serve /health within 20 s")
		}
	}
}
