package config

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// ReloadableKeys are the key prefixes a reload applies at once; every other key keeps
// its running value until a restart. They are the keys a running server can swap
// atomically between two requests: API keys, rate limits (and the proxies trusted to name
// the client), CORS origins and the log level.
var ReloadableKeys = []string{"server.auth.", "server.rate_limit.", "server.cors.", "log.level"}

// Merge returns what to run after a reload: cur with next's reloadable keys, and the
// sorted keys whose value in next differs from the running one but needs a restart.
func Merge(cur, next Config) (Config, []string) {
	out := cur
	out.Server.Auth = next.Server.Auth
	out.Server.RateLimit = next.Server.RateLimit
	out.Server.CORS = next.Server.CORS
	out.Log.Level = next.Log.Level
	have, want := Keys(out), Keys(next)
	var restart []string
	for k, v := range want {
		if !reflect.DeepEqual(have[k], v) {
			restart = append(restart, k)
		}
	}
	sort.Strings(restart)
	return out, restart
}

// ReloadInterval is how often the Reloader reads the config file. Reading and hashing a
// few kilobytes once a second costs nothing measurable, and a ConfigMap update reaches
// the pod's volume only every kubelet sync (up to about a minute) anyway.
const ReloadInterval = time.Second

// Reloader re-reads the configuration on demand (SIGHUP) and when the file's content
// changes, and hands the merged result to apply. It polls the file's content rather than
// watching inotify events: a ConfigMap volume updates by swapping the `..data` symlink of
// the directory, which a watch on the file itself never sees, while reading the path
// (symlinks followed) always yields what a fresh start would read. Safe for concurrent use.
type Reloader struct {
	path     string
	interval time.Duration
	load     func() (Config, error)
	apply    func(cfg Config, hash string) error
	log      *zap.Logger
	results  *prometheus.CounterVec

	mu      sync.Mutex
	cur     Config
	tried   string // hash of the content last loaded, applied or rejected
	readErr string // last read error logged, so that a missing file warns once
}

// NewReloader starts from the running configuration cur, read from path ("" when no file
// is used: then only SIGHUP reloads, which re-reads the environment). load builds a
// complete validated Config as at start-up; apply installs one and must change nothing
// when it fails. interval 0 means ReloadInterval. It registers
// mfn_config_reloads_total{result="success"|"error"} on reg (nil: not registered).
func NewReloader(cur Config, path string, interval time.Duration, load func() (Config, error),
	apply func(cfg Config, hash string) error, log *zap.Logger, reg prometheus.Registerer) (*Reloader, error) {
	if load == nil || apply == nil {
		return nil, errors.New("config: reloader needs load and apply")
	}
	if interval <= 0 {
		interval = ReloadInterval
	}
	if log == nil {
		log = zap.NewNop()
	}
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mfn_config_reloads_total",
		Help: "Configuration reloads by result: success (applied) or error (rejected whole; the running config stays).",
	}, []string{"result"})
	results.WithLabelValues("success")
	results.WithLabelValues("error")
	if reg != nil {
		if err := reg.Register(results); err != nil {
			return nil, fmt.Errorf("config: register reload metric: %w", err)
		}
	}
	r := &Reloader{path: path, interval: interval, load: load, apply: apply,
		log: log.With(zap.String("component", "config")), results: results, cur: cur}
	if path != "" {
		b, err := os.ReadFile(path) // #nosec G304 -- the config file the operator named
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		r.tried = Hash(b)
	}
	return r, nil
}

// Hash is the configuration hash /health reports: the hex SHA-256 of the file's bytes,
// so that `sha256sum mfn.yaml` tells whether a process runs that file.
func Hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// FileHash is the hash of the file the Reloader started from ("" without a file).
func (r *Reloader) FileHash() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tried
}

// Run polls the file every interval and reloads when its content changes or when hup
// delivers; it returns nil once ctx is done.
func (r *Reloader) Run(ctx context.Context, hup <-chan os.Signal) error {
	var tick <-chan time.Time
	if r.path != "" {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			_ = r.Reload("signal")
		case <-tick:
			if r.changed() {
				_ = r.Reload("file")
			}
		}
	}
}

// changed reports whether the file's content differs from what was last tried.
func (r *Reloader) changed() bool {
	b, err := os.ReadFile(r.path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		// A ConfigMap swap is atomic, so this is a real problem (file deleted, volume
		// gone); say it once, keep running on what was loaded.
		if err.Error() != r.readErr {
			r.readErr = err.Error()
			r.log.Warn("config file unreadable; keeping the running config", zap.String("path", r.path), zap.Error(err))
		}
		return false
	}
	r.readErr = ""
	return Hash(b) != r.tried
}

// Reload loads the configuration again and applies its reloadable keys; keys that need a
// restart are logged and keep their running value. A config that does not load (bad
// YAML, an invalid value) is rejected whole, logged and counted, and the running one
// stays. trigger names the cause in the log ("signal", "file").
func (r *Reloader) Reload(trigger string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	hash := ""
	if r.path != "" {
		b, err := os.ReadFile(r.path)
		if err != nil {
			return r.reject(trigger, fmt.Errorf("config file %s: %w", r.path, err))
		}
		hash = Hash(b)
		// Tried even if rejected: an invalid file is reported once, not every second.
		r.tried = hash
	}
	next, err := r.load()
	if err != nil {
		return r.reject(trigger, err)
	}
	merged, restart := Merge(r.cur, next)
	if err := r.apply(merged, hash); err != nil {
		return r.reject(trigger, err)
	}
	for _, k := range restart {
		r.log.Warn("config key changed but needs a restart; keeping the running value", zap.String("key", k))
	}
	var applied []string
	have, want := Keys(r.cur), Keys(merged)
	for k, v := range want {
		if !reflect.DeepEqual(have[k], v) {
			applied = append(applied, k)
		}
	}
	sort.Strings(applied)
	r.cur = merged
	r.results.WithLabelValues("success").Inc()
	r.log.Info("config reloaded", zap.String("trigger", trigger), zap.String("config_hash", hash),
		zap.String("applied", strings.Join(applied, ",")), zap.String("needs_restart", strings.Join(restart, ",")))
	return nil
}

func (r *Reloader) reject(trigger string, err error) error {
	r.results.WithLabelValues("error").Inc()
	r.log.Error("config reload rejected; keeping the running config", zap.String("trigger", trigger), zap.Error(err))
	return err
}

// Current is the configuration running now.
func (r *Reloader) Current() Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}
