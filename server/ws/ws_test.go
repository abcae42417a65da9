package ws

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"mfn/internal/cfgerr"
	"mfn/internal/jobstest"
	"mfn/jobs"
	"mfn/sim"
)

// wsAuth is a small Authenticator for the WebSocket tests.
type wsAuth struct {
	required bool
	keys     []string
}

func (a wsAuth) Required() bool { return a.required }

func (a wsAuth) Valid(key string) bool {
	ok := 0
	for _, k := range a.keys {
		ok |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return ok == 1
}

const wsKey = "test-ws-key-12345"

// startWSPool runs a real jobs.Pool for the test.
func startWSPool(t testing.TB) *jobs.Pool {
	return jobstest.StartPool(t, jobs.PoolConfig{Workers: 2, QueueSize: 32})
}

// wsTestConfig is the default config with a quiet heartbeat (tests that need it shorten it).
func wsTestConfig() Config {
	cfg := DefaultConfig()
	cfg.HeartbeatInterval = time.Minute
	cfg.HeartbeatTimeout = 2 * time.Minute
	return cfg
}

type wsEnv struct {
	hub  *Hub
	srv  *httptest.Server
	pool *jobs.Pool
	reg  *prometheus.Registry
}

// startWS serves both endpoints on a real loopback listener.
func startWS(t *testing.T, cfg Config, auth Authenticator) *wsEnv {
	t.Helper()
	pool := startWSPool(t)
	reg := prometheus.NewRegistry()
	var a Authenticator
	if auth != nil {
		a = auth
	}
	h, err := NewHub(cfg, pool, a, zaptest.NewLogger(t), reg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/simulation_live", h.SimulationLive)
	mux.HandleFunc("/ws/stream_features", h.StreamFeatures)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Shutdown(ctx))
		srv.Close()
		require.Zero(t, h.connCount())
	})
	return &wsEnv{hub: h, srv: srv, pool: pool, reg: reg}
}

// wsClient reads every message on its own goroutine (coder/websocket needs a reader for
// control frames), so tests can wait with timeouts and check for silence.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	msgs   chan map[string]any
	raw    chan []byte
	closed chan struct{}
	err    error // the read error, valid after closed
}

func (e *wsEnv) dial(t *testing.T, path string) *wsClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	require.NoError(t, err)
	c.SetReadLimit(64 << 20)
	cl := &wsClient{t: t, c: c, msgs: make(chan map[string]any, 4096), raw: make(chan []byte, 4096), closed: make(chan struct{})}
	go func() {
		defer close(cl.closed)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				cl.err = err
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) != nil {
				m = map[string]any{"type": "<not json>"}
			}
			cl.raw <- data
			cl.msgs <- m
		}
	}()
	t.Cleanup(func() { _ = c.CloseNow() })
	return cl
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	require.NoError(c.t, err)
	c.sendRaw(websocket.MessageText, data)
}

func (c *wsClient) sendRaw(typ websocket.MessageType, data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(c.t, c.c.Write(ctx, typ, data))
}

// next returns the next message, failing after 10 s.
func (c *wsClient) next() map[string]any {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		<-c.raw
		return m
	case <-c.closed:
		select {
		case m := <-c.msgs:
			<-c.raw
			return m
		default:
		}
		c.t.Fatalf("connection closed while waiting for a message: %v", c.err)
	case <-time.After(10 * time.Second):
		c.t.Fatal("no message within 10s")
	}
	return nil
}

// expect returns the next message and checks its type.
func (c *wsClient) expect(typ string) map[string]any {
	c.t.Helper()
	m := c.next()
	require.Equal(c.t, typ, m["type"], "message: %v", m)
	return m
}

// silent checks that nothing arrives for d.
func (c *wsClient) silent(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("unexpected message %v", m)
	case <-time.After(d):
	}
}

// waitClosed waits for the server's close and returns its status code.
func (c *wsClient) waitClosed() websocket.StatusCode {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-c.msgs:
			<-c.raw
		case <-c.closed:
			return websocket.CloseStatus(c.err)
		case <-deadline:
			c.t.Fatal("connection not closed within 10s")
		}
	}
}

func nowMS() float64 { return float64(time.Now().UnixNano()) / 1e6 }

func (c *wsClient) auth(key string) {
	c.t.Helper()
	c.send(map[string]any{"type": "auth", "payload": map[string]any{"api_key": key, "timestamp": nowMS()}})
	c.expect("auth_success")
}

