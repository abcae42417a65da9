package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"mfn/jobs"
	"mfn/server/requestid"
	"mfn/telemetry"
)

// Metadata keys (gRPC metadata keys are lower-case on the wire).
const (
	grpcRequestIDKey = "x-request-id"
	grpcAPIKeyKey    = "x-api-key"
)

// grpcMsgUnauthenticated is the reference's details string for a rejected key.
const grpcMsgUnauthenticated = "Invalid or missing API key"

// grpcPublic reports whether fullMethod may be called without a key and outside the rate
// limit: the custom HealthCheck (public in the reference), grpc.health.v1 (kubelet probes
// cannot send metadata) and reflection (grpcurl describe/list).
func grpcPublic(fullMethod string) bool {
	return fullMethod == "/mycelium.MyceliumService/HealthCheck" ||
		strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// rpcMetrics are the mfn_grpc_* collectors; method is the full method name
// ("/mycelium.MyceliumService/Simulate"), code the status code name ("OK",
// "InvalidArgument"). Unknown methods never reach the interceptors, so the label sets
// stay bounded.
type rpcMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// byMethod resolves the label values once per method (and code): WithLabelValues
	// hashes its arguments on every call, a sizeable share of a ComputeNernst call.
	byMethod sync.Map // full method -> *methodMetrics
}

// methodMetrics are one method's resolved series; byCode is filled on first use of each
// code (codes.Code values 0..16, the ones grpc defines).
type methodMetrics struct {
	duration prometheus.Observer
	byCode   [numCodes]atomic.Pointer[prometheus.Counter]
}

const numCodes = int(codes.Unauthenticated) + 1

func (m *rpcMetrics) method(method string) *methodMetrics {
	if v, ok := m.byMethod.Load(method); ok {
		return v.(*methodMetrics)
	}
	v, _ := m.byMethod.LoadOrStore(method, &methodMetrics{duration: m.duration.WithLabelValues(method)})
	return v.(*methodMetrics)
}

// count adds one call of method that ended with c.
func (m *rpcMetrics) count(mm *methodMetrics, method string, c codes.Code) {
	if int(c) >= numCodes { // not a code grpc defines: a handler's own status, kept unresolved
		m.requests.WithLabelValues(method, c.String()).Inc()
		return
	}
	p := mm.byCode[c].Load()
	if p == nil {
		// Racing first calls resolve the same series: WithLabelValues returns one Counter.
		ctr := m.requests.WithLabelValues(method, c.String())
		p = &ctr
		mm.byCode[c].Store(p)
	}
	(*p).Inc()
}

func newMetrics(reg prometheus.Registerer) (*rpcMetrics, error) {
	m := &rpcMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfn_grpc_requests_total",
			Help: "gRPC calls handled, by full method name and status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mfn_grpc_request_duration_seconds",
			Help: "gRPC call duration in seconds (streams: until the last message), by full method name.",
			// Nernst answers in microseconds, a 256×256 simulation or a validation run
			// takes seconds to minutes.
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 120},
		}, []string{"method"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register grpc metrics: %w", err)
		}
	}
	return m, nil
}

// interceptors holds what the interceptor chain needs; auth and limit may be nil (off).
type interceptors struct {
	log     *zap.Logger
	metrics *rpcMetrics
	auth    Authenticator
	limit   Limiter
	// grpc.default_timeout and grpc.stream_timeout; 0 = none.
	defaultTimeout, streamTimeout time.Duration
}

type requestIDCtxKey struct{}

// grpcRequestID returns the request id the observing interceptor put in ctx ("" outside an RPC).
func grpcRequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// incomingRequestID takes the client's x-request-id when requestid.Valid accepts it and
// makes one otherwise, so a client cannot inject into logs or headers (the reference's
// BUG-19).
func incomingRequestID(ctx context.Context) string {
	// ValueFromIncomingContext reads one key without copying the whole metadata map.
	if v := metadata.ValueFromIncomingContext(ctx, grpcRequestIDKey); len(v) > 0 {
		return requestid.Or(v[len(v)-1])
	}
	return requestid.New()
}

