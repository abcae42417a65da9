package server

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"mfn/crypto"
	"mfn/internal/cfgerr"
	"mfn/server/grpcapi"
	"mfn/server/ws"
)

// Config is the HTTP side of the port and everything the REST layer enforces. Keys are
// the mfn.yaml keys under `server:`; config.Default fills the per-environment values.
type Config struct {
	// Addr is host:port of the one listener (REST, WebSocket and, unless GRPCAddr is
	// set, gRPC). Port 0 picks a free port (tests).
	Addr string `mapstructure:"addr"`
	// GRPCAddr, when non-empty, moves gRPC to its own listener (etcd advises a separate
	// port in production); the main port then serves HTTP only.
	GRPCAddr string `mapstructure:"grpc_addr"`
	// SniffTimeout bounds how long cmux waits for a new connection's first bytes.
	SniffTimeout time.Duration `mapstructure:"sniff_timeout"`
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// ShutdownGrace bounds each drain step (HTTP, gRPC, WebSockets) on shutdown.
	ShutdownGrace time.Duration `mapstructure:"shutdown_grace"`
	// RequestTimeout bounds one REST job (504 when exceeded); 0 = none.
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// MaxBodyBytes caps request bodies (413 beyond).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// AdminAddr, when non-empty, is host:port of the admin listener: /metrics,
	// /debug/pprof/* and /config (the effective configuration, secrets redacted). It
	// has no auth: bind it to loopback or a port only the scraper reaches. "" = off.
	AdminAddr string `mapstructure:"admin_addr"`

	// Connection-level limits, applied before any request is parsed or any key checked.
	// MaxConnections caps the open TCP connections of the main port and GRPCAddr (every
	// protocol); a connection beyond it is closed at once. Serve lowers it to 3/4 of the
	// process's fd limit when it is above.
	MaxConnections int `mapstructure:"max_connections"`
	// MaxConnectionsPerAddr is one TCP peer address's share of MaxConnections. Behind a
	// proxy or ingress every client shares the proxy's address, hence the large default.
	MaxConnectionsPerAddr int `mapstructure:"max_connections_per_addr"`
	// SniffBytes caps what a new connection may send before its protocol is known (cmux
	// buffers it); beyond it the connection is closed.
	SniffBytes int `mapstructure:"sniff_bytes"`
	// MaxHeaderBytes caps an HTTP/1 request's headers (431 beyond).
	MaxHeaderBytes int `mapstructure:"max_header_bytes"`
	// BodyReadTimeout is the time a request body has to arrive in full after the
	// headers (408 beyond).
	BodyReadTimeout time.Duration `mapstructure:"body_read_timeout"`
	// LingerTimeout and LingerBytes bound the lingering close after an early answer
	// (413, 401…): the unread rest of the body is read and discarded for at most this
	// long / this much, so that clients that send everything before reading see the answer.
	LingerTimeout time.Duration `mapstructure:"linger_timeout"`
	LingerBytes   int64         `mapstructure:"linger_bytes"`

	Auth      AuthConfig      `mapstructure:"auth"`
	RateLimit RateLimitConfig `mapstructure:"rate_limit"`
	CORS      CORSConfig      `mapstructure:"cors"`
	Metrics   MetricsConfig   `mapstructure:"metrics"`
	Crypto    crypto.Config   `mapstructure:"crypto"`
}

// AuthConfig is API-key authentication, shared by REST, gRPC and WebSocket.
type AuthConfig struct {
	// Required makes every non-public path need a valid X-API-Key.
	Required bool `mapstructure:"required"`
	// Keys are the accepted keys (rotation: list old and new).
	Keys []string `mapstructure:"keys"`
}

// RateLimitConfig is the token-bucket limiter (api-contract §6).
type RateLimitConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Requests is the bucket size of paths without their own limit.
	Requests int `mapstructure:"requests"`
	// WindowSeconds turns a limit into a refill rate: limit/window tokens per second.
	WindowSeconds int `mapstructure:"window_seconds"`
	// PerPath gives exact paths their own bucket size.
	PerPath map[string]int `mapstructure:"per_path"`
	// TrustedProxies lists the peers (IPs or CIDRs) whose X-Forwarded-For is believed.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// IdleEvict drops buckets unused for this long.
	IdleEvict time.Duration `mapstructure:"idle_evict"`
}

// CORSConfig lists the allowed origins; "*" allows any (without credentials); empty
// turns CORS off.
type CORSConfig struct {
	Origins []string `mapstructure:"origins"`
}

// MetricsConfig switches recording of the HTTP metrics and where /metrics is served.
type MetricsConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// MainPort serves /metrics on the main port too (the reference does; drop-in
	// clients scrape it there). false leaves it to the admin listener only.
	MainPort bool `mapstructure:"main_port"`
}

// GRPCConfig is the gRPC package's configuration (keys under `grpc:`), named here so
// that config/ builds every transport's settings from one package.
type GRPCConfig = grpcapi.Config

// DefaultGRPCConfig is grpcapi.DefaultConfig.
func DefaultGRPCConfig() GRPCConfig { return grpcapi.DefaultConfig() }

// WSConfig is the WebSocket package's configuration, named here so that config/ finds
// every key under `server:` in one package.
type WSConfig = ws.Config

// DefaultWSConfig is ws.DefaultConfig.
func DefaultWSConfig() WSConfig { return ws.DefaultConfig() }

