package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"mfn/config"
	"mfn/server"
)

// newReloader wires configuration reload: the file given to serve (or MFN_CONFIG) is
// re-read on SIGHUP and when its content changes; API keys, rate limits, CORS and the
// log level are swapped into the running server, other changed keys wait for a restart.
func newReloader(cfg config.Config, path string, getenv func(string) (string, bool), log *zap.Logger,
	level zap.AtomicLevel, srv *server.Server, reg prometheus.Registerer) (*config.Reloader, error) {
	if path == "" {
		path, _ = getenv("MFN_CONFIG")
	}
	apply := func(c config.Config, hash string) error {
		lvl, err := zapLevel(c.Log.Level)
		if err != nil {
			return err
		}
		if err := srv.Reload(c.Server.Config); err != nil {
			return err
		}
		level.SetLevel(lvl)
		if hash != "" {
			srv.SetConfigHash(hash)
		}
		return nil
	}
	load := func() (config.Config, error) { return loadConfig(path, getenv) }
	rl, err := config.NewReloader(cfg, path, 0, load, apply, log, reg)
	if err != nil {
		return nil, err
	}
	if h := rl.FileHash(); h != "" {
		srv.SetConfigHash(h)
	}
	return rl, nil
}

// addReloadActor runs the reloader with SIGHUP until the group stops.
func addReloadActor(g *oklog.Group, failed *actorErrors, rl *config.Reloader) {
	addActor(g, failed, func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		return rl.Run(ctx, hup)
	})
}
