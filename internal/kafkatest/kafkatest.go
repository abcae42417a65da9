// Package kafkatest reads result topics in tests and benchmarks: every partition from the
// oldest offset, one goroutine per partition, stopped and waited for when the test ends.
// It is imported by tests only.
package kafkatest

import (
	"encoding/json"
	"maps"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// ConsumeAll calls onMessage for every record of every partition of topic, from the oldest
// offset, until the test ends. onMessage runs on one goroutine per partition. sc carries the
// caller's version, fetch wait and dialer.
func ConsumeAll(tb testing.TB, brokers []string, sc *sarama.Config, topic string, onMessage func(*sarama.ConsumerMessage)) {
	tb.Helper()
	c, err := sarama.NewConsumer(brokers, sc)
	require.NoError(tb, err)
	parts, err := c.Partitions(topic)
	require.NoError(tb, err)
	var wg sync.WaitGroup
	var pcs []sarama.PartitionConsumer
	tb.Cleanup(func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
		_ = c.Close()
	})
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(tb, err)
		pcs = append(pcs, pc)
		wg.Go(func() {
			for m := range pc.Messages() {
				onMessage(m)
			}
		})
	}
}

// Counts is how many complete results of each request id a topic holds so far.
type Counts struct {
	mu  sync.Mutex
	ids map[string]int
}

// CountComplete counts the complete result envelopes of topic per request id; any other
// record fails the test.
func CountComplete(tb testing.TB, brokers []string, sc *sarama.Config, topic string) *Counts {
	tb.Helper()
	c := &Counts{ids: map[string]int{}}
	ConsumeAll(tb, brokers, sc, topic, func(m *sarama.ConsumerMessage) {
		var r struct {
			RequestID string `json:"request_id"`
			Status    string `json:"status"`
		}
		if json.Unmarshal(m.Value, &r) != nil || r.Status != "complete" {
			tb.Errorf("bad result %s", m.Value)
			return
		}
		c.mu.Lock()
		c.ids[r.RequestID]++
		c.mu.Unlock()
	})
	return c
}

// Snapshot copies the counts.
func (c *Counts) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ids)
}

// Distinct is the number of request ids seen.
func (c *Counts) Distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// Duplicates is the number of records beyond the first of each request id.
func (c *Counts) Duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := 0
	for _, n := range c.ids {
		d += n - 1
	}
	return d
}