func (c *wsClient) subscribe(streamType, id string, params map[string]any) {
	c.t.Helper()
	c.send(map[string]any{"type": "subscribe", "payload": map[string]any{"stream_type": streamType, "stream_id": id, "params": params}})
	m := c.expect("subscribe_success")
	require.Equal(c.t, id, m["stream_id"])
}

func payloadOf(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	p, ok := m["payload"].(map[string]any)
	require.True(t, ok, "no payload in %v", m)
	return p
}

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestWSConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"connections", func(c *Config) { c.MaxConnections = 0 }, "max_connections"},
		{"message", func(c *Config) { c.MaxMessageBytes = 10 }, "max_message_bytes"},
		{"queue", func(c *Config) { c.QueueSize = 0 }, "queue_size"},
		{"strategy", func(c *Config) { c.Backpressure = "block" }, "backpressure"},
		{"heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }, "heartbeat_interval"},
		{"chunk", func(c *Config) { c.FeatureChunkSteps = 2000 }, "feature_chunk_steps"},
		{"run", func(c *Config) { c.FeatureRunSteps = 10 }, "feature_run_steps"},
		{"long run", func(c *Config) { c.FeatureRunSteps = 1001 }, "feature_run_steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			// The key is relative to the section; config and NewHub add "server.ws.".
			var ce *cfgerr.Error
			require.ErrorAs(t, cfg.Validate(), &ce)
			require.Equal(t, tt.want, ce.Key)
		})
	}
}

// §16 items 1, 2 and 4: the handshake with auth off.
func TestWSHandshake(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	c := e.dial(t, "/ws/stream_features")

	c.send(map[string]any{"type": "subscribe", "payload": "not an object"})
	m := c.expect("subscribe_failed")
	require.Equal(t, codeNotAuth, payloadOf(t, m)["error_code"])
	require.Equal(t, msgNotAuth, payloadOf(t, m)["message"])

	c.send(map[string]any{"type": "init", "payload": map[string]any{"protocol_version": "9.9", "client_info": "test"}})
	m = c.expect("init")
	require.IsType(t, float64(0), m["timestamp"])
	require.Equal(t, map[string]any{"protocol_version": "1.0"}, m["payload"])
	c.send(map[string]any{"type": "init"}) // repeatable, payload optional
	c.expect("init")
	c.send(map[string]any{"type": "init", "payload": map[string]any{"client_info": 5}})
	require.Equal(t, codeInitFailed, payloadOf(t, c.expect("error"))["error_code"])

	// A 10-minute-old timestamp fails even with auth off.
	c.send(map[string]any{"type": "auth", "payload": map[string]any{"api_key": "x", "timestamp": nowMS() - 600_000}})
	m = c.expect("auth_failed")
	require.IsType(t, float64(0), m["timestamp"])
	require.Equal(t, map[string]any{"error_code": codeAuthFailed, "message": msgAuthFailed}, m["payload"])

	c.send(map[string]any{"type": "auth", "payload": map[string]any{"timestamp": nowMS()}})
	m = c.expect("auth_failed")
	p := payloadOf(t, m)
	require.Equal(t, codeAuthError, p["error_code"])
	require.Contains(t, p["message"], "api_key")
	require.IsType(t, float64(0), p["timestamp"])

	// Any key, even empty, passes when auth is off; auth_success has no payload.
	c.send(map[string]any{"type": "auth", "payload": map[string]any{"api_key": "", "timestamp": nowMS()}})
	m = c.expect("auth_success")
	require.ElementsMatch(t, []string{"type", "timestamp"}, keysOf(m))

	// pong gets no reply.
	c.send(map[string]any{"type": "pong", "timestamp": nowMS()})
	c.silent(100 * time.Millisecond)

	// close: no message, close 1000.
	c.send(map[string]any{"type": "close"})
	require.Equal(t, websocket.StatusNormalClosure, c.waitClosed())
}

