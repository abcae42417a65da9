package ws

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"mfn/jobs"
)

// Protocol constants (websocket-protocol.md §4, §6, §12).
const (
	protocolVersion = "1.0"
	authSkewMS      = 300_000 // |now − timestamp| ≤ 5 min, inclusive

	codeInitFailed      = "INIT_FAILED"
	codeAuthFailed      = "AUTH_FAILED"
	codeAuthError       = "AUTH_ERROR"
	codeNotAuth         = "NOT_AUTHENTICATED"
	codeSubscribeError  = "SUBSCRIBE_ERROR"
	codeSubscribeFailed = "SUBSCRIBE_FAILED"
	codeStreamError     = "STREAM_ERROR"
	// Codes added by the protocol's fixes (§12), all within the existing shapes.
	codeInvalidMessage     = "INVALID_MESSAGE"
	codeHeartbeatTimeout   = "HEARTBEAT_TIMEOUT"
	codeAuthTimeout        = "AUTH_TIMEOUT"
	codeTooManyAuthFails   = "TOO_MANY_AUTH_FAILURES"
	codeAlreadySubscribed  = "ALREADY_SUBSCRIBED"
	codeTooManyStreams     = "TOO_MANY_SUBSCRIPTIONS"
	codeStreamTypeMismatch = "STREAM_TYPE_MISMATCH"
	codeTooManyConns       = "TOO_MANY_CONNECTIONS"

	msgAuthFailed = "Invalid API key or timestamp"
	msgNotAuth    = "Must authenticate before subscribing"
)

// wsConn is one WebSocket session. The read loop (serve) owns the protocol state
// (authenticated, authFailures, closing); streams and the ticker only push to q.
type wsConn struct {
	h        *Hub
	c        *websocket.Conn
	endpoint string
	log      *zap.Logger
	q        *sendQueue
	slot     *wsSlot // read loop only

	// ctx lives as long as the connection; every stream context derives from it.
	ctx    context.Context
	cancel context.CancelFunc

	connectedAt int64        // UnixNano on the real clock, for the auth deadline
	lastSeen    atomic.Int64 // UnixNano of the last inbound message (any counts, §15 B17)
	authed      atomic.Bool
	closing     atomic.Bool // a close has been queued: ignore further input

	authFailures int // read loop only

	trace trace.SpanContext // the upgrade request's span, if any; set before serve

	mu      sync.Mutex
	streams map[string]*wsStream
	wg      sync.WaitGroup // writer, ticker and streams
}

// wsStream is one running subscription.
type wsStream struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

func newWSConn(h *Hub, c *websocket.Conn, endpoint string) *wsConn {
	ctx, cancel := context.WithCancel(h.base)
	cn := &wsConn{
		h: h, c: c, endpoint: endpoint, log: h.log.With(zap.String("endpoint", endpoint)),
		ctx: ctx, cancel: cancel, connectedAt: time.Now().UnixNano(), streams: make(map[string]*wsStream),
	}
	dropped := h.m.dropped.WithLabelValues(endpoint)
	cn.q = newSendQueue(h.cfg.QueueSize, h.cfg.QueueBytes, h.cfg.Backpressure, func(n int) { dropped.Add(float64(n)) })
	cn.lastSeen.Store(time.Now().UnixNano())
	return cn
}

// serve runs the session until the socket closes, then stops every goroutine it started.
func (cn *wsConn) serve() {
	cn.wg.Add(2)
	go func() { defer cn.wg.Done(); cn.writeLoop() }()
	go func() { defer cn.wg.Done(); cn.tick() }()

	cn.readLoop()

	cn.cancel() // stops streams, writer and ticker
	cn.stopStreams()
	cn.wg.Wait()
	cn.q.shut()
	_ = cn.c.CloseNow()
}

func (cn *wsConn) readLoop() {
	for {
		typ, data, err := cn.c.Read(cn.ctx)
		if err != nil {
			if s := websocket.CloseStatus(err); s == -1 && cn.ctx.Err() == nil {
				cn.log.Debug("websocket read ended", zap.Error(err))
			}
			return
		}
		cn.lastSeen.Store(time.Now().UnixNano())
		if cn.closing.Load() {
			continue // draining until the close handshake completes
		}
		if typ != websocket.MessageText {
			cn.sendError(codeInvalidMessage, "binary frames are not supported: send JSON text frames", "")
			cn.closeAfterFlush(websocket.StatusUnsupportedData, "binary frames are not supported")
			continue
		}
		in, err := decodeInbound(data)
		if err != nil {
			// Malformed JSON is answered and the session goes on (§2.1 [FIX], decided:
			// keep the connection open; only binary frames close it).
			cn.sendError(codeInvalidMessage, err.Error(), "")
			continue
		}
		if !in.hasType {
			continue // unknown or missing type: ignored for forward compatibility
		}
		cn.dispatch(in)
	}
}

