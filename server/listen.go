package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/soheilhy/cmux"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// This file is the only cmux importer (STYLE §8). One TCP port carries gRPC (HTTP/2 with
// content-type application/grpc, matched first and with SETTINGS sent, PITFALLS §1.1)
// and HTTP/1.1 (REST and WebSocket upgrades). Anything else is closed.

// normalStop reports the errors every Serve returns on a clean stop (PITFALLS §1.11).
func normalStop(err error) bool {
	return err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, cmux.ErrServerClosed) ||
		errors.Is(err, cmux.ErrListenerClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, grpc.ErrServerStopped)
}

// Run listens on cfg.Addr (and cfg.GRPCAddr when set) and serves until ctx is done, then
// drains; see Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	var gln net.Listener
	if s.cfg.GRPCAddr != "" {
		if gln, err = net.Listen("tcp", s.cfg.GRPCAddr); err != nil {
			_ = ln.Close()
			return err
		}
	}
	return s.Serve(ctx, ln, gln)
}

// Serve serves on ln (and gRPC on grpcLn when it is non-nil; otherwise gRPC shares ln)
// until ctx is done. Then it flips gRPC health to NOT_SERVING, stops accepting, drains
// HTTP and gRPC each within a fresh ShutdownGrace (forcing the rest closed after it),
// closes the WebSockets, and returns nil after a clean drain. It takes ownership of the
// listeners. Serve may be called once.
func (s *Server) Serve(ctx context.Context, ln, grpcLn net.Listener) error {
	if !s.served.CompareAndSwap(false, true) {
		_ = ln.Close()
		if grpcLn != nil {
			_ = grpcLn.Close()
		}
		return errors.New("server: Serve called twice")
	}
	s.setAddr(ln.Addr())
	m := cmux.New(ln)
	m.SetReadTimeout(s.cfg.SniffTimeout) // a silent client cannot block the sniffing or the stop
	var grpcL net.Listener
	if grpcLn == nil {
		grpcL = m.MatchWithWriters(cmux.HTTP2MatchHeaderFieldSendSettings("content-type", "application/grpc"))
	} else {
		grpcL = grpcLn
	}
	httpL := m.Match(cmux.HTTP1Fast("PATCH"))

	var wg sync.WaitGroup
	errc := make(chan error, 3)
	serve := func(name string, fn func() error) {
		wg.Go(func() {
			if err := fn(); !normalStop(err) {
				s.log.Error("listener stopped", zap.String("listener", name), zap.Error(err))
				errc <- err
			}
		})
	}
	serve("grpc", func() error { return s.grpc.Serve(grpcL) })
	serve("http", func() error { return s.http.Serve(httpL) })
	serve("cmux", m.Serve)

	// Readiness follows the checks while serving (gRPC health is what gRPC probes see).
	readyCtx, stopReady := context.WithCancel(context.Background())
	wg.Go(func() { s.watchReady(readyCtx) })
	s.log.Info("serving", zap.String("addr", ln.Addr().String()), zap.Bool("grpc_separate", grpcLn != nil))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stopReady()
	drainErr := s.shutdown()
	m.Close()
	_ = ln.Close()
	if grpcLn != nil {
		_ = grpcLn.Close()
	}
	wg.Wait()
	if runErr != nil {
		return runErr
	}
	return drainErr
}

// shutdown is the ordered drain of PITFALLS §0.
func (s *Server) shutdown() error {
	s.rest.draining.Store(true)
	s.health.Shutdown() // NOT_SERVING; also lets health Watch streams go

	var errs []error
	// 1. HTTP: stops accepting (this closes the shared root listener for gRPC too) and
	// waits for in-flight requests.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, err)
		_ = s.http.Close()
	}
	cancel()
	// 2. WebSockets: hijacked, so Shutdown did not touch them.
	ctx, cancel = context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	if err := s.hub.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	cancel()
	// 3. gRPC: GracefulStop waits for every RPC, streams included; Stop after the grace.
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	t := time.NewTimer(s.cfg.ShutdownGrace)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		errs = append(errs, errors.New("server: gRPC drain exceeded the grace period"))
		s.grpc.Stop()
		<-done
	}
	if len(errs) > 0 {
		s.log.Warn("drain incomplete; remaining connections were closed", zap.Error(errors.Join(errs...)))
		return errors.Join(errs...)
	}
	s.log.Info("drained")
	return nil
}

// watchReady keeps the gRPC health status equal to the readiness checks.
func (s *Server) watchReady(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if len(s.rest.failingChecks()) > 0 {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.health.SetServingStatus("", st)
		s.health.SetServingStatus(grpcServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