// grpcStatus maps a handler error to the status the client sees and reports whether it is
// an internal failure whose details belong only in the log.
func toStatus(err error) (st *status.Status, internal bool) {
	if err == nil {
		return status.New(codes.OK, ""), false
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	var verr *jobs.ValidationError
	var rerr *jobs.RequestError
	switch {
	case errors.As(err, &verr):
		return status.New(codes.InvalidArgument, verr.Error()), false
	case errors.As(err, &rerr):
		return status.New(codes.InvalidArgument, rerr.Error()), false
	case errors.Is(err, jobs.ErrBusy):
		// The pool's hint (REST's Retry-After) travels as the standard RetryInfo detail.
		st := status.New(codes.Unavailable, "server busy: job queue full, retry later")
		retry := busyRetryAfter
		if d := jobs.RetryAfter(err); d > 0 {
			retry = d
		}
		if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); derr == nil {
			st = withInfo
		}
		return st, false
	case errors.Is(err, jobs.ErrClosed):
		return status.New(codes.Unavailable, "server shutting down"), false
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), false
	case errors.As(err, &withStatus):
		st := withStatus.GRPCStatus()
		return st, st.Code() == codes.Internal || st.Code() == codes.Unknown
	default:
		return status.New(codes.Internal, "internal error"), true
	}
}

// begin puts the call's request id into ctx.
func (ic *interceptors) begin(ctx context.Context) (context.Context, string) {
	id := incomingRequestID(ctx)
	return context.WithValue(ctx, requestIDCtxKey{}, id), id
}

// finish maps err to a status, records the metrics and writes the call's log line.
func (ic *interceptors) finish(ctx context.Context, method, id string, start time.Time, err error) error {
	c, internal := codes.OK, false
	var st *status.Status
	if err != nil { // the common OK path allocates no status
		st, internal = toStatus(err)
		c = st.Code()
	}
	d := time.Since(start)
	code := c.String()
	mm := ic.metrics.method(method)
	ic.metrics.count(mm, method, c)
	observeTraced(ctx, mm.duration, d.Seconds())
	level, msg := zapcore.InfoLevel, "grpc call"
	switch {
	case internal:
		level, msg = zapcore.ErrorLevel, "grpc call failed"
	case c == codes.OK && grpcPublic(method):
		level = zapcore.DebugLevel // probes every few seconds would drown the log
	}
	// Check first: the fields (peer address formatting) cost nothing when the level is off.
	if ce := ic.log.Check(level, msg); ce != nil {
		// Room for the peer, the common case; trace ids and an internal error's cause
		// are rarer and grow it.
		fields := append(make([]zap.Field, 0, 5),
			zap.String("request_id", id),
			zap.String("method", method),
			zap.String("code", code),
			zap.Duration("duration", d))
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			fields = append(fields, zap.String("peer", p.Addr.String()))
		}
		if traceID, spanID, _, ok := telemetry.IDs(ctx); ok {
			fields = append(fields, zap.String("trace_id", traceID), zap.String("span_id", spanID))
		}
		if internal {
			// The only place the cause is recorded: the client got a generic message.
			fields = append(fields, zap.Error(err))
			if stack := jobs.PanicStack(err); stack != nil {
				fields = append(fields, zap.ByteString("stack", stack))
			}
		}
		ce.Write(fields...)
	}
	if c == codes.OK {
		return nil
	}
	return st.Err()
}

// unary is the whole unary chain in one frame, in the order of the stream chain
// (observe → recover → guard → deadline): grpc.ChainUnaryInterceptor would add a
// closure and a call level per interceptor to every call, and ComputeNernst is
// microseconds.
func (ic *interceptors) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, id := ic.begin(ctx)
	// Sent with the response headers (or the trailers-only error response).
	setRequestIDHeader(ctx, id)
	resp, err := ic.unaryGuarded(ctx, req, info, handler)
	if err = ic.finish(ctx, info.FullMethod, id, start, err); err != nil {
		return nil, err
	}
	return resp, nil
}

// headerMDs are reused for the x-request-id header: grpc.SetHeader copies what it is
// given into the stream's own metadata, so a map per call would be garbage at once.
var headerMDs = sync.Pool{New: func() any { return metadata.MD{} }}

func setRequestIDHeader(ctx context.Context, id string) {
	md := headerMDs.Get().(metadata.MD)
	md[grpcRequestIDKey] = []string{id}
	_ = grpc.SetHeader(ctx, md)
	delete(md, grpcRequestIDKey)
	headerMDs.Put(md)
}