// §16 item 3: keys and the ±5 min window with an injected clock.
func TestWSAuthRequired(t *testing.T) {
	e := startWS(t, wsTestConfig(), wsAuth{required: true, keys: []string{"other", wsKey}})
	fixed := time.UnixMilli(1_733_400_000_000)
	e.hub.now = func() time.Time { return fixed }
	now := float64(fixed.UnixMilli())

	tests := []struct {
		name  string
		key   string
		stamp float64
		want  string
	}{
		{"right key", wsKey, now, "auth_success"},
		{"wrong key", "test-ws-key-12346", now, "auth_failed"},
		{"prefix of key", "test-ws-key", now, "auth_failed"},
		{"skew exactly 5 min past", wsKey, now - 300_000, "auth_success"},
		{"skew exactly 5 min future", wsKey, now + 300_000, "auth_success"},
		{"skew 300001 ms past", wsKey, now - 300_001, "auth_failed"},
		{"skew 300001 ms future", wsKey, now + 300_001, "auth_failed"},
		{"seconds instead of ms", wsKey, now / 1000, "auth_failed"},
	}
	c := e.dial(t, "/ws/simulation_live")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(map[string]any{"type": "auth", "payload": map[string]any{"api_key": tt.key, "timestamp": tt.stamp}})
			m := c.expect(tt.want)
			if tt.want == "auth_failed" {
				require.Equal(t, codeAuthFailed, payloadOf(t, m)["error_code"])
				// One flag per connection (§15 B18): a failed auth revokes an earlier success.
				c.send(map[string]any{"type": "subscribe", "payload": map[string]any{"stream_type": "simulation_live", "stream_id": "s"}})
				require.Equal(t, codeNotAuth, payloadOf(t, c.expect("subscribe_failed"))["error_code"])
			}
		})
	}
}

func TestWSTooManyAuthFailuresCloses(t *testing.T) {
	cfg := wsTestConfig()
	cfg.MaxAuthFailures = 2
	e := startWS(t, cfg, wsAuth{required: true, keys: []string{wsKey}})
	c := e.dial(t, "/ws/simulation_live")
	for range 2 {
		c.send(map[string]any{"type": "auth", "payload": map[string]any{"api_key": "bad", "timestamp": nowMS()}})
		c.expect("auth_failed")
	}
	require.Equal(t, codeTooManyAuthFails, payloadOf(t, c.expect("error"))["error_code"])
	require.Equal(t, websocket.StatusPolicyViolation, c.waitClosed())
}

func TestWSAuthTimeoutCloses(t *testing.T) {
	cfg := wsTestConfig()
	cfg.AuthTimeout = 150 * time.Millisecond
	e := startWS(t, cfg, nil)
	c := e.dial(t, "/ws/simulation_live")
	require.Equal(t, codeAuthTimeout, payloadOf(t, c.expect("error"))["error_code"])
	require.Equal(t, websocket.StatusPolicyViolation, c.waitClosed())
}

// §16 item 5 (plus our alpha fix, item 8).
func TestWSSubscribeValidation(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	tests := []struct {
		name    string
		path    string
		payload any
		field   string
	}{
		{"interval 5", "/ws/stream_features", map[string]any{"stream_type": "stream_features", "stream_id": "a", "params": map[string]any{"update_interval_ms": 5}}, "update_interval_ms"},
		{"interval 10001", "/ws/stream_features", map[string]any{"stream_type": "stream_features", "stream_id": "a", "params": map[string]any{"update_interval_ms": 10001}}, "update_interval_ms"},
		{"features not list", "/ws/stream_features", map[string]any{"stream_type": "stream_features", "stream_id": "a", "params": map[string]any{"features": "pot_mean_mV"}}, "features"},
		{"grid 7", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"grid_size": 7}}, "grid_size"},
		{"grid 257", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"grid_size": 257}}, "grid_size"},
		{"steps 0", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"steps": 0}}, "steps"},
		{"steps 1001", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"steps": 1001}}, "steps"},
		{"k 0", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"update_interval_steps": 0}}, "update_interval_steps"},
		{"k 101", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"update_interval_steps": 101}}, "update_interval_steps"},
		{"spike 1.1", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"spike_probability": 1.1}}, "spike_probability"},
		{"seed -1", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"seed": -1}}, "seed"},
		{"seed 1.5", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"seed": 1.5}}, "seed"},
		{"alpha 0.3", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"alpha": 0.3}}, "alpha"},
		{"alpha 0.01", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"alpha": 0.01}}, "alpha"},
		{"turing not bool", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": map[string]any{"turing_enabled": "maybe"}}, "turing_enabled"},
		{"stream_type foo", "/ws/simulation_live", map[string]any{"stream_type": "foo", "stream_id": "a"}, "stream_type"},
		{"missing stream_id", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live"}, "stream_id"},
		{"numeric stream_id", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": 5}, "stream_id"},
		{"params not object", "/ws/simulation_live", map[string]any{"stream_type": "simulation_live", "stream_id": "a", "params": 3}, "params"},
		{"payload null", "/ws/simulation_live", nil, "payload"},
	}
	clients := map[string]*wsClient{}
	for _, path := range []string{"/ws/stream_features", "/ws/simulation_live"} {
		clients[path] = e.dial(t, path)
		clients[path].auth("k")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clients[tt.path]
			c.t = t
			c.send(map[string]any{"type": "subscribe", "payload": tt.payload})
			p := payloadOf(t, c.expect("subscribe_failed"))
			require.Equal(t, codeSubscribeError, p["error_code"])
			require.Contains(t, p["message"], tt.field)
		})
	}
}

