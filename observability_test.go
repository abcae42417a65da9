package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"sigs.k8s.io/yaml"

	pb "mfn/proto"
)

// otlpReceiver is a real OTLP/gRPC trace collector on 127.0.0.1 that keeps every span.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu      sync.Mutex
	spans   []*tracepb.Span
	service string // service.name of the last export
	got     chan struct{}
	addr    string
}

func startReceiver(t testing.TB) *otlpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &otlpReceiver{got: make(chan struct{}, 1), addr: ln.Addr().String()}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, r)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return r
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				r.service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	r.mu.Unlock()
	select {
	case r.got <- struct{}{}:
	default:
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// trace waits until the spans of traceID include every name in want and returns them.
func (r *otlpReceiver) trace(t *testing.T, traceID string, want ...string) []*tracepb.Span {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		var spans []*tracepb.Span
		for _, s := range r.spans {
			if hex.EncodeToString(s.TraceId) == traceID {
				spans = append(spans, s)
			}
		}
		r.mu.Unlock()
		missing := false
		for _, n := range want {
			missing = missing || byName(spans, n) == nil
		}
		if !missing {
			return spans
		}
		select {
		case <-r.got:
		case <-deadline:
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			t.Fatalf("trace %s: want spans %v, have %v", traceID, want, names)
		}
	}
}

func byName(spans []*tracepb.Span, name string) *tracepb.Span {
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func attr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return nil
}

func id(b []byte) string { return hex.EncodeToString(b) }

// requireChild checks that child's parent is parent's span id.
func requireChild(t *testing.T, parent, child *tracepb.Span) {
	t.Helper()
	require.NotNil(t, child)
	require.Equal(t, id(parent.SpanId), id(child.ParentSpanId), "%s is a child of %s", child.Name, parent.Name)
}

// traceparent is a fixed sampled W3C trace context: the trace a caller started.
func traceparent(traceID, spanID string) string { return "00-" + traceID + "-" + spanID + "-01" }

// observed is one mfn serving with tracing on, an admin listener and a Kafka pipeline
// (kfake in → mfn → out, a flaky webhook and a dead-letter topic), stopped at cleanup.
type observed struct {
	addr, admin string
	recv        *otlpReceiver
	brokers     []string
	hookCalls   atomic.Int32
}

