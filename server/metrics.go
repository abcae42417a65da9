package server

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the reference's three HTTP metrics (api-contract §11), counting every
// response including 401, 429 and 404.
type httpMetrics struct {
	enabled    bool
	requests   *prometheus.CounterVec   // endpoint, method, status
	duration   *prometheus.HistogramVec // endpoint, method
	inProgress *prometheus.GaugeVec     // endpoint, method

	// cache resolves label values once per (endpoint, method, status): WithLabelValues
	// hashes its arguments on every call, and this is the hottest path of the server.
	cache sync.Map // metricKey -> *metricSet
}

type metricKey struct {
	endpoint, method string
}

type metricSet struct {
	duration   prometheus.Observer
	inProgress prometheus.Gauge
	mu         sync.Mutex
	byStatus   map[int]prometheus.Counter
}

func newHTTPMetrics(reg prometheus.Registerer, enabled bool) (*httpMetrics, error) {
	m := &httpMetrics{
		enabled: enabled,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfn_http_requests_total", Help: "Total HTTP requests.",
		}, []string{"endpoint", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mfn_http_request_duration_seconds", Help: "HTTP request latency in seconds.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"endpoint", "method"}),
		inProgress: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mfn_http_requests_in_progress", Help: "HTTP requests being served.",
		}, []string{"endpoint", "method"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.inProgress} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *httpMetrics) set(endpoint, method string) *metricSet {
	k := metricKey{endpoint, method}
	if v, ok := m.cache.Load(k); ok {
		return v.(*metricSet)
	}
	s := &metricSet{
		duration:   m.duration.WithLabelValues(endpoint, method),
		inProgress: m.inProgress.WithLabelValues(endpoint, method),
		byStatus:   map[int]prometheus.Counter{},
	}
	v, _ := m.cache.LoadOrStore(k, s)
	return v.(*metricSet)
}

func (s *metricSet) count(m *httpMetrics, endpoint, method string, status int) {
	s.mu.Lock()
	c := s.byStatus[status]
	if c == nil {
		c = m.requests.WithLabelValues(endpoint, method, strconv.Itoa(status))
		s.byStatus[status] = c
	}
	s.mu.Unlock()
	c.Inc()
}

// knownEndpoints are the endpoint label values; any other path is "/other", so that
// label cardinality stays bounded whatever clients send.
var knownEndpoints = []string{
	"/health", "/ready", "/validate", "/simulate", "/nernst", "/federated/aggregate", "/metrics",
	"/openapi.json", "/api/encrypt", "/api/decrypt", "/api/sign", "/api/verify", "/api/keypair",
	"/simulate/image", "/simulate/animation", "/simulate/field", "/datasets", "/ws/simulation_live", "/ws/stream_features", "/",
}

var knownEndpointSet = func() map[string]string {
	m := make(map[string]string, len(knownEndpoints))
	for _, e := range knownEndpoints {
		m[e] = e
	}
	return m
}()

// endpointLabel normalises a path: a known path, or a known path followed by "/...",
// keeps that known path; everything else is "/other".
func endpointLabel(path string) string {
	if e, ok := knownEndpointSet[path]; ok {
		return e
	}
	for _, e := range knownEndpoints {
		if e != "/" && len(path) > len(e) && path[len(e)] == '/' && path[:len(e)] == e {
			return e
		}
	}
	return "/other"
}

// knownMethod keeps the method label bounded too.
func knownMethod(m string) string {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS":
		return m
	}
	return "OTHER"
}