// Lax coercion (§2.1): numeric strings, exact-integer floats and bool strings work.
func TestWSSubscribeCoercion(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	c := e.dial(t, "/ws/simulation_live")
	c.auth("k")
	c.subscribe("simulation_live", "s", map[string]any{"seed": "7", "grid_size": 16.0, "steps": "4", "update_interval_steps": 2, "turing_enabled": "off"})
	var steps []float64
	for {
		m := c.next()
		if m["type"] == "simulation_complete" {
			break
		}
		require.Equal(t, "simulation_state", m["type"])
		steps = append(steps, payloadOf(t, m)["step"].(float64))
	}
	require.Equal(t, []float64{2, 4}, steps)
}

// §16 item 7 and the design rule "a stream's final numbers equal /simulate".
func TestWSSimulationLiveSequence(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	tests := []struct {
		name      string
		params    map[string]any
		req       func(*jobs.SimulateRequest)
		wantSteps []float64
	}{
		{"seed 42 grid 16 steps 5 k 1", map[string]any{"seed": 42, "grid_size": 16, "steps": 5, "update_interval_steps": 1},
			func(r *jobs.SimulateRequest) { r.Seed, r.GridSize, r.Steps = 42, 16, 5 }, []float64{1, 2, 3, 4, 5}},
		{"steps 10 k 3", map[string]any{"seed": 7, "grid_size": 32, "steps": 10, "update_interval_steps": 3},
			func(r *jobs.SimulateRequest) { r.Seed, r.GridSize, r.Steps = 7, 32, 10 }, []float64{3, 6, 9, 10}},
		{"defaults k 16", map[string]any{"update_interval_steps": 16}, func(*jobs.SimulateRequest) {}, []float64{16, 32, 48, 64}},
		{"spike 0.9 no turing", map[string]any{"seed": 3, "grid_size": 24, "steps": 30, "spike_probability": 0.9, "turing_enabled": false, "update_interval_steps": 10},
			func(r *jobs.SimulateRequest) {
				r.Seed, r.GridSize, r.Steps, r.SpikeProbability, r.TuringEnabled = 3, 24, 30, 0.9, false
			}, []float64{10, 20, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t, "/ws/simulation_live")
			c.auth("any")
			c.subscribe("simulation_live", "sim-1", tt.params)
			want := jobs.DefaultSimulateRequest()
			tt.req(&want)
			direct := jobstest.Simulate(t, e.pool, want)

			var steps []float64
			var lastGrowth float64
			for {
				m := c.next()
				p := payloadOf(t, m)
				require.Equal(t, "sim-1", p["stream_id"])
				if m["type"] == "simulation_complete" {
					require.Equal(t, m["timestamp"], p["timestamp"])
					fm := p["final_metrics"].(map[string]any)
					require.Len(t, fm, 6)
					require.Equal(t, float64(direct.GrowthEvents), fm["growth_events"])
					require.Equal(t, direct.PotMinMV, fm["pot_min_mV"])
					require.Equal(t, direct.PotMaxMV, fm["pot_max_mV"])
					require.Equal(t, direct.PotMeanMV, fm["pot_mean_mV"])
					require.Equal(t, direct.PotStdMV, fm["pot_std_mV"])
					require.Equal(t, direct.FractalDimension, fm["fractal_dimension"])
					require.Equal(t, lastGrowth, fm["growth_events"], "the last state's growth events are the final ones")
					break
				}
				require.Equal(t, "simulation_state", m["type"])
				require.Equal(t, float64(want.Steps), p["total_steps"])
				steps = append(steps, p["step"].(float64))
				st := p["state"].(map[string]any)
				require.ElementsMatch(t, []string{"pot_mean_mV", "pot_std_mV", "pot_min_mV", "pot_max_mV", "active_nodes"}, keysOf(st))
				require.Equal(t, float64(want.GridSize*want.GridSize), st["active_nodes"]) // |V| > 10 mV everywhere
				g := p["metrics"].(map[string]any)["growth_events"].(float64)
				require.GreaterOrEqual(t, g, lastGrowth)
				lastGrowth = g
			}
			require.Equal(t, tt.wantSteps, steps)
			require.Positive(t, lastGrowth+float64(want.Steps)) // sanity: the loop ran
			c.silent(50 * time.Millisecond)                     // exactly one simulation_complete
		})
	}
}

