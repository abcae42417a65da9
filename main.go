// Command mfn serves MyceliumFractalNet over REST, gRPC and WebSocket on one port and
// runs the configured pipelines. `mfn` alone is `mfn serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"mfn/config"
	"mfn/internal/version"
	"mfn/jobs"
	"mfn/pipeline"
	"mfn/server"
	"mfn/sim"
	"mfn/telemetry"
)

const usage = `usage: mfn [serve|validate|simulate|dataset|healthcheck|version] [flags]

  serve        serve REST, gRPC and WebSocket on one port and run pipelines (default)
  validate     run the validation cycle once and print its metrics
  simulate     run one simulation and print the /simulate JSON
  dataset      generate a dataset (--preset or --sweep) as Parquet or CSV
  healthcheck  GET /health on this host's port; exit 0 when healthy (Docker HEALTHCHECK)
  version      print the build version, source revision, API version and Go version

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
	case "version":
		return printVersion(stdout)
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
	if err := sim.KernelError(); err != nil {
		// A forced kernel that is misspelt or missing on this CPU must not run silently
		// on another one: benchmarks and bit-exactness checks would measure the wrong code.
		fmt.Fprintln(stderr, "mfn:", err)
		return 2
	}
	log, level, err := newLoggerLevel(cfg.Log, cfg.Env, os.Stdout)
	if err != nil {
		fmt.Fprintln(stderr, "mfn:", err)
		return 2
	}
	defer func() { _ = log.Sync() }() // stdout cannot fsync (PITFALLS §8.1)
	log.Info("starting", zap.String("version", version.Build()), zap.String("api_version", version.API), zap.String("kernel", sim.Kernel()), zap.Any("config", config.Redacted(cfg)))

	// Before every component: the instrumentation libraries read the global providers
	// when they are built.
	stopTracing, err := telemetry.Setup(parent, cfg.Telemetry, getenv)
	if err != nil {
		log.Error("telemetry", zap.Error(err))
		return 2
	}
	defer func() {
		// Last, after every actor has drained: the final spans are flushed with their own
		// bound, so an unreachable collector cannot hold the exit.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(ctx); err != nil {
			log.Warn("flushing traces failed; the last spans are lost", zap.Error(err))
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Before the pool: its memory budget follows from the limit.
	limit, source := memoryLimit(cfg.Pool.MemoryLimitBytes, getenv, os.ReadFile)
	if source != "GOMEMLIMIT" && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	pool, err := jobs.NewPool(cfg.Pool, reg)
	if err != nil {
		log.Error("pool", zap.Error(err))
		return 2
	}
	pc := pool.Config()
	log.Info("memory limits", zap.Int64("go_memory_limit_bytes", debug.SetMemoryLimit(-1)), zap.String("source", source),
		zap.Int64("job_memory_budget_bytes", pc.MemoryBudgetBytes), zap.Int64("max_job_memory_bytes", pc.Limits.MaxJobMemoryBytes))
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

	reloader, err := newReloader(cfg, *cfgPath, getenv, log, level, srv, reg)
	if err != nil {
		log.Error("config reload", zap.Error(err))
		return 2
	}

	var g oklog.Group
	var failed actorErrors
	sig, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	g.Add(func() error { <-sig.Done(); log.Info("stopping"); return nil }, func(error) { stop() })
	// 0. stop reloading (SIGHUP, file changes)
	addReloadActor(&g, &failed, reloader)
	// 1. stop accepting; drain HTTP/gRPC; close WebSockets
	addActor(&g, &failed, srv.Run)
	// 2. stop fetching; in-flight jobs finish, publish and ack
	addActor(&g, &failed, pipes.Run)
	// 3. drain the queue
	addActor(&g, &failed, pool.Run)
	// 4. the admin listener last, so that metrics and profiles cover the drain
	if cfg.Server.AdminAddr != "" {
		// The config view follows reloads: what the process runs with now.
		admin := server.NewAdmin(server.AdminParams{Addr: cfg.Server.AdminAddr, Gatherer: reg,
			Config: func() any { return config.Redacted(reloader.Current()) }, Log: log, ShutdownGrace: cfg.Server.ShutdownGrace})
		addActor(&g, &failed, admin.Run)
	}
	_ = g.Run() // its error is the first actor's only; failed has every actor's
	if err := failed.err(); err != nil {
		log.Error("exiting", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// The cgroup files holding the container's memory limit (v2, then v1).
const (
	cgroupV2MemoryMax = "/sys/fs/cgroup/memory.max"
	cgroupV1MemoryMax = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// memoryLimit picks the Go runtime's soft memory limit: a GOMEMLIMIT variable (the
// runtime has applied it already; returned as 0), else pool.memory_limit_bytes, else
// 90 % of the container's cgroup limit (v2, then v1), leaving the rest for what the Go
// runtime does not count (stacks of C code, page cache of the binary); 0 and "none"
// when there is none. readFile is os.ReadFile outside tests.
func memoryLimit(configured int64, getenv func(string) (string, bool), readFile func(string) ([]byte, error)) (int64, string) {
	if v, ok := getenv("GOMEMLIMIT"); ok && strings.TrimSpace(v) != "" {
		return 0, "GOMEMLIMIT"
	}
	if configured > 0 {
		return configured, "pool.memory_limit_bytes"
	}
	for _, path := range []string{cgroupV2MemoryMax, cgroupV1MemoryMax} {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a page-rounded MaxInt64 (v1) mean no limit.
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, "none"
		}
		return n / 10 * 9, path
	}
	return 0, "none"
}

// addActor's interrupt waits for fn to return, so components stop strictly in Add order.
// fn's error is also kept in failed: oklog's Group.Run returns only the first actor's
// error, which after SIGTERM is the signal actor's nil, and a drain that did not finish
// (requests cut at the grace) must still make the process exit 1.
func addActor(g *oklog.Group, failed *actorErrors, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.Add(func() error {
		defer close(done)
		err := fn(ctx)
		failed.add(err)
		return err
	}, func(error) { cancel(); <-done })
}

// actorErrors gathers the errors of every actor, whichever stopped first.
type actorErrors struct {
	mu   sync.Mutex
	errs []error
}

func (a *actorErrors) add(err error) {
	if err == nil {
		return
	}
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

func (a *actorErrors) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.Join(a.errs...)
}

// newLogger builds the process logger: the reference's keys (timestamp, level,
// logger, message, env) and level names (WARNING, CRITICAL), JSON or text, to stdout.
func newLogger(c config.LogConfig, env string, out io.Writer) (*zap.Logger, error) {
	log, _, err := newLoggerLevel(c, env, out)
	return log, err
}

// zapLevel maps a log.level value to zap's level.
func zapLevel(s string) (zapcore.Level, error) {
	lvl, err := config.ParseLevel(s)
	if err != nil {
		return 0, fmt.Errorf("log.level: %w", err)
	}
	return map[config.Level]zapcore.Level{"DEBUG": zap.DebugLevel, "INFO": zap.InfoLevel,
		"WARNING": zap.WarnLevel, "ERROR": zap.ErrorLevel, "CRITICAL": zap.DPanicLevel}[lvl], nil
}

// newLoggerLevel is newLogger plus the handle a config reload sets the level through.
func newLoggerLevel(c config.LogConfig, env string, out io.Writer) (*zap.Logger, zap.AtomicLevel, error) {
	zl, err := zapLevel(c.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, err
	}
	level := zap.NewAtomicLevelAt(zl)
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
		var last atomic.Pointer[consoleSecond]
		ec.EncodeTime = func(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
			// Whole seconds: every line of a second shares one formatted string (the access
			// log writes one line per request; formatting it was 2 % of a /nernst).
			sec := t.Unix()
			if c := last.Load(); c != nil && c.unix == sec {
				enc.AppendString(c.text)
				return
			}
			c := &consoleSecond{unix: sec, text: t.UTC().Format("2006-01-02 15:04:05")}
			last.Store(c)
			enc.AppendString(c.text)
		}
		enc = zapcore.NewConsoleEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(out)), level)
	return zap.New(core, zap.AddStacktrace(zap.DPanicLevel)).Named("mfn").With(zap.String("env", env)), level, nil
}

// consoleSecond is a formatted console timestamp and the Unix second it shows.
type consoleSecond struct {
	unix int64
	text string
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