func startObserved(t *testing.T) *observed {
	t.Helper()
	// The batch span processor's default 5 s delay would only make the test slower.
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	o := &observed{addr: freePort(t), admin: freePort(t), recv: startReceiver(t)}
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out", "dlq"))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	o.brokers = cl.ListenAddrs()
	// The webhook refuses its first call (503): a sink retry for the metrics.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if o.hookCalls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	cfg := fmt.Sprintf(`server:
  addr: %s
  admin_addr: %s
  shutdown_grace: 5s
  ws:
    max_connections: 1
  auth:
    keys: ["secret-key-that-must-not-show"]
log:
  level: ERROR
telemetry:
  tracing:
    enabled: true
    exporter: otlp_grpc
    endpoint: http://%s
    service_name: mfn-test
pipelines:
  - name: kafka
    source:
      type: kafka
      kafka: {brokers: [%q], topics: [in], group: obs, retry_backoff: 100ms, commit_interval: 20ms}
    sinks:
      - name: out
        type: kafka
        kafka: {brokers: [%q], topic: out, timeout: 5s}
      - name: hook
        type: webhook
        webhook: {url: %q}
    dead_letter:
      name: dlq
      type: kafka
      kafka: {brokers: [%q], topic: dlq, timeout: 5s}
    retry: {initial_backoff: 10ms, max_backoff: 50ms}
    grace_period: 5s
    reconnect_backoff: 100ms
`, o.addr, o.admin, o.recv.addr, o.brokers[0], o.brokers[0], hook.URL, o.brokers[0])
	path := filepath.Join(t.TempDir(), "mfn.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	var stderr syncBuffer
	go func() { code <- run(ctx, []string{"serve", "--config", path}, envOf(nil), &stderr, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-code:
			require.Equal(t, 0, c, stderr.String())
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
		}
	})
	require.Eventually(t, func() bool {
		res, err := http.Get("http://" + o.addr + "/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, 15*time.Second, 20*time.Millisecond, "mfn ready: %s", &stderr)
	return o
}

// TestTracesAndMetrics runs one mfn with tracing on against an in-process OTLP
// receiver and checks, per transport, one connected trace continuing the caller's
// traceparent; then the admin listener; then that every metric of the dashboard and the
// alert rules is exported once REST, gRPC, WebSocket and the pipeline have run.
func TestTracesAndMetrics(t *testing.T) {
	o := startObserved(t)

	t.Run("REST request", func(t *testing.T) {
		const tid, sid = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
		req, _ := http.NewRequest(http.MethodPost, "http://"+o.addr+"/nernst",
			strings.NewReader(`{"z_valence":1,"concentration_out_molar":0.005,"concentration_in_molar":0.14,"temperature_k":310.0}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", traceparent(tid, sid))
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)

		spans := o.recv.trace(t, tid, "POST /nernst", "job.queue", "job.run nernst")
		root := byName(spans, "POST /nernst")
		require.Equal(t, sid, id(root.ParentSpanId), "the server span continues the caller's span")
		require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, root.Kind)
		require.Equal(t, "/nernst", attr(root, "http.route").GetStringValue())
		require.EqualValues(t, 200, attr(root, "http.response.status_code").GetIntValue())
		require.Equal(t, res.Header.Get("X-Request-ID"), attr(root, "mfn.request_id").GetStringValue())
		requireChild(t, root, byName(spans, "job.queue"))
		run := byName(spans, "job.run nernst")
		requireChild(t, root, run)
		require.Equal(t, "nernst", attr(run, "mfn.job.kind").GetStringValue())
		require.Len(t, spans, 3)
	})

	t.Run("gRPC SimulateStream", func(t *testing.T) {
		const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		conn, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		// A probe first: health checks are not traced (they would flood the traces).
		const probeTID = "77777777777777777777777777777777"
		hctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent(probeTID, sid))
		_, err = healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent(tid, sid))
		seed, grid, steps := int32(3), int32(16), int32(6)
		stream, err := pb.NewMyceliumServiceClient(conn).SimulateStream(ctx, &pb.SimulateRequest{Seed: &seed, GridSize: &grid, Steps: &steps})
		require.NoError(t, err)
		n := 0
		for {
			_, err := stream.Recv()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			n++
		}
		require.Positive(t, n)

		const name = "mycelium.MyceliumService/SimulateStream"
		spans := o.recv.trace(t, tid, name, "job.queue", "job.run simulate")
		root := byName(spans, name)
		require.Equal(t, sid, id(root.ParentSpanId))
		require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, root.Kind)
		require.Contains(t, attr(root, "rpc.method").GetStringValue(), "SimulateStream")
		requireChild(t, root, byName(spans, "job.queue"))
		requireChild(t, root, byName(spans, "job.run simulate"))
		// Spans are exported in end order: the probe's would have arrived by now.
		o.recv.mu.Lock()
		defer o.recv.mu.Unlock()
		for _, s := range o.recv.spans {
			require.NotEqual(t, probeTID, id(s.TraceId), "health check traced: %s", s.Name)
		}
	})

	t.Run("Kafka job", func(t *testing.T) {
		const tid, sid = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
		sc := sarama.NewConfig()
		sc.Version = sarama.V2_1_0_0
		sc.Producer.Return.Successes = true
		prod, err := sarama.NewSyncProducer(o.brokers, sc)
		require.NoError(t, err)
		_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: "in", Value: sarama.StringEncoder(jobLine("traced-1", 5)),
			Headers: []sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte(traceparent(tid, sid))}}})
		require.NoError(t, err)
		// An invalid job: a failed message and a dead letter for the metrics.
		_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: "in", Value: sarama.StringEncoder(`{"request_id":"bad-1","type":"simulate","params":{"grid_size":-1}}`)})
		require.NoError(t, err)
		require.NoError(t, prod.Close())

		out := consumeOne(t, o.brokers, "out", "traced-1")
		var got string
		for _, h := range out.Headers {
			if string(h.Key) == "traceparent" {
				got = string(h.Value)
			}
		}
		require.Regexp(t, "^00-"+tid+"-[0-9a-f]{16}-01$", got, "the result record continues the producer's trace")

		spans := o.recv.trace(t, tid, "pipeline.message kafka", "job.queue", "job.run simulate", "publish out", "publish hook")
		msg := byName(spans, "pipeline.message kafka")
		require.Equal(t, sid, id(msg.ParentSpanId), "the message span continues the record's traceparent")
		require.Equal(t, tracepb.Span_SPAN_KIND_CONSUMER, msg.Kind)
		require.Equal(t, "traced-1", attr(msg, "mfn.request_id").GetStringValue())
		require.True(t, slices.ContainsFunc(msg.Events, func(e *tracepb.Span_Event) bool { return e.Name == "ack" }), "ack event")
		requireChild(t, msg, byName(spans, "job.queue"))
		requireChild(t, msg, byName(spans, "job.run simulate"))
		pubOut := byName(spans, "publish out")
		requireChild(t, msg, pubOut)
		require.Equal(t, tracepb.Span_SPAN_KIND_PRODUCER, pubOut.Kind)
		requireChild(t, msg, byName(spans, "publish hook"))
		require.Equal(t, "00-"+tid+"-"+id(pubOut.SpanId)+"-01", got, "the consumer of the result continues from the publish span")
		require.Equal(t, "mfn-test", o.recv.service)
	})

	t.Run("WebSocket subscription", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		const tid, sid = "9c1e6a8d2f3b4c5d6e7f8a9b0c1d2e3f", "1122334455667788"
		c, _, err := websocket.Dial(ctx, "ws://"+o.addr+"/ws/simulation_live", &websocket.DialOptions{
			HTTPHeader: http.Header{"Traceparent": {traceparent(tid, sid)}}})
		require.NoError(t, err)
		defer c.CloseNow()
		// max_connections 1: a second socket is refused (a rejection for the metrics).
		_, res, err := websocket.Dial(ctx, "ws://"+o.addr+"/ws/stream_features", nil)
		require.Error(t, err)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "auth", "payload": map[string]any{
			"api_key": "secret-key-that-must-not-show", "timestamp": float64(time.Now().UnixMilli())}}))
		var m map[string]any
		require.NoError(t, wsjson.Read(ctx, c, &m))
		require.Equal(t, "auth_success", m["type"], "%v", m)
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "subscribe", "payload": map[string]any{
			"stream_type": "simulation_live", "stream_id": "s1", "params": map[string]any{"seed": 1, "grid_size": 16, "steps": 4, "update_interval_steps": 2}}}))
		for {
			var m map[string]any
			require.NoError(t, wsjson.Read(ctx, c, &m))
			require.NotEqual(t, "subscribe_failed", m["type"], "%v", m)
			if m["type"] == "simulation_complete" {
				break
			}
			require.NotEqual(t, "error", m["type"], "%v", m)
		}
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))

		// The upgrade request's span lasts the session; the subscription is its child
		// and the simulation's job spans are the subscription's.
		spans := o.recv.trace(t, tid, "GET /ws/simulation_live", "ws.subscribe simulation_live", "job.run simulate")
		up := byName(spans, "GET /ws/simulation_live")
		require.Equal(t, sid, id(up.ParentSpanId))
		sub := byName(spans, "ws.subscribe simulation_live")
		requireChild(t, up, sub)
		require.Equal(t, "s1", attr(sub, "mfn.ws.stream_id").GetStringValue())
		requireChild(t, sub, byName(spans, "job.run simulate"))
	})

	t.Run("admin listener", func(t *testing.T) {
		get := func(url string) (int, string) {
			res, err := http.Get(url)
			require.NoError(t, err)
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		code, _ := get("http://" + o.admin + "/debug/pprof/")
		require.Equal(t, 200, code, "pprof on the admin port")
		code, _ = get("http://" + o.admin + "/debug/pprof/goroutine?debug=1")
		require.Equal(t, 200, code)
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof/profile", "/config"} {
			code, _ = get("http://" + o.addr + p)
			require.Equal(t, 404, code, "%s is not on the main port", p)
		}
		code, body := get("http://" + o.admin + "/config")
		require.Equal(t, 200, code)
		require.NotContains(t, body, "secret-key-that-must-not-show")
		var cfg map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &cfg))
		require.Equal(t, "<1 redacted>", cfg["server.auth.keys"])
		require.Equal(t, true, cfg["telemetry.tracing.enabled"])
		code, _ = get("http://" + o.addr + "/metrics")
		require.Equal(t, 200, code, "/metrics stays on the main port by default")

		// The sampled REST request above left its trace id as an exemplar on the
		// latency histogram and on the job duration (OpenMetrics only carries exemplars).
		req, _ := http.NewRequest(http.MethodGet, "http://"+o.admin+"/metrics", nil)
		req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Regexp(t, `mfn_http_request_duration_seconds_bucket\{endpoint="/nernst".*# \{trace_id="0af7651916cd43dd8448eb211c80319c"\}`, string(b))
		require.Regexp(t, `mfn_job_duration_seconds_bucket\{kind="nernst".*# \{trace_id="0af7651916cd43dd8448eb211c80319c"\}`, string(b))
	})

	t.Run("dashboard and rules use exported metrics", func(t *testing.T) {
		// A connection that speaks no known protocol: a refusal for the metrics.
		c, err := net.Dial("tcp", o.addr)
		require.NoError(t, err)
		_, _ = c.Write([]byte("NOT A PROTOCOL\r\n\r\n"))
		_, _ = io.Copy(io.Discard, c)
		c.Close()

		exprs := dashboardExprs(t)
		exprs = append(exprs, ruleExprs(t)...)
		require.Greater(t, len(exprs), 30)
		used := map[string]bool{}
		for _, e := range exprs {
			for _, n := range metricNames(t, e) {
				used[n] = true
			}
		}
		// Polled: the pipeline's dead letter and the refused connection are counted
		// asynchronously to this test.
		var missing []string
		for deadline := time.Now().Add(10 * time.Second); ; {
			exported := scrape(t, "http://"+o.admin+"/metrics")
			missing = missing[:0]
			for n := range used {
				if !exported[n] && !strings.HasPrefix(n, "kube_") { // kube-state-metrics, not mfn
					missing = append(missing, n)
				}
			}
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond) // a scrape interval: the counters have no event to wait on
		}
		slices.Sort(missing)
		require.Empty(t, missing, "metrics the dashboard or rules use that mfn does not export")
	})
}