func TestWSSimulationLiveFullState(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	c := e.dial(t, "/ws/simulation_live")
	c.auth("k")
	c.subscribe("simulation_live", "full", map[string]any{"seed": 7, "grid_size": 16, "steps": 6, "update_interval_steps": 3, "include_full_state": true})
	var fields [][]any
	for {
		m := c.next()
		if m["type"] == "simulation_complete" {
			break
		}
		st := payloadOf(t, m)["state"].(map[string]any)
		require.Equal(t, []any{16.0, 16.0}, st["field_shape"])
		require.InDelta(t, st["pot_mean_mV"].(float64)/1000, st["field_mean"].(float64), 1e-12)
		f := st["field"].([]any)
		require.Len(t, f, 256)
		lo, hi := 1e9, -1e9
		for _, v := range f {
			lo, hi = min(lo, v.(float64)), max(hi, v.(float64))
		}
		require.InDelta(t, st["pot_min_mV"].(float64), lo, 0.006)
		require.InDelta(t, st["pot_max_mV"].(float64), hi, 0.006)
		fields = append(fields, f)
	}
	require.Len(t, fields, 2)
	require.NotEqual(t, fields[0], fields[1], "the field must advance between states")
}

// The design rule behind stream_features: one continuous run, in chunks of jobs.
func TestWSFeatureStream(t *testing.T) {
	cfg := wsTestConfig()
	cfg.FeatureChunkSteps = 4
	cfg.FeatureRunSteps = 10
	e := startWS(t, cfg, nil)

	// What the stream must show: features of steps 1..10 of seed 42 (64×64), then of 43, 44.
	var want [][9]float64
	for _, seed := range []int64{42, 43, 44} {
		req := jobs.DefaultSimulateRequest()
		req.Seed, req.Steps = seed, 10
		_, err := e.pool.Do(context.Background(), jobs.ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(s jobs.Snapshot) bool {
			want = append(want, featureValues(sim.StreamFeatures(s.Field, 64)))
			return true
		}})
		require.NoError(t, err)
	}

	// The first update is the reference's measured one (websocket-protocol.md §5:
	// seed 42, 64×64, one step), since sim is numpy-exact.
	require.Equal(t, -70.09690280347907, want[0][0])
	require.Equal(t, 2.3325371686968888, want[0][1])
	require.Equal(t, 20.14829163431422, want[0][7])

	c := e.dial(t, "/ws/stream_features")
	c.auth("k")
	start := time.Now()
	c.subscribe("simulation_live", "dash-1", map[string]any{"update_interval_ms": 10, "compression": false})
	for i := range 24 {
		m := c.expect("feature_update")
		p := payloadOf(t, m)
		require.Equal(t, "dash-1", p["stream_id"])
		require.Equal(t, float64(i), p["sequence"])
		f := p["features"].(map[string]any)
		require.Len(t, f, 9)
		for k, name := range featureOrder {
			require.Equal(t, want[i][k], f[name], "update %d feature %s", i, name)
		}
	}
	// 24 updates at ≥ 10 ms start to start.
	require.GreaterOrEqual(t, time.Since(start), 23*10*time.Millisecond)
	require.NotEqual(t, want[0], want[9], "the stream advances (B1 fixed)")
}

func TestWSFeatureFilter(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	tests := []struct {
		name     string
		features any
		want     []string
	}{
		{"two", []string{"pot_mean_mV", "fractal_dimension"}, []string{"pot_mean_mV", "fractal_dimension"}},
		{"empty list means all", []string{}, featureOrder[:]},
		{"null means all", nil, featureOrder[:]},
		{"unknown only", []string{"nope"}, []string{}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.dial(t, "/ws/stream_features")
			c.auth("k")
			id := "f" + string(rune('a'+i))
			c.subscribe("stream_features", id, map[string]any{"update_interval_ms": 10, "features": tt.features})
			for range 2 {
				f := payloadOf(t, c.expect("feature_update"))["features"].(map[string]any)
				require.ElementsMatch(t, tt.want, keysOf(f))
			}
			// Keys come in the documented order.
			raw := <-c.raw
			_ = raw
		})
	}
}

