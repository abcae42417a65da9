package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "mfn/proto"
)

// Bounds of the memory-cap test. The address-space cap is what makes an oversized
// allocation fatal (as a container limit would): the Go runtime reserves some virtual
// memory beyond what it touches, so it sits well above the RSS bound the test asserts.
const (
	hostileAddressSpaceKiB = 3 << 20   // ulimit -v: 3 GiB
	hostileMaxRSS          = 768 << 20 // VmHWM bound after the worst request of every endpoint
	// hostileMemoryLimit is pool.memory_limit_bytes (GOMEMLIMIT), as a 1 GiB container
	// limit would set it; the job memory budget is half of it.
	hostileMemoryLimit = 900 << 20
)

// TestHostileMemory runs the real binary under an address-space cap and sends the worst
// request of each endpoint: the largest simulation and validation, the 2,000,000-
// gradient federated body (8 MB, within max_body_bytes), the largest legal federated
// job, Nernst, and the ~4 MB gRPC AggregateFederated. The process must survive, answer
// /health throughout and the next request after, and keep its peak RSS under
// hostileMaxRSS. MFN_HOSTILE_BIN runs it against another build (e.g. before a change).
func TestHostileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it under a memory cap for ~10 s")
	}
	bin := os.Getenv("MFN_HOSTILE_BIN")
	// This build takes the limit from its config; another build (which may not know the
	// key) from GOMEMLIMIT.
	poolCfg, goMemLimit := fmt.Sprintf("pool:\n  memory_limit_bytes: %d\n", hostileMemoryLimit), ""
	if bin == "" {
		bin = mfnBinary(t)
	} else {
		poolCfg, goMemLimit = "", strconv.Itoa(hostileMemoryLimit)
	}
	addr := freePort(t)
	cfgPath := filepath.Join(t.TempDir(), "mfn.yaml")
	// request_timeout bounds the legal-but-long jobs (the largest validation takes
	// minutes), so the test also shows that a timed-out job frees its worker; the memory
	// limit is what a 1 GiB container would get.
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(
		"env: dev\nserver:\n  addr: %s\n  request_timeout: 2s\n%slog:\n  level: WARNING\n", addr, poolCfg)), 0o600))

	cmd := exec.Command("sh", "-c", `ulimit -v "$1" && shift && exec "$@"`, "sh",
		strconv.Itoa(hostileAddressSpaceKiB), bin, "serve", "--config", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+goMemLimit) // never the caller's
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", tail(logs.String(), 4000))
			if i := strings.Index(logs.String(), "fatal error"); i >= 0 {
				t.Logf("%s", logs.String()[i:min(i+200, logs.Len())])
			}
		}
	})

	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second}
	require.Eventually(t, func() bool {
		res, err := client.Get(base + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 15*time.Second, 20*time.Millisecond, "server did not start")

	// /health is polled throughout on its own connection; every answer must come.
	stopPoll := make(chan struct{})
	var poll sync.WaitGroup
	var maxHealth time.Duration
	var healthErr error
	poll.Go(func() {
		hc := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(100 * time.Millisecond):
			}
			t0 := time.Now()
			res, err := hc.Get(base + "/health")
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					err = fmt.Errorf("status %d", res.StatusCode)
				}
			}
			if err != nil {
				healthErr = errors.Join(healthErr, err)
			}
			maxHealth = max(maxHealth, time.Since(t0))
		}
	})

	post := func(path string, body []byte, want ...int) {
		t.Helper()
		t0 := time.Now()
		res, err := client.Post(base+path, "application/json", bytes.NewReader(body))
		require.NoError(t, err, "%s: the process must answer", path)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Contains(t, want, res.StatusCode, "%s: %s", path, tail(string(b), 300))
		t.Logf("%s (%d KiB): %d in %v", path, len(body)>>10, res.StatusCode, time.Since(t0).Round(time.Millisecond))
	}
	post("/simulate", []byte(`{"grid_size":256,"steps":1000}`), 200, 504)
	post("/validate", []byte(`{"epochs":100,"batch_size":1,"grid_size":256,"steps":1000}`), 200, 504)
	post("/federated/aggregate", gradientsBody(2_000_000, 1, "0"), 422)
	post("/federated/aggregate", gradientsBody(50_000, 80, "1"), 200, 504)
	post("/nernst", []byte(`{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`), 200)

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	in := &pb.FederatedAggregateRequest{Gradients: make([]*pb.Gradient, 349_000)}
	for i := range in.Gradients {
		in.Gradients[i] = &pb.Gradient{Values: []float64{float64(i % 7)}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = pb.NewMyceliumServiceClient(conn).AggregateFederated(ctx, in)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "gRPC 4 MB federated: %v", err)

	// Still alive: the next request is served.
	post("/nernst", []byte(`{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`), 200)
	close(stopPoll)
	poll.Wait()
	require.NoError(t, healthErr, "/health failed while the attacks ran")

	rss := vmHWM(t, cmd.Process.Pid)
	t.Logf("peak RSS (VmHWM) %d MiB; slowest /health %v", rss>>20, maxHealth.Round(time.Millisecond))
	require.Less(t, rss, int64(hostileMaxRSS), "peak RSS")
	select {
	case err := <-exited:
		t.Fatalf("server exited: %v", err)
	default:
	}
}

// gradientsBody is {"gradients": n vectors of dim copies of v, "num_clusters": 1}.
func gradientsBody(n, dim int, v string) []byte {
	var b bytes.Buffer
	b.Grow(n * (dim*(len(v)+1) + 2))
	b.WriteString(`{"num_clusters":1,"gradients":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for j := range dim {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(v)
		}
		b.WriteByte(']')
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// vmHWM is the peak resident set size of a process, from /proc/<pid>/status.
func vmHWM(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kib << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// memoryLimit: GOMEMLIMIT wins, then the config, then 90 % of the cgroup limit (v2,
// then v1); "max" or an unreadable file means none.
func TestMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		configured int64
		files      map[string]string
		want       int64
		source     string
	}{
		{"env wins", map[string]string{"GOMEMLIMIT": "1GiB"}, 5 << 30, map[string]string{cgroupV2MemoryMax: "1000\n"}, 0, "GOMEMLIMIT"},
		{"config", nil, 5 << 30, map[string]string{cgroupV2MemoryMax: "1000\n"}, 5 << 30, "pool.memory_limit_bytes"},
		{"cgroup v2", nil, 0, map[string]string{cgroupV2MemoryMax: "1073741824\n"}, 1073741824 / 10 * 9, cgroupV2MemoryMax},
		{"cgroup v2 max", nil, 0, map[string]string{cgroupV2MemoryMax: "max\n"}, 0, "none"},
		{"cgroup v1", nil, 0, map[string]string{cgroupV1MemoryMax: "2147483648\n"}, 2147483648 / 10 * 9, cgroupV1MemoryMax},
		{"cgroup v1 unlimited", nil, 0, map[string]string{cgroupV1MemoryMax: "9223372036854771712\n"}, 0, "none"},
		{"empty env is unset", map[string]string{"GOMEMLIMIT": " "}, 0, nil, 0, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, source := memoryLimit(tc.configured, envOf(tc.env), files(tc.files))
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.source, source)
		})
	}
}
