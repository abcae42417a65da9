package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"mfn/jobs"
	pb "mfn/proto"
)

func newTestServer(t *testing.T, cfg Config, pool *jobs.Pool) *Server {
	t.Helper()
	s, err := New(Params{HTTP: cfg, GRPC: DefaultGRPCConfig(), WS: DefaultWSConfig(), Runner: pool,
		Log: zaptest.NewLogger(t), Registry: prometheus.NewRegistry()})
	require.NoError(t, err)
	return s
}

// serve runs s on a loopback port; stop cancels it and returns Serve's error.
func serve(t *testing.T, s *Server) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, nil) }()
	var once bool
	var result error
	stop = func() error {
		if !once {
			once = true
			cancel()
			result = <-errc
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + s.Addr().String(), stop
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	var documented, served []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	for _, r := range s.Routes() {
		served = append(served, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	require.Equal(t, documented, served)
}

func TestOnePortServesHTTPGRPCAndWebSocket(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, stop := serve(t, s)

	r := call(t, "GET", base+"/health", "")
	require.Equal(t, 200, r.status)
	require.Contains(t, string(call(t, "GET", base+"/", "").body), "<html")

	// gRPC on the same port (grpc-go waits for SETTINGS: PITFALLS §1.1).
	cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && res.Status == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 50*time.Millisecond)

	// A WebSocket upgrade on the same port reaches the hub, which answers init.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/simulation_live", nil)
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(`{"type":"init","payload":{"protocol_version":"1.0"}}`)))
	_, msg, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(msg), `"type":"init"`)

	// Shutdown closes the WebSocket (going away) and drains cleanly.
	require.NoError(t, stop())
	_, _, err = ws.Read(ctx)
	require.Error(t, err)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	_, err = hc.Check(ctx2, &healthpb.HealthCheckRequest{})
	require.Error(t, err)
}

func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, stop := serve(t, s)
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Post(base+"/simulate", "application/json", strings.NewReader(`{"grid_size":256,"steps":600}`))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	// Wait until the request is being served.
	require.Eventually(t, func() bool {
		return strings.Contains(string(call(t, "GET", base+"/metrics", "").body),
			`mfn_http_requests_in_progress{endpoint="/simulate",method="POST"} 1`)
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, stop())
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, 200, r.status, r.body)
	require.Contains(t, r.body, "fractal_dimension")
	// The port is closed now.
	_, err := http.Get(base + "/health")
	require.Error(t, err)
}

func TestSeparateGRPCPort(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln, gln) }()
	require.Equal(t, 200, call(t, "GET", "http://"+s.Addr().String()+"/health", "").status)
	cc, err := grpc.NewClient(gln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	require.Eventually(t, func() bool {
		c, cl := context.WithTimeout(context.Background(), time.Second)
		defer cl()
		res, err := healthpb.NewHealthClient(cc).Check(c, &healthpb.HealthCheckRequest{})
		return err == nil && res.Status == healthpb.HealthCheckResponse_SERVING
	}, 5*time.Second, 50*time.Millisecond)
	cancel()
	require.NoError(t, <-errc)
}

// TestRESTAndGRPCAgreeOnOnePort sends the same requests over REST and gRPC to one
// listener: the answers carry the same numbers, and reflection lists the service there.
func TestRESTAndGRPCAgreeOnOnePort(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, _ := serve(t, s)
	cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	client := pb.NewMyceliumServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("simulate", func(t *testing.T) {
		r := call(t, "POST", base+"/simulate", `{"seed":7,"grid_size":32,"steps":40,"alpha":0.2,"spike_probability":0.5}`)
		require.Equal(t, 200, r.status, "%s", r.body)
		var rest jobs.SimulateResult
		require.NoError(t, json.Unmarshal(r.body, &rest))
		g, err := client.Simulate(ctx, &pb.SimulateRequest{Seed: gptr[int32](7), GridSize: gptr[int32](32), Steps: gptr[int32](40),
			Alpha: gptr(0.2), SpikeProbability: gptr(0.5)})
		require.NoError(t, err)
		require.Equal(t, rest.GrowthEvents, int(g.GetGrowthEvents()))
		require.Equal(t, rest.PotMinMV, g.GetPotMinMV())
		require.Equal(t, rest.PotMaxMV, g.GetPotMaxMV())
		require.Equal(t, rest.PotMeanMV, g.GetPotMeanMV())
		require.Equal(t, rest.PotStdMV, g.GetPotStdMV())
		require.Equal(t, rest.FractalDimension, g.GetFractalDimension())
	})
	t.Run("nernst", func(t *testing.T) {
		r := call(t, "POST", base+"/nernst", `{"z_valence":2,"concentration_out_molar":0.002,"concentration_in_molar":0.0001,"temperature_k":300}`)
		require.Equal(t, 200, r.status, "%s", r.body)
		var rest jobs.NernstResult
		require.NoError(t, json.Unmarshal(r.body, &rest))
		g, err := client.ComputeNernst(ctx, &pb.NernstRequest{ZValence: gptr[int32](2), ConcentrationOutMolar: gptr(0.002),
			ConcentrationInMolar: gptr(0.0001), TemperatureK: gptr(300.0)})
		require.NoError(t, err)
		require.Equal(t, rest.PotentialMV, g.GetPotentialMV())
	})
	t.Run("federated", func(t *testing.T) {
		r := call(t, "POST", base+"/federated/aggregate", `{"gradients":[[1,2,3],[1.1,2.1,2.9],[0.9,1.8,3.2],[9,9,9]],"num_clusters":2}`)
		require.Equal(t, 200, r.status, "%s", r.body)
		var rest jobs.FederatedResult
		require.NoError(t, json.Unmarshal(r.body, &rest))
		g, err := client.AggregateFederated(ctx, &pb.FederatedAggregateRequest{NumClusters: gptr[int32](2), Gradients: []*pb.Gradient{
			{Values: []float64{1, 2, 3}}, {Values: []float64{1.1, 2.1, 2.9}}, {Values: []float64{0.9, 1.8, 3.2}}, {Values: []float64{9, 9, 9}}}})
		require.NoError(t, err)
		require.Equal(t, rest.AggregatedGradient, g.GetAggregatedGradient())
		require.Equal(t, rest.NumInputGradients, int(g.GetNumInputGradients()))
	})
	t.Run("reflection", func(t *testing.T) {
		stream, err := reflectionv1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		require.NoError(t, err)
		require.NoError(t, stream.Send(&reflectionv1.ServerReflectionRequest{
			MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}))
		res, err := stream.Recv()
		require.NoError(t, err)
		var names []string
		for _, s := range res.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		require.Contains(t, names, "mycelium.MyceliumService")
	})
}

func gptr[T any](v T) *T { return &v }
