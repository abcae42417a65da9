package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"mfn/jobs"
	"mfn/server"
)

// dockerfile is what the runtime stage of the Dockerfile tells docker to do.
type dockerfile struct {
	entrypoint, cmd, healthcheck []string
	env                          map[string]string
	copies                       map[string]string // destination -> source, runtime stage
	expose                       []string
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	d := dockerfile{env: map[string]string{}, copies: map[string]string{}}
	execForm := func(s string) []string {
		var out []string
		require.NoError(t, json.Unmarshal([]byte(s), &out), "exec form expected: %s", s)
		return out
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one is the image
			d = dockerfile{env: map[string]string{}, copies: map[string]string{}}
		case "ENTRYPOINT":
			d.entrypoint = execForm(rest)
		case "CMD":
			d.cmd = execForm(rest)
		case "HEALTHCHECK":
			_, after, ok := strings.Cut(rest, "CMD ")
			require.True(t, ok, "HEALTHCHECK without CMD")
			d.healthcheck = execForm(after)
		case "ENV":
			k, v, _ := strings.Cut(rest, "=")
			d.env[k] = v
		case "COPY":
			fields := strings.Fields(rest)
			if !strings.HasPrefix(fields[0], "--from") {
				d.copies[fields[len(fields)-1]] = fields[0]
			}
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		}
	}
	require.NoError(t, sc.Err())
	return d
}

// TestDockerImageCommand builds the binary and runs it exactly as the image does (entrypoint,
// default command, config path, healthcheck), then checks what k8s.yaml probes on that port.
func TestDockerImageCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	d := parseDockerfile(t, "Dockerfile")
	require.Equal(t, []string{"/mfn"}, d.entrypoint)
	require.Equal(t, []string{"serve"}, d.cmd)
	require.Equal(t, []string{"8000"}, d.expose)
	cfgPath := d.env["MFN_CONFIG"]
	require.NotEmpty(t, cfgPath, "the image sets MFN_CONFIG")
	src, ok := d.copies[cfgPath]
	require.True(t, ok, "the image copies a config to MFN_CONFIG (%s)", cfgPath)
	require.Equal(t, "mfn.yaml", src)

	bin := mfnBinary(t)

	// The image's file system: the example config at the documented path. Only the port
	// moves, so that the test never collides with a server on :8000.
	addr := freePort(t)
	// The image's environment (MFN_ENV=prod: a key is required), a key as the README
	// passes it, and the example config where the image has it.
	env := os.Environ()
	for k, v := range d.env {
		env = append(env, k+"="+v)
	}
	require.Equal(t, "prod", d.env["MFN_ENV"], "the image is secure by default")
	env = append(env, "MFN_CONFIG="+src, "MFN_SERVER_ADDR="+addr, "MFN_API_KEYS=image-test-key")
	command := func(argv []string) *exec.Cmd {
		require.Equal(t, "/mfn", argv[0])
		c := exec.Command(bin, argv[1:]...)
		c.Env = env
		return c
	}

	srv := command(append(d.entrypoint, d.cmd...))
	var logs strings.Builder
	srv.Stdout, srv.Stderr = &logs, &logs
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
	})

	base := "http://" + addr
	require.Eventually(t, func() bool {
		res, err := http.Get(base + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "server did not come up: %s", &logs)

	// HEALTHCHECK as docker runs it.
	hc := command(d.healthcheck)
	hcOut, err := hc.CombinedOutput()
	require.NoError(t, err, "healthcheck: %s", hcOut)

	// What k8s.yaml probes: liveness /health, readiness /ready, gRPC health, all on one port.
	for _, path := range []string{"/health", "/ready"} {
		res, err := http.Get(base + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, path)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hres, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, hres.Status)

	// docker stop / kubectl delete: SIGTERM, then a clean exit.
	require.NoError(t, srv.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit after SIGTERM: %s", &logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after SIGTERM: %s", &logs)
	}

	// Without a server the healthcheck fails, so docker would see the container unhealthy.
	hc = command(d.healthcheck)
	require.Error(t, hc.Run())
}

// TestK8sConfigMapAccepted loads the ConfigMap's mfn.yaml with the environment the
// Deployment gives it: accepted with a key from the Secret, refused (fail closed) without.
func TestK8sConfigMapAccepted(t *testing.T) {
	m := decodeManifest(t, "k8s.yaml")
	dep := m.deployments[0]
	c := dep.Spec.Template.Spec.Containers[0]
	path := filepath.Join(t.TempDir(), "mfn.yaml")
	require.NoError(t, os.WriteFile(path, []byte(m.configMaps[0].Data["mfn.yaml"]), 0o600))

	withEnv := func(extra map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			v, ok := extra[k]
			return v, ok
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.Value != "" {
			env[e.Name] = e.Value
		}
	}
	env["MFN_CONFIG"] = path

	_, err := loadConfig("", withEnv(env))
	require.Error(t, err, "prod with no API key must not start")
	require.Contains(t, err.Error(), "keys")

	// What the documented `kubectl patch secret` puts into the Secret.
	require.Contains(t, string(mustRead(t, "k8s.yaml")), `patch secret `+m.secrets[0].Name)
	env["MFN_API_KEYS"] = "a-key-from-the-secret"
	cfg, err := loadConfig("", withEnv(env))
	require.NoError(t, err)
	require.Equal(t, "prod", cfg.Env)
	require.True(t, cfg.Server.Auth.Required)

	_, port, err := net.SplitHostPort(cfg.Server.Addr)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(int(c.Ports[0].ContainerPort)), port, "mfn listens on the container port")
	require.Empty(t, cfg.Server.GRPCAddr, "gRPC shares the one port the probes use")

	// Behind ingress-nginx (a peer in trusted_proxies), each client has its own bucket,
	// and a client with a valid key has its own whatever its address.
	require.NotEmpty(t, cfg.Server.RateLimit.TrustedProxies)
	nginx, err := netip.ParsePrefix(cfg.Server.RateLimit.TrustedProxies[0])
	require.NoError(t, err)
	hc := cfg.Server.Config
	hc.RateLimit.Requests, hc.RateLimit.PerPath = 2, nil
	reg := prometheus.NewRegistry()
	pool, err := jobs.NewPool(cfg.Pool, reg)
	require.NoError(t, err)
	srv, err := server.New(server.Params{HTTP: hc, GRPC: cfg.GRPC, WS: cfg.Server.WS, Runner: pool, Registry: reg})
	require.NoError(t, err)
	get := func(client, key string) int {
		req := httptest.NewRequest(http.MethodGet, "/health", nil)
		req.RemoteAddr = netip.AddrPortFrom(nginx.Addr().Next(), 40000).String()
		req.Header.Set("X-Forwarded-For", client)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, []int{200, 200, 429}, []int{get("203.0.113.1", ""), get("203.0.113.1", ""), get("203.0.113.1", "")})
	require.Equal(t, 200, get("203.0.113.2", ""), "another client behind the same nginx pod")
	require.Equal(t, 200, get("203.0.113.1", "a-key-from-the-secret"), "a keyed client has its own bucket")

	// Every drain step plus the preStop pause must fit the termination grace period.
	grace := 3*cfg.Server.ShutdownGrace + time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second
	require.Less(t, grace, time.Duration(*dep.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second)
}