// §16 item 9: after the ack, nothing of that stream arrives.
func TestWSUnsubscribe(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	c := e.dial(t, "/ws/stream_features")
	c.auth("k")
	c.subscribe("stream_features", "u1", map[string]any{"update_interval_ms": 10})
	for range 3 {
		c.expect("feature_update")
	}
	c.send(map[string]any{"type": "unsubscribe", "payload": map[string]any{"stream_id": "u1"}})
	for {
		m := c.next()
		if m["type"] == "unsubscribe" {
			require.Equal(t, "u1", m["stream_id"])
			break
		}
		require.Equal(t, "feature_update", m["type"])
	}
	c.silent(150 * time.Millisecond)
	require.Zero(t, testutil.ToFloat64(e.hub.m.streams.WithLabelValues(epStreamFeatures)))

	// Unknown ids are acknowledged; a bad payload is answered, not ignored.
	c.send(map[string]any{"type": "unsubscribe", "payload": map[string]any{"stream_id": "never"}})
	require.Equal(t, "never", c.expect("unsubscribe")["stream_id"])
	c.send(map[string]any{"type": "unsubscribe", "payload": map[string]any{}})
	require.Equal(t, codeInvalidMessage, payloadOf(t, c.expect("error"))["error_code"])

	// The connection can subscribe again, and sequence restarts at 0.
	c.subscribe("stream_features", "u1", map[string]any{"update_interval_ms": 10})
	require.Equal(t, 0.0, payloadOf(t, c.expect("feature_update"))["sequence"])
}