func (cn *wsConn) dispatch(in inbound) {
	switch in.typ {
	case "init":
		cn.onInit(in)
	case "auth":
		cn.onAuth(in)
	case "subscribe":
		cn.onSubscribe(in)
	case "unsubscribe":
		cn.onUnsubscribe(in)
	case "pong":
		// Liveness was refreshed on read; pong gets no reply.
	case "close":
		cn.stopStreams()
		cn.closeAfterFlush(websocket.StatusNormalClosure, "")
	}
}

func (cn *wsConn) ts() float64 { return msTime(cn.h.now()) }

// reply queues an undroppable message.
func (cn *wsConn) reply(typ string, m obj) {
	cn.enqueue(typ, m, false)
}

// enqueue marshals m and queues it; an overflow of undroppable messages closes the
// connection (the client is not reading).
func (cn *wsConn) enqueue(typ string, m obj, droppable bool) {
	data, err := json.Marshal(m)
	if err != nil {
		cn.log.Error("encode websocket message", zap.String("type", typ), zap.Error(err))
		return
	}
	if !cn.q.push(outMsg{typ: typ, data: data, droppable: droppable}) && !cn.closing.Load() {
		cn.log.Warn("send queue overflow, closing slow client")
		cn.closing.Store(true)
		cn.cancel()
		_ = cn.c.CloseNow()
	}
}

func (cn *wsConn) sendError(code, message, streamID string) {
	ts := cn.ts()
	p := obj{{"error_code", code}, {"message", message}}
	if streamID != "" || code == codeStreamError {
		p = append(p, kv{"stream_id", streamID})
	}
	p = append(p, kv{"timestamp", ts})
	cn.reply("error", obj{{"type", "error"}, {"timestamp", ts}, {"payload", p}})
}

// closeAfterFlush queues a close: the writer sends everything queued before it, then
// closes with code. Further input is ignored.
func (cn *wsConn) closeAfterFlush(code websocket.StatusCode, reason string) {
	if cn.closing.Swap(true) {
		return
	}
	cn.q.push(outMsg{close: true, closeCode: code, closeReason: reason})
}

// goAway is Shutdown's close: streams stop and the socket closes with 1001 at once.
func (cn *wsConn) goAway() {
	cn.closing.Store(true)
	cn.stopStreams()
	_ = cn.c.Close(websocket.StatusGoingAway, "server shutting down")
	cn.cancel()
}

// writeLoop is the only writer of data frames on the socket.
func (cn *wsConn) writeLoop() {
	sent := func(typ string) { cn.h.m.sent.WithLabelValues(cn.endpoint, typ).Inc() }
	for {
		m, ok := cn.q.pop()
		if !ok {
			select {
			case <-cn.q.notify:
				continue
			case <-cn.ctx.Done():
				return
			}
		}
		if m.close {
			// Close does the handshake; the read loop sees the peer's answer and returns.
			_ = cn.c.Close(m.closeCode, m.closeReason)
			cn.cancel()
			return
		}
		wctx, cancel := context.WithTimeout(cn.ctx, cn.h.cfg.WriteTimeout)
		err := cn.c.Write(wctx, websocket.MessageText, m.data)
		cancel()
		if err != nil {
			if cn.ctx.Err() == nil {
				cn.log.Warn("websocket write failed, closing", zap.Error(err))
			}
			cn.cancel() // an expired write has closed the socket already (PITFALLS §6.3)
			_ = cn.c.CloseNow()
			return
		}
		sent(m.typ)
	}
}