// consumeOne reads topic from the start until the record keyed requestID arrives.
func consumeOne(t *testing.T, brokers []string, topic, requestID string) *sarama.ConsumerMessage {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	c, err := sarama.NewConsumer(brokers, sc)
	require.NoError(t, err)
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Key) == requestID {
				return m
			}
		case <-deadline:
			t.Fatalf("no record %s on %s", requestID, topic)
		}
	}
}

// grafanaVars stands in for the dashboard's variables so that the parser sees PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	var d struct {
		Templating struct {
			List []struct {
				Name, Type string
			}
		}
		Panels []struct {
			Type    string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(mustRead(t, "deploy/grafana-dashboard.json"), &d))
	require.True(t, slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type string }) bool {
		return v.Name == "DS_PROMETHEUS" && v.Type == "datasource"
	}), "a DS_PROMETHEUS datasource variable")
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel target without expr")
			out = append(out, grafanaVars.Replace(tg.Expr))
		}
	}
	return out
}

func ruleExprs(t *testing.T) []string {
	t.Helper()
	var f ruleFile
	require.NoError(t, yaml.UnmarshalStrict(mustRead(t, "deploy/prometheus-rules.yaml"), &f))
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// metricNames parses e with Prometheus's own parser and returns the metric names it selects.
func metricNames(t *testing.T, e string) []string {
	t.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(e)
	require.NoError(t, err, "PromQL: %s", e)
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			require.NotEmpty(t, vs.Name, "selector without a metric name in %s", e)
			names = append(names, vs.Name)
		}
		return nil
	})
	require.NotEmpty(t, names, e)
	return names
}

var sampleName = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]`)

// scrape returns the sample names of a /metrics page (histograms as _bucket/_sum/_count).
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if m := sampleName.FindSubmatch(line); m != nil {
			out[string(m[1])] = true
		}
	}
	return out
}