// A second subscribe does not orphan the first: both run, each can be stopped, and
// closing the socket stops all (§15 B2).
func TestWSTwoSubscriptions(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	c := e.dial(t, "/ws/stream_features")
	c.auth("k")
	c.subscribe("stream_features", "a", map[string]any{"update_interval_ms": 10})
	c.send(map[string]any{"type": "subscribe", "payload": map[string]any{"stream_type": "stream_features", "stream_id": "b", "params": map[string]any{"update_interval_ms": 10}}})

	seen := map[string]int{}
	gotAck := false
	for !gotAck || seen["a"] < 3 || seen["b"] < 3 {
		m := c.next()
		switch m["type"] {
		case "subscribe_success":
			gotAck = true
		case "feature_update":
			seen[payloadOf(t, m)["stream_id"].(string)]++
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	require.Equal(t, 2.0, testutil.ToFloat64(e.hub.m.streams.WithLabelValues(epStreamFeatures)))

	// The same id twice is refused.
	c.send(map[string]any{"type": "subscribe", "payload": map[string]any{"stream_type": "stream_features", "stream_id": "a"}})
	for {
		m := c.next()
		if m["type"] == "subscribe_failed" {
			require.Equal(t, codeSubscribeFailed, payloadOf(t, m)["error_code"])
			require.Contains(t, payloadOf(t, m)["message"], codeAlreadySubscribed)
			break
		}
	}

	// Unsubscribing a leaves b running.
	c.send(map[string]any{"type": "unsubscribe", "payload": map[string]any{"stream_id": "a"}})
	for m := c.next(); m["type"] != "unsubscribe"; m = c.next() {
	}
	for range 3 {
		require.Equal(t, "b", payloadOf(t, c.expect("feature_update"))["stream_id"])
	}

	// Closing the socket stops b: no stream survives its connection.
	require.NoError(t, c.c.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(e.hub.m.streams.WithLabelValues(epStreamFeatures)) == 0 && e.hub.connCount() == 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestWSMaxSubscriptions(t *testing.T) {
	cfg := wsTestConfig()
	cfg.MaxSubscriptions = 1
	e := startWS(t, cfg, nil)
	c := e.dial(t, "/ws/stream_features")
	c.auth("k")
	c.subscribe("stream_features", "a", map[string]any{"update_interval_ms": 1000})
	c.send(map[string]any{"type": "subscribe", "payload": map[string]any{"stream_type": "stream_features", "stream_id": "b"}})
	for {
		m := c.next()
		if m["type"] == "subscribe_failed" {
			require.Contains(t, payloadOf(t, m)["message"], codeTooManyStreams)
			return
		}
	}
}

// §16 item 12: a reader that stalls loses data messages, never the completion, and the
// queue stays within its bounds.
func TestWSSlowReaderDrops(t *testing.T) {
	cfg := wsTestConfig()
	cfg.QueueSize = 8
	cfg.QueueBytes = 256 << 10
	e := startWS(t, cfg, nil)

	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/simulation_live"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A small, fixed receive buffer: loopback autotuning could otherwise absorb tens of
	// MB and hide the back-pressure this test is about.
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		return errors.Join(err, serr)
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	require.NoError(t, err)
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(64 << 20)
	write := func(v any) {
		data, _ := json.Marshal(v)
		require.NoError(t, c.Write(ctx, websocket.MessageText, data))
	}
	read := func() map[string]any {
		_, data, err := c.Read(ctx)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m))
		return m
	}
	write(map[string]any{"type": "auth", "payload": map[string]any{"api_key": "k", "timestamp": nowMS()}})
	require.Equal(t, "auth_success", read()["type"])
	const steps = 600
	write(map[string]any{"type": "subscribe", "payload": map[string]any{"stream_type": "simulation_live", "stream_id": "slow",
		"params": map[string]any{"seed": 1, "grid_size": 64, "steps": steps, "update_interval_steps": 1, "include_full_state": true}}})
	require.Equal(t, "subscribe_success", read()["type"])

	// Do not read until the whole run has been produced: ≈ 600 × 28 KB, far more than
	// the socket buffers and the queue can hold.
	dropped := e.hub.m.dropped.WithLabelValues(epSimulationLive)
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(e.hub.m.streams.WithLabelValues(epSimulationLive)) == 0
	}, 30*time.Second, 10*time.Millisecond, "the run must finish while the client is not reading")
	require.Positive(t, testutil.ToFloat64(dropped))

	e.hub.mu.Lock()
	var q *sendQueue
	for cn := range e.hub.conns {
		q = cn.q
	}
	e.hub.mu.Unlock()
	hiCount, hiBytes := q.high()
	require.LessOrEqual(t, hiCount, cfg.QueueSize+controlReserve)
	require.LessOrEqual(t, hiBytes, cfg.QueueBytes+64<<10, "bytes stay within the cap (plus one undroppable frame)")

	var got []float64
	var complete map[string]any
	for complete == nil {
		m := read()
		switch m["type"] {
		case "simulation_state":
			got = append(got, m["payload"].(map[string]any)["step"].(float64))
		case "simulation_complete":
			complete = m["payload"].(map[string]any)
		}
	}
	require.Less(t, len(got), steps, "some states were dropped")
	require.Equal(t, float64(steps), got[len(got)-1], "the last state is never dropped")
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i], got[i-1], "order is kept")
	}
	require.Positive(t, complete["dropped"].(float64), "the stream tells the client it lost messages")
	require.Equal(t, float64(steps-len(got)), testutil.ToFloat64(dropped), "the metric counts every dropped state")
}

// §16 item 11 with the fix: no pong → error, close 1001, and the job is cancelled.
func TestWSHeartbeatTimeout(t *testing.T) {
	cfg := wsTestConfig()
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.HeartbeatTimeout = 400 * time.Millisecond
	e := startWS(t, cfg, nil)

	t.Run("silent client is closed", func(t *testing.T) {
		c := e.dial(t, "/ws/stream_features")
		c.auth("k")
		c.subscribe("stream_features", "hb", map[string]any{"update_interval_ms": 50})
		beats := 0
		for {
			m := c.next()
			if m["type"] == "heartbeat" {
				beats++
				require.ElementsMatch(t, []string{"type", "timestamp"}, keysOf(m))
			}
			if m["type"] == "error" {
				require.Equal(t, codeHeartbeatTimeout, payloadOf(t, m)["error_code"])
				break
			}
		}
		require.GreaterOrEqual(t, beats, 2)
		require.Equal(t, websocket.StatusGoingAway, c.waitClosed())
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(e.hub.m.streams.WithLabelValues(epStreamFeatures)) == 0
		}, 5*time.Second, 10*time.Millisecond, "the stream's job is cancelled")
	})

	t.Run("pongs keep it alive", func(t *testing.T) {
		c := e.dial(t, "/ws/stream_features")
		deadline := time.Now().Add(1200 * time.Millisecond) // 3× the timeout
		for time.Now().Before(deadline) {
			m := c.next()
			require.Equal(t, "heartbeat", m["type"])
			c.send(map[string]any{"type": "pong", "timestamp": nowMS()})
		}
	})
}

