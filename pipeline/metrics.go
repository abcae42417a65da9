package pipeline

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"mfn/connectors"
)

type metrics struct {
	consumed, succeeded, failed, deadLettered *prometheus.CounterVec
	retries                                   *prometheus.CounterVec
	lag                                       *prometheus.Desc
	m                                         *Manager
}

func newMetrics(reg prometheus.Registerer, m *Manager) (*metrics, error) {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"pipeline"}, labels...))
	}
	mt := &metrics{
		consumed:     c("mfn_pipeline_messages_consumed_total", "Messages read from the pipeline's source."),
		succeeded:    c("mfn_pipeline_messages_succeeded_total", "Messages whose complete result reached every sink."),
		failed:       c("mfn_pipeline_messages_failed_total", "Messages that ended in an error result or could not be delivered."),
		deadLettered: c("mfn_pipeline_messages_dead_lettered_total", "Records published to the dead-letter sink."),
		retries:      c("mfn_pipeline_sink_retries_total", "Publish attempts retried, per sink.", "sink"),
		lag:          prometheus.NewDesc("mfn_pipeline_consumer_lag", "Messages waiting in the source (Kafka: high-water mark minus position over claimed partitions).", []string{"pipeline"}, nil),
		m:            m,
	}
	if reg == nil {
		return mt, nil
	}
	for _, col := range []prometheus.Collector{mt.consumed, mt.succeeded, mt.failed, mt.deadLettered, mt.retries, mt} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("register pipeline metrics: %w", err)
		}
	}
	return mt, nil
}

// Describe and Collect export the lag gauge, read from the sources at scrape time.
func (mt *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- mt.lag }

func (mt *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, p := range mt.m.pipes {
		if lr, ok := p.src.(connectors.LagReporter); ok {
			if lag, ok := lr.Lag(); ok {
				ch <- prometheus.MustNewConstMetric(mt.lag, prometheus.GaugeValue, float64(lag), p.cfg.Name)
			}
		}
	}
}
