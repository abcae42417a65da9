package ws

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// wsMetrics are the stream hub's collectors; WebSocket traffic is invisible to the HTTP
// metrics, so it gets its own.
type wsMetrics struct {
	connections *prometheus.GaugeVec   // endpoint
	sent        *prometheus.CounterVec // endpoint, type
	dropped     *prometheus.CounterVec // endpoint
	rejected    *prometheus.CounterVec // reason
	streams     *prometheus.GaugeVec   // endpoint
}

func newWSMetrics(reg prometheus.Registerer) (*wsMetrics, error) {
	m := &wsMetrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mfn_ws_connections", Help: "Open WebSocket connections.",
		}, []string{"endpoint"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfn_ws_messages_sent_total", Help: "WebSocket messages written to clients.",
		}, []string{"endpoint", "type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfn_ws_messages_dropped_total", Help: "Data messages dropped by back-pressure on slow clients.",
		}, []string{"endpoint"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mfn_ws_connections_rejected_total", Help: "WebSocket upgrades refused before accept.",
		}, []string{"reason"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mfn_ws_streams", Help: "Running WebSocket streams (subscriptions).",
		}, []string{"endpoint"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connections, m.sent, m.dropped, m.rejected, m.streams} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register websocket metrics: %w", err)
		}
	}
	return m, nil
}