// Malformed input is answered (§2.1 fix): bad JSON keeps the session, binary closes 1003,
// oversize closes 1009.
func TestWSMalformedInput(t *testing.T) {
	cfg := wsTestConfig()
	cfg.MaxMessageBytes = 1024
	e := startWS(t, cfg, nil)
	c := e.dial(t, "/ws/simulation_live")

	for _, bad := range []string{`{"type":`, `[1,2]`, `null`, `42`, `"init"`} {
		c.sendRaw(websocket.MessageText, []byte(bad))
		p := payloadOf(t, c.expect("error"))
		require.Equal(t, codeInvalidMessage, p["error_code"], bad)
	}
	// Unknown or non-string types are ignored; the next reply is init's.
	c.send(map[string]any{"type": "heartbeat"})
	c.send(map[string]any{"type": 5})
	c.send(map[string]any{"payload": map[string]any{}})
	c.send(map[string]any{"type": "init"})
	c.expect("init")

	c.sendRaw(websocket.MessageBinary, []byte{1, 2, 3})
	require.Equal(t, codeInvalidMessage, payloadOf(t, c.expect("error"))["error_code"])
	require.Equal(t, websocket.StatusUnsupportedData, c.waitClosed())

	big := e.dial(t, "/ws/simulation_live")
	big.sendRaw(websocket.MessageText, []byte(`{"type":"init","payload":{"client_info":"`+strings.Repeat("x", 2048)+`"}}`))
	require.Equal(t, websocket.StatusMessageTooBig, big.waitClosed())
}

func TestWSConnectionLimit(t *testing.T) {
	cfg := wsTestConfig()
	cfg.MaxConnections = 2
	e := startWS(t, cfg, nil)
	a := e.dial(t, "/ws/simulation_live")
	e.dial(t, "/ws/stream_features")

	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/simulation_live"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, 1.0, testutil.ToFloat64(e.hub.m.rejected.WithLabelValues("too_many_connections")))
	// The client's Dial returns once the handshake is answered, which can be just before the
	// server counts the connection.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(e.hub.m.connections.WithLabelValues(epSimulationLive)) == 1
	}, 5*time.Second, time.Millisecond)

	// A slot frees when a connection ends.
	a.send(map[string]any{"type": "close"})
	a.waitClosed()
	require.Eventually(t, func() bool {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return false
		}
		_ = c.CloseNow()
		return true
	}, 5*time.Second, 20*time.Millisecond)
}

func TestWSShutdownGoesAway(t *testing.T) {
	e := startWS(t, wsTestConfig(), nil)
	a := e.dial(t, "/ws/stream_features")
	a.auth("k")
	a.subscribe("stream_features", "x", map[string]any{"update_interval_ms": 10})
	a.expect("feature_update")
	b := e.dial(t, "/ws/simulation_live")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.hub.Shutdown(ctx))
	require.Equal(t, websocket.StatusGoingAway, a.waitClosed())
	require.Equal(t, websocket.StatusGoingAway, b.waitClosed())
	require.Zero(t, e.hub.connCount())
	require.Zero(t, testutil.ToFloat64(e.hub.m.streams.WithLabelValues(epStreamFeatures)))

	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws/simulation_live"
	_, resp, err := websocket.Dial(ctx, url, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// A busy pool is a STREAM_ERROR, not a hang.
type busyRunner struct{}

func (busyRunner) Do(context.Context, jobs.Request) (jobs.Result, error) { return nil, jobs.ErrBusy }

func TestWSBusyPoolIsStreamError(t *testing.T) {
	h, err := NewHub(wsTestConfig(), busyRunner{}, nil, zaptest.NewLogger(t), nil)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(h.SimulationLive))
	defer srv.Close()
	e := &wsEnv{hub: h, srv: srv}
	c := e.dial(t, "")
	c.auth("k")
	c.subscribe("simulation_live", "s", nil)
	p := payloadOf(t, c.expect("error"))
	require.Equal(t, codeStreamError, p["error_code"])
	require.Equal(t, "s", p["stream_id"])
	require.Contains(t, p["message"], "busy")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx))
}
