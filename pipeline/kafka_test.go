package pipeline

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestKafkaEndToEndWithPoisonMessage(t *testing.T) {
	cl := newCluster(t, kfake.SeedTopics(2, "in", "out", "dlq"))
	brokers := cl.ListenAddrs()
	pool := newPool(t, 2)
	cfg := kafkaPipeline("e2e", brokers, "in", "out", "dlq", "g1")
	cfg.Concurrency = 2
	_, stop := startManager(t, []Config{cfg}, pool)

	var msgs [][]byte
	for i := range 3 {
		msgs = append(msgs, simJob(fmt.Sprintf("a%d", i), i))
	}
	msgs = append(msgs, []byte(`{not json`)) // poison
	msgs = append(msgs, []byte(`{"request_id":"bad","params":{"grid_size":4}}`))
	for i := 3; i < 6; i++ {
		msgs = append(msgs, simJob(fmt.Sprintf("a%d", i), i))
	}
	produce(t, brokers, "in", msgs...)

	out := distinct(readTopic(t, brokers, "out", 60*time.Second, atLeast(7)))
	for i := range 6 {
		id := fmt.Sprintf("a%d", i)
		r, ok := out[id]
		require.True(t, ok, "missing %s", id)
		require.Equal(t, "complete", r.Result["status"])
		require.Equal(t, "simulation_complete", r.Result["event"])
		require.Equal(t, "corr-"+id, r.Result["correlation_id"])
		require.Equal(t, expectedSim(t, i), r.Result["results"])
		require.Equal(t, id, r.Key)
		require.Equal(t, id, r.Headers["x-request-id"])
		require.Equal(t, "corr-"+id, r.Headers["x-correlation-id"])
		require.Equal(t, "application/json", r.Headers["content-type"])
	}
	bad := out["bad"]
	require.Equal(t, "error", bad.Result["status"])
	require.Equal(t, map[string]any{"code": "VALIDATION_ERROR", "field": "grid_size", "message": "Input should be greater than or equal to 8"}, bad.Result["error"])

	dl := readTopic(t, brokers, "dlq", 30*time.Second, func(rs []outRecord) bool { return len(rs) >= 2 })
	reasons := map[string]string{}
	for _, r := range dl {
		d := r.Result["dead_letter"].(map[string]any)
		reasons[d["reason"].(string)] = d["input"].(string)
	}
	require.Equal(t, `{not json`, reasons["undecodable"])
	require.Contains(t, reasons["invalid"], `"grid_size":4`)
	stop()
}

// TestKafkaBrokerRestart stops the broker mid-run and starts a new one on the same port
// with the same data directory (kfake.DataDir persists topics, records and committed
// offsets): no result may be lost.
func TestKafkaBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(2, "in", "out"),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	cl, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	brokers := cl.ListenAddrs()
	pool := newPool(t, 2)
	m, stop := startManager(t, []Config{kafkaPipeline("restart", brokers, "in", "out", "", "g-restart")}, pool)

	const n = 30
	var msgs [][]byte
	for i := range n {
		msgs = append(msgs, simJob("r"+strconv.Itoa(i), i))
	}
	produce(t, brokers, "in", msgs...)
	readTopic(t, brokers, "out", 60*time.Second, atLeast(3)) // mid-run
	cl.Close()
	// The restart must happen while the pipeline knows the broker is gone.
	waitFor(t, 10*time.Second, func() bool { return m.Ready() != nil })
	cl2, err := kfake.NewCluster(opts...)
	require.NoError(t, err, "restart on port %d", port)
	t.Cleanup(cl2.Close)
	require.Equal(t, brokers, cl2.ListenAddrs())

	out := distinct(readTopic(t, brokers, "out", 90*time.Second, atLeast(n)))
	for i := range n {
		require.Contains(t, out, "r"+strconv.Itoa(i))
	}
	stop()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