// unaryGuarded recovers a panic of the guard, the handler or the job into an error,
// then applies the guard and the deadline.
func (ic *interceptors) unaryGuarded(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, ic.recovered(ctx, info.FullMethod, r)
		}
	}()
	if err := ic.guard(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	if d := ic.timeoutFor(info.FullMethod); d > 0 {
		dl := newLazyDeadline(ctx, d)
		defer dl.stop()
		ctx = dl
	}
	return handler(ctx, req)
}

// serverStream swaps the stream's context for one carrying the request id.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

func (ic *interceptors) streamObserve(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ctx, id := ic.begin(ss.Context())
	_ = ss.SetHeader(metadata.MD{grpcRequestIDKey: {id}})
	err := handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	return ic.finish(ctx, info.FullMethod, id, start, err)
}

// errGRPCPanic is what a recovered panic becomes; the stack goes to the log.
var errGRPCPanic = errors.New("grpc: handler panicked")

func (ic *interceptors) recovered(ctx context.Context, method string, r any) error {
	ic.log.Error("grpc handler panicked",
		zap.String("request_id", grpcRequestID(ctx)),
		zap.String("method", method),
		zap.Any("panic", r),
		zap.StackSkip("stack", 2))
	return fmt.Errorf("%w: %v", errGRPCPanic, r)
}

func (ic *interceptors) streamRecover(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = ic.recovered(ss.Context(), info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

// guard applies the rate limit, then authentication. The bucket is the API key only when
// it is valid and the peer's host otherwise, so guessing keys is throttled per address
// (the reference never limited unauthenticated calls, BUG-8) and rotating made-up keys
// gains no fresh buckets. Public methods skip both.
func (ic *interceptors) guard(ctx context.Context, method string) error {
	if grpcPublic(method) || (ic.auth == nil && ic.limit == nil) {
		return nil
	}
	authOn := ic.auth != nil && ic.auth.Required()
	limitOn := ic.limit != nil && ic.limit.Enabled()
	if !authOn && !limitOn {
		return nil // neither needs the key or the peer's address: skip finding them
	}
	var key string
	valid := false
	if authOn {
		if v := metadata.ValueFromIncomingContext(ctx, grpcAPIKeyKey); len(v) > 0 {
			key = v[len(v)-1] // last value wins, as in the reference
			valid = ic.auth.Valid(key)
		}
	}
	if limitOn {
		bucket := peerHost(ctx)
		if valid {
			bucket = key
		}
		if !ic.limit.Allow(bucket) {
			return status.Error(codes.ResourceExhausted, "Rate limit exceeded")
		}
	}
	if authOn && !valid {
		return status.Error(codes.Unauthenticated, grpcMsgUnauthenticated)
	}
	return nil
}

// peerHost is the client's IP without the port, so that one client's connections
// share a bucket.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	addr := p.Addr.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func (ic *interceptors) streamGuard(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := ic.guard(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// timeoutFor is the server's bound of one call (0: none): SimulateStream's is
// grpc.stream_timeout, health Watch has none (it is meant to stay open and runs no job),
// every other call's is grpc.default_timeout.
func (ic *interceptors) timeoutFor(method string) time.Duration {
	switch method {
	case "/mycelium.MyceliumService/SimulateStream":
		return ic.streamTimeout
	case "/grpc.health.v1.Health/Watch":
		return 0
	}
	return ic.defaultTimeout
}

// withDeadline bounds a stream's ctx by the method's timeout (a unary call's gets a
// lazyDeadline: the same bound, without a timer until one is waited on). An earlier
// client deadline stays; a later one, or none, is cut to the server's, as REST's
// request_timeout bounds every request whatever the client wants.
func (ic *interceptors) withDeadline(ctx context.Context, method string) (context.Context, context.CancelFunc) {
	if d := ic.timeoutFor(method); d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return ctx, func() {}
}

func (ic *interceptors) streamDeadline(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := ic.withDeadline(ss.Context(), info.FullMethod)
	defer cancel()
	return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
}

// observeTraced records a duration with the call's trace id as exemplar when its span
// is sampled (otelgrpc's stats handler has put the span in ctx).
func observeTraced(ctx context.Context, o prometheus.Observer, v float64) {
	if traceID, _, sampled, ok := telemetry.IDs(ctx); ok && sampled {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": traceID})
			return
		}
	}
	o.Observe(v)
}
