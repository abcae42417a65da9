package server

import (
	"context"
	"errors"
	"io"
	"mfn/server/grpcapi"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/soheilhy/cmux"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// This file is the only cmux importer (STYLE §8). One TCP port carries gRPC (HTTP/2 with
// content-type application/grpc, matched first and with SETTINGS sent, PITFALLS §1.1)
// and HTTP/1.1 (REST and WebSocket upgrades). Anything else is closed.

// capSniff bounds what a matcher may read: cmux keeps every byte its matchers read until
// one decides (to replay them to the chosen server), and SetReadTimeout bounds only time,
// so a client that has not shown its protocol within n bytes matches nothing and is
// closed (PITFALLS §9.1). Every matcher reads the same replayed bytes, so n bounds the
// buffer of a connection, not each matcher.
func capSniff(n int, match cmux.Matcher) cmux.Matcher {
	return func(r io.Reader) bool { return match(io.LimitReader(r, int64(n))) }
}

// grpcMatcher matches a gRPC connection: the HTTP/2 client preface, then a HEADERS block
// whose content-type is application/grpc or application/grpc+<codec>. Like cmux's
// HTTP2MatchHeaderFieldSendSettings it answers the client's SETTINGS (grpc-go clients
// wait for the server's SETTINGS before they send HEADERS, PITFALLS §1.1), but its reads
// are capped at n bytes, frames at HTTP/2's default 16 KiB (the server has announced no
// larger size), and SETTINGS are answered once: cmux's framer would allocate a frame's
// declared length (up to 16 MiB) before reading it, and answer every SETTINGS frame.
func grpcMatcher(n int) cmux.MatchWriter {
	return func(w io.Writer, r io.Reader) bool {
		r = io.LimitReader(r, int64(n))
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(r, preface); err != nil || string(preface) != http2.ClientPreface {
			return false
		}
		fr := http2.NewFramer(w, r)
		fr.SetMaxReadFrameSize(16 << 10)
		found, grpc := false, false
		dec := hpack.NewDecoder(4<<10, func(hf hpack.HeaderField) {
			if hf.Name == "content-type" && !found {
				found = true
				ct := hf.Value
				grpc = ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+")
			}
		})
		dec.SetMaxStringLength(n)
		sentSettings := false
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return false
			}
			var block []byte
			var end bool
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() && !sentSettings {
					sentSettings = true
					if fr.WriteSettings() != nil {
						return false
					}
				}
				continue
			case *http2.HeadersFrame:
				block, end = f.HeaderBlockFragment(), f.HeadersEnded()
			case *http2.ContinuationFrame:
				block, end = f.HeaderBlockFragment(), f.HeadersEnded()
			default:
				continue // PING, WINDOW_UPDATE, PRIORITY…: the byte cap ends a flood of them
			}
			if _, err := dec.Write(block); err != nil {
				return false
			}
			if found || end {
				return grpc
			}
		}
	}
}

// tcpOf finds the half-closable connection under cmux's MuxConn, whose net.Conn is an
// embedded interface, so that its method set has no CloseWrite (PITFALLS §9.3).
func tcpOf(c net.Conn) interface{ CloseWrite() error } {
	if mc, ok := c.(*cmux.MuxConn); ok {
		c = mc.Conn
	}
	cw, _ := c.(interface{ CloseWrite() error })
	return cw
}

// connCaps keeps the connection cap below the fd limit: beyond it Accept fails (EMFILE)
// before the guard can refuse anything, and files, the gRPC port and outbound
// connections need descriptors too, so a quarter of the limit is kept for them. A lowered
// cap lowers the per-address share in proportion, so that one address still cannot take
// every slot.
func connCaps(maxConns, perAddr int, nofile uint64, log *zap.Logger) (int, int) {
	room := nofile - nofile/4
	if nofile == 0 || uint64(maxConns) <= room { // #nosec G115 -- Validate keeps max_connections >= 1
		return maxConns, perAddr
	}
	lowered := int(max(room, 1)) // #nosec G115 -- room < maxConns here, so it fits an int
	share := max(1, int(int64(perAddr)*int64(lowered)/int64(maxConns)))
	log.Warn("server.max_connections is above 3/4 of the open-file limit; lowered, with the per-address share",
		zap.Uint64("nofile", nofile), zap.Int("max_connections", lowered), zap.Int("max_connections_per_addr", share))
	return lowered, share
}

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
	maxConns, perAddr := connCaps(s.cfg.MaxConnections, s.cfg.MaxConnectionsPerAddr, openFileLimit(), s.log)
	// One budget for both ports: the fd limit is the process's.
	budget := newConnBudget(maxConns, perAddr, s.connM)
	guardLog := s.log.With(zap.String("component", "listener"))
	guard := newGuardListener(ln, budget, guardLog)
	m := cmux.New(guard)
	m.SetReadTimeout(s.cfg.SniffTimeout) // a silent client cannot block the sniffing or the stop
	m.HandleError(func(err error) bool {
		if errors.As(err, new(cmux.ErrNotMatched)) {
			s.connM.rejected.WithLabelValues("not_matched").Inc()
		}
		return true // go on serving; cmux still stops on an accept error that is not temporary
	})
	var grpcL net.Listener
	if grpcLn == nil {
		grpcL = m.MatchWithWriters(grpcMatcher(s.cfg.SniffBytes))
	} else {
		grpcL = newGuardListener(grpcLn, budget, guardLog)
	}
	httpL := &lingerListener{
		Listener: m.Match(capSniff(s.cfg.SniffBytes, cmux.HTTP1Fast("PATCH"))),
		timeout:  s.cfg.LingerTimeout, maxBytes: s.cfg.LingerBytes,
	}

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
	_ = guard.Close() // also ends an Accept waiting out a backoff
	if grpcLn != nil {
		_ = grpcL.Close()
	}
	wg.Wait()
	httpL.wait()
	if runErr != nil {
		return runErr
	}
	return drainErr
}

// shutdown is the ordered drain of PITFALLS §0.
func (s *Server) shutdown() error {
	s.front.draining.Store(true)
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
		if len(s.front.failingChecks()) > 0 {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.health.SetServingStatus("", st)
		s.health.SetServingStatus(grpcapi.ServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
