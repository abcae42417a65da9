// Command mfn serves MyceliumFractalNet over REST, gRPC and WebSocket on one port and
// runs the configured pipelines. `mfn` alone is `mfn serve`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"mfn/config"
	"mfn/jobs"
	"mfn/pipeline"
	"mfn/server"
)

const usage = `usage: mfn [serve|validate|simulate|dataset|healthcheck] [flags]

  serve        serve REST, gRPC and WebSocket on one port and run pipelines (default)
  validate     run the validation cycle once and print its metrics
  simulate     run one simulation and print the /simulate JSON
  dataset      generate a dataset (--preset or --sweep) as Parquet or CSV
  healthcheck  GET /health on this host's port; exit 0 when healthy (Docker HEALTHCHECK)

Configuration: embedded defaults, then --config FILE (or MFN_CONFIG), then MFN_* env.
`

func main() { os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)) }

// run dispatches a subcommand and returns the exit code: 0 ok, 1 runtime failure,
// 2 bad flags or configuration.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr)
	case "validate":
		return runValidate(args, stdout, stderr)
	case "simulate":
		return runSimulate(args, stdout, stderr)
	case "dataset":
		return runDataset(args, stdout, stderr)
	case "healthcheck":
		return healthcheck(args, getenv, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mfn: unknown command %q\n%s", cmd, usage)
	return 2
}

func serve(parent context.Context, args []string, getenv func(string) (string, bool), stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default $MFN_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "mfn:", err)
		return 2
	}
	log, err := newLogger(cfg.Log, cfg.Env, os.Stdout)
	if err != nil {
		fmt.Fprintln(stderr, "mfn:", err)
		return 2
	}
	defer func() { _ = log.Sync() }() // stdout cannot fsync (PITFALLS §8.1)
	log.Info("starting", zap.String("version", server.Version), zap.Any("config", config.Redacted(cfg)))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	pool, err := jobs.NewPool(cfg.Pool, reg)
	if err != nil {
		log.Error("pool", zap.Error(err))
		return 2
	}
	pipes, err := pipeline.New(cfg.Pipelines, pool, log, reg)
	if err != nil {
		log.Error("pipelines", zap.Error(err))
		return 2
	}
	srv, err := server.New(server.Params{
		HTTP: cfg.Server.Config, GRPC: cfg.GRPC, WS: cfg.Server.WS, Runner: pool, Log: log, Registry: reg,
		Checks: []server.ReadyCheck{
			{Name: "pool", Check: pool.Ready},
			{Name: "pipelines", Check: pipes.Ready},
		},
	})
	if err != nil {
		log.Error("server", zap.Error(err))
		return 2
	}

	var g oklog.Group
	sig, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	g.Add(func() error { <-sig.Done(); log.Info("stopping"); return nil }, func(error) { stop() })
	// 1. stop accepting; drain HTTP/gRPC; close WebSockets
	addActor(&g, srv.Run)
	// 2. stop fetching; in-flight jobs finish, publish and ack
	addActor(&g, pipes.Run)
	// 3. drain the queue
	addActor(&g, pool.Run)
	if err := g.Run(); err != nil {
		log.Error("exiting", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// addActor's interrupt waits for fn to return, so components stop strictly in Add order.
func addActor(g *oklog.Group, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.Add(func() error { defer close(done); return fn(ctx) }, func(error) { cancel(); <-done })
}

// newLogger builds the process logger: the reference's keys (timestamp, level,
// logger, message, env) and level names (WARNING, CRITICAL), JSON or text, to stdout.
func newLogger(c config.LogConfig, env string, out io.Writer) (*zap.Logger, error) {
	lvl, err := config.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	zl := map[config.Level]zapcore.Level{"DEBUG": zap.DebugLevel, "INFO": zap.InfoLevel,
		"WARNING": zap.WarnLevel, "ERROR": zap.ErrorLevel, "CRITICAL": zap.DPanicLevel}[lvl]
	ec := zapcore.EncoderConfig{
		TimeKey: "timestamp", LevelKey: "level", NameKey: "logger", MessageKey: "message",
		StacktraceKey: "exception", LineEnding: zapcore.DefaultLineEnding,
		EncodeTime: func(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
			enc.AppendString(t.UTC().Format("2006-01-02T15:04:05.000000Z"))
		},
		EncodeLevel: func(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
			switch l {
			case zap.WarnLevel:
				enc.AppendString("WARNING")
			case zap.DPanicLevel, zap.PanicLevel, zap.FatalLevel:
				enc.AppendString("CRITICAL")
			default:
				enc.AppendString(l.CapitalString())
			}
		},
		EncodeDuration: zapcore.SecondsDurationEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	}
	var enc zapcore.Encoder
	if strings.EqualFold(c.Format, "json") {
		enc = zapcore.NewJSONEncoder(ec)
	} else {
		ec.EncodeTime = func(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
			enc.AppendString(t.UTC().Format("2006-01-02 15:04:05"))
		}
		enc = zapcore.NewConsoleEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), zl)
	return zap.New(core, zap.AddStacktrace(zap.DPanicLevel)).Named("mfn").With(zap.String("env", env)), nil
}

// healthcheck GETs /health on the local port: exit 0 when it answers 200, 1 otherwise,
// 2 on bad flags or configuration. It is the container's HEALTHCHECK (no curl in the image).
func healthcheck(args []string, getenv func(string) (string, bool), stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default $MFN_CONFIG)")
	addr := fs.String("addr", "", "host:port to probe (default: 127.0.0.1 and the configured port)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target := *addr
	if target == "" {
		cfg, err := loadConfig(*cfgPath, getenv)
		if err != nil {
			fmt.Fprintln(stderr, "mfn:", err)
			return 2
		}
		_, port, _ := net.SplitHostPort(cfg.Server.Addr)
		target = net.JoinHostPort("127.0.0.1", port)
	}
	client := &http.Client{Timeout: *timeout}
	res, err := client.Get("http://" + target + "/health")
	if err != nil {
		fmt.Fprintln(stderr, "mfn: healthcheck:", err)
		return 1
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "mfn: healthcheck: status", res.StatusCode)
		return 1
	}
	return 0
}