// tick sends heartbeats and enforces the heartbeat and auth deadlines, per connection.
func (cn *wsConn) tick() {
	cfg := cn.h.cfg
	period := min(cfg.HeartbeatInterval, cfg.HeartbeatTimeout) / 4
	if cfg.AuthTimeout > 0 {
		period = min(period, cfg.AuthTimeout/4)
	}
	period = max(period, 5*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	lastBeat := time.Now()
	for {
		select {
		case <-cn.ctx.Done():
			return
		case now := <-t.C:
			if cn.closing.Load() {
				continue
			}
			if now.Sub(time.Unix(0, cn.lastSeen.Load())) >= cfg.HeartbeatTimeout {
				cn.log.Info("websocket heartbeat timeout", zap.Duration("timeout", cfg.HeartbeatTimeout))
				cn.stopStreamsAsync()
				cn.sendError(codeHeartbeatTimeout, "no message within "+cfg.HeartbeatTimeout.String(), "")
				cn.closeAfterFlush(websocket.StatusGoingAway, "heartbeat timeout")
				continue
			}
			if cfg.AuthTimeout > 0 && !cn.authed.Load() && now.Sub(cn.connectedMono()) >= cfg.AuthTimeout {
				cn.sendError(codeAuthTimeout, "not authenticated within "+cfg.AuthTimeout.String(), "")
				cn.closeAfterFlush(websocket.StatusPolicyViolation, "authentication timeout")
				continue
			}
			if now.Sub(lastBeat) >= cfg.HeartbeatInterval {
				lastBeat = now
				ts := cn.ts()
				cn.reply("heartbeat", obj{{"type", "heartbeat"}, {"timestamp", ts}})
			}
		}
	}
}

// connectedMono is the connect time on the real clock (the injected one only stamps messages).
func (cn *wsConn) connectedMono() time.Time {
	return time.Unix(0, cn.connectedAt)
}

func (cn *wsConn) onInit(in inbound) {
	m, err := parseInit(in)
	if err == nil && m.clientInfo != "" {
		cn.log.Debug("websocket init", zap.String("client_info", truncate(m.clientInfo, 200)))
	}
	ts := cn.ts()
	if err != nil {
		cn.sendError(codeInitFailed, err.Error(), "")
		return
	}
	cn.reply("init", obj{{"type", "init"}, {"timestamp", ts}, {"payload", obj{{"protocol_version", protocolVersion}}}})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (cn *wsConn) onAuth(in inbound) {
	m, err := parseAuth(in)
	key, stamp := m.apiKey, m.timestamp
	ts := cn.ts()
	if err != nil {
		// AUTH_ERROR leaves the authenticated flag as it was (§6.2).
		cn.reply("auth_failed", obj{{"type", "auth_failed"}, {"timestamp", ts}, {"payload", obj{
			{"error_code", codeAuthError}, {"message", err.Error()}, {"timestamp", ts}}}})
		return
	}
	ok := math.Abs(ts-stamp) <= authSkewMS
	reason := "timestamp out of range"
	if ok && cn.h.auth != nil && cn.h.auth.Required() {
		ok = cn.h.auth.Valid(key)
		reason = "invalid api key"
	}
	if ok && !cn.slot.promote() {
		// A valid key, but every authenticated slot is taken: try again later (1013).
		cn.h.m.rejected.WithLabelValues("too_many_connections").Inc()
		cn.sendError(codeTooManyConns, "too many WebSocket connections, retry later", "")
		cn.closeAfterFlush(websocket.StatusTryAgainLater, "too many connections")
		return
	}
	cn.authed.Store(ok)
	if ok {
		cn.authFailures = 0
		cn.log.Info("websocket auth success", zap.String("api_key", keyPrefix(key)))
		cn.reply("auth_success", obj{{"type", "auth_success"}, {"timestamp", ts}})
		return
	}
	cn.authFailures++
	cn.log.Info("websocket auth failed", zap.String("reason", reason), zap.Float64("time_diff_ms", ts-stamp))
	cn.reply("auth_failed", obj{{"type", "auth_failed"}, {"timestamp", ts}, {"payload", obj{
		{"error_code", codeAuthFailed}, {"message", msgAuthFailed}}}})
	if limit := cn.h.cfg.MaxAuthFailures; limit > 0 && cn.authFailures >= limit {
		cn.sendError(codeTooManyAuthFails, "too many failed auth attempts", "")
		cn.closeAfterFlush(websocket.StatusPolicyViolation, "too many failed auth attempts")
	}
}

// keyPrefix is what the audit log may show of a key: at most its first 4 bytes.
func keyPrefix(k string) string {
	if len(k) <= 4 {
		return "..."
	}
	return k[:4] + "..."
}

func (cn *wsConn) subscribeFailed(code, message string) {
	ts := cn.ts()
	cn.reply("subscribe_failed", obj{{"type", "subscribe_failed"}, {"timestamp", ts}, {"payload", obj{
		{"error_code", code}, {"message", message}, {"timestamp", ts}}}})
}

func (cn *wsConn) onSubscribe(in inbound) {
	if !cn.authed.Load() {
		cn.subscribeFailed(codeNotAuth, msgNotAuth)
		return
	}
	m, err := parseSubscribe(in)
	if err != nil {
		cn.subscribeFailed(codeSubscribeError, err.Error())
		return
	}
	id := m.streamID
	if m.streamType != cn.endpoint && cn.h.cfg.StrictStreamType {
		cn.subscribeFailed(codeSubscribeError, codeStreamTypeMismatch+": stream_type does not match endpoint /ws/"+cn.endpoint)
		return
	}
	// The endpoint decides what streams, as in the reference (§4.3).
	var start func(ctx context.Context)
	switch cn.endpoint {
	case epSimulationLive:
		p, err := parseSimParams(m.params)
		if err != nil {
			cn.subscribeFailed(codeSubscribeError, err.Error())
			return
		}
		start = func(ctx context.Context) { cn.runSimulation(ctx, id, p) }
	default:
		p, err := parseFeatureParams(m.params)
		if err != nil {
			cn.subscribeFailed(codeSubscribeError, err.Error())
			return
		}
		start = func(ctx context.Context) { cn.runFeatures(ctx, id, p) }
	}

	cn.mu.Lock()
	switch {
	case cn.ctx.Err() != nil || cn.closing.Load():
		cn.mu.Unlock()
		cn.subscribeFailed(codeSubscribeFailed, "Failed to subscribe")
		return
	case cn.streams[id] != nil:
		cn.mu.Unlock()
		cn.subscribeFailed(codeSubscribeFailed, codeAlreadySubscribed+": stream_id "+id+" is already streaming; unsubscribe first")
		return
	case len(cn.streams) >= cn.h.cfg.MaxSubscriptions:
		cn.mu.Unlock()
		cn.subscribeFailed(codeSubscribeFailed, codeTooManyStreams+": at most "+strconv.Itoa(cn.h.cfg.MaxSubscriptions)+" streams per connection")
		return
	}
	sctx, cancel := context.WithCancel(cn.ctx)
	st := &wsStream{id: id, cancel: cancel, done: make(chan struct{})}
	cn.streams[id] = st
	cn.wg.Add(1)
	cn.mu.Unlock()

	gauge := cn.h.m.streams.WithLabelValues(cn.endpoint)
	gauge.Inc() // before the ack, so a client never sees its stream uncounted
	// The ack is queued before the stream can queue anything (FIFO): it arrives first.
	ts := cn.ts()
	cn.reply("subscribe_success", obj{{"type", "subscribe_success"}, {"stream_id", id}, {"timestamp", ts}})
	cn.log.Debug("websocket stream start", zap.String("stream_id", id))
	go func() {
		defer cn.wg.Done()
		defer close(st.done)
		defer gauge.Dec()
		defer cn.forget(st) // a finished stream is no longer subscribed (§15 B19)
		defer cancel()
		sctx, span := cn.startStreamSpan(sctx, id)
		defer span.End()
		start(sctx)
	}()
}

func (cn *wsConn) forget(st *wsStream) {
	cn.mu.Lock()
	if cn.streams[st.id] == st {
		delete(cn.streams, st.id)
	}
	cn.mu.Unlock()
}

func (cn *wsConn) onUnsubscribe(in inbound) {
	id, err := parseUnsubscribe(in)
	if err != nil {
		cn.sendError(codeInvalidMessage, "unsubscribe: "+err.Error(), "")
		return
	}
	// Only the named stream stops (§15 B13); unknown ids are acknowledged all the same.
	cn.mu.Lock()
	st := cn.streams[id]
	delete(cn.streams, id)
	cn.mu.Unlock()
	if st != nil {
		st.cancel()
		<-st.done // nothing of this stream can be queued after the ack
	}
	ts := cn.ts()
	cn.reply("unsubscribe", obj{{"type", "unsubscribe"}, {"stream_id", id}, {"timestamp", ts}})
}

// stopStreams cancels every stream and waits until each has returned.
func (cn *wsConn) stopStreams() {
	cn.mu.Lock()
	list := make([]*wsStream, 0, len(cn.streams))
	for id, st := range cn.streams {
		list = append(list, st)
		delete(cn.streams, id)
	}
	cn.mu.Unlock()
	for _, st := range list {
		st.cancel()
	}
	for _, st := range list {
		<-st.done
	}
}

// stopStreamsAsync cancels every stream without waiting (from the ticker, which must
// not block on a job).
func (cn *wsConn) stopStreamsAsync() {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for _, st := range cn.streams {
		st.cancel()
	}
}

// streamFailed reports a job error as STREAM_ERROR without leaking internals.
func (cn *wsConn) streamFailed(id string, err error) {
	var ve *jobs.ValidationError
	var re *jobs.RequestError
	msg := "internal error"
	switch {
	case errors.As(err, &ve), errors.As(err, &re):
		msg = err.Error()
	case errors.Is(err, jobs.ErrBusy):
		msg = "server busy: every worker is taken, retry later"
	case errors.Is(err, jobs.ErrClosed):
		msg = "server shutting down"
	default:
		cn.log.Error("websocket stream failed", zap.String("stream_id", id), zap.Error(err))
	}
	cn.sendError(codeStreamError, msg, id)
}