// DefaultPerPathLimits are the reference's fixed per-endpoint bucket sizes, plus the
// picture, field and dataset routes (not in the reference): they run a /simulate or
// many, so their buckets are smaller than /simulate's 50; the dataset's is smallest.
func DefaultPerPathLimits() map[string]int {
	return map[string]int{"/health": 1000, "/validate": 50, "/simulate": 50, "/nernst": 200, "/federated/aggregate": 50,
		"/simulate/image": 20, "/simulate/animation": 10, "/simulate/field": 20, "/datasets": 5}
}

// DefaultConfig is the dev profile: :8000, auth and rate limiting off, CORS "*".
func DefaultConfig() Config {
	return Config{
		Addr:              "0.0.0.0:8000",
		SniffTimeout:      5 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownGrace:     20 * time.Second,
		RequestTimeout:    120 * time.Second,
		MaxBodyBytes:      8 << 20,

		MaxConnections:        4096,
		MaxConnectionsPerAddr: 1024,
		SniffBytes:            32 << 10,
		MaxHeaderBytes:        64 << 10,
		BodyReadTimeout:       60 * time.Second,
		LingerTimeout:         5 * time.Second,
		LingerBytes:           64 << 20,
		RateLimit: RateLimitConfig{
			Requests:      100,
			WindowSeconds: 60,
			PerPath:       DefaultPerPathLimits(),
			IdleEvict:     time.Hour,
		},
		CORS:    CORSConfig{Origins: []string{"*"}},
		Metrics: MetricsConfig{Enabled: true, MainPort: true},
		Crypto:  crypto.DefaultConfig(),
	}
}

// Validate names the first bad key, relative to `server.`.
func (c Config) Validate() error {
	if err := validAddr(c.Addr); err != nil {
		return cfgerr.New("addr", "%v", err)
	}
	if c.GRPCAddr != "" {
		if err := validAddr(c.GRPCAddr); err != nil {
			return cfgerr.New("grpc_addr", "%v", err)
		}
	}
	if c.AdminAddr != "" {
		if err := validAddr(c.AdminAddr); err != nil {
			return fmt.Errorf("admin_addr: %w", err)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"sniff_timeout", c.SniffTimeout}, {"read_header_timeout", c.ReadHeaderTimeout}, {"idle_timeout", c.IdleTimeout}, {"shutdown_grace", c.ShutdownGrace}} {
		if d.v <= 0 {
			return cfgerr.New(d.key, "must be > 0")
		}
	}
	if c.RequestTimeout < 0 {
		return cfgerr.New("request_timeout", "must be >= 0")
	}
	if c.MaxBodyBytes <= 0 {
		return cfgerr.New("max_body_bytes", "must be > 0")
	}
	if err := c.validateConnLimits(); err != nil {
		return err
	}
	if c.Auth.Required && len(c.Auth.Keys) == 0 {
		return cfgerr.New("auth.keys", "empty while auth.required is true (set MFN_API_KEY or MFN_API_KEYS)")
	}
	for i, k := range c.Auth.Keys {
		if k == "" {
			return cfgerr.New(fmt.Sprintf("auth.keys[%d]", i), "empty")
		}
	}
	if err := c.RateLimit.validate(); err != nil {
		return cfgerr.Prefix("rate_limit.", err)
	}
	for i, o := range c.CORS.Origins {
		if o != "*" && !strings.Contains(o, "://") {
			return cfgerr.New(fmt.Sprintf("cors.origins[%d]", i), "%q is neither \"*\" nor scheme://host", o)
		}
	}
	if err := c.Crypto.Validate(); err != nil {
		return cfgerr.Prefix("crypto.", err)
	}
	return nil
}

// validateConnLimits checks the connection-level keys.
func (c Config) validateConnLimits() error {
	switch {
	case c.MaxConnections < 1:
		return cfgerr.New("max_connections", "must be at least 1")
	case c.MaxConnectionsPerAddr < 1 || c.MaxConnectionsPerAddr > c.MaxConnections:
		return cfgerr.New("max_connections_per_addr", "must be between 1 and max_connections (%d)", c.MaxConnections)
	case c.SniffBytes < 1024 || c.SniffBytes > 1<<20:
		return cfgerr.New("sniff_bytes", "%d is outside [1024, 1048576]", c.SniffBytes)
	case c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20:
		return cfgerr.New("max_header_bytes", "%d is outside [1024, 1048576]", c.MaxHeaderBytes)
	case c.BodyReadTimeout <= 0:
		return cfgerr.New("body_read_timeout", "must be > 0")
	case c.LingerTimeout <= 0:
		return cfgerr.New("linger_timeout", "must be > 0")
	case c.LingerBytes < 0:
		return cfgerr.New("linger_bytes", "must be >= 0")
	}
	return nil
}

func validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: bad host", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port must be 0..65535", addr)
	}
	return nil
}

func (c RateLimitConfig) validate() error {
	if c.Requests <= 0 {
		return cfgerr.New("requests", "must be > 0")
	}
	if c.WindowSeconds <= 0 {
		return cfgerr.New("window_seconds", "must be > 0")
	}
	for p, n := range c.PerPath {
		if !strings.HasPrefix(p, "/") {
			return cfgerr.New(fmt.Sprintf("per_path[%s]", p), "path must start with /")
		}
		if n <= 0 {
			return cfgerr.New(fmt.Sprintf("per_path[%s]", p), "must be > 0")
		}
	}
	if _, err := parseTrusted(c.TrustedProxies); err != nil {
		return cfgerr.New("trusted_proxies", "%v", err)
	}
	if c.IdleEvict <= 0 {
		return cfgerr.New("idle_evict", "must be > 0")
	}
	return nil
}

// parseTrusted turns IPs and CIDRs into prefixes.
func parseTrusted(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
