package connectors

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { sarama.Logger = log.New(io.Discard, "", 0) }

// TestKafkaWindowHoldsUncommitted checks the replay bound at the source: with a window
// of 8 it hands out 8 messages and no 9th while they are unacked, still none when 7 of
// them are acked behind the first (the prefix cannot commit), and continues once the
// first is acked and the prefix committed (the committed offset is then 8).
func TestKafkaWindowHoldsUncommitted(t *testing.T) {
	const window, n = 8, 20
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	brokers := cl.ListenAddrs()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(brokers, sc)
	require.NoError(t, err)
	for i := range n {
		_, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "in", Value: sarama.StringEncoder(fmt.Sprint(i))})
		require.NoError(t, err)
	}
	require.NoError(t, prod.Close())

	cfg := DefaultKafkaConfig()
	cfg.Brokers, cfg.Topics, cfg.Group = brokers, []string{"in"}, "w"
	cfg.SessionTimeout, cfg.Heartbeat = time.Second, 200*time.Millisecond
	cfg.CommitInterval = time.Hour // only the batch trigger and release commit
	k, err := NewKafka(cfg, nil)
	require.NoError(t, err)
	k.SetWindow(window)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, k.Connect(ctx))
	defer func() { require.NoError(t, k.Close(context.Background())) }()

	acks := make([]AckFunc, window)
	for i := range window {
		msg, ack, err := k.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("kafka:in/0/%d", i), msg.ID)
		acks[i] = ack
	}
	// The 9th must not come: there is no event to wait for, so a bounded wait.
	blocked := func() bool {
		c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, _, err := k.Read(c)
		return err == context.DeadlineExceeded
	}
	require.True(t, blocked(), "a 9th message was handed out with 8 unacked")
	for _, ack := range acks[1:] {
		require.NoError(t, ack(ctx, nil))
	}
	require.True(t, blocked(), "acks behind an unacked message freed the window")
	require.NoError(t, acks[0](ctx, nil)) // the prefix 0-7 is committable: 8 ≥ window/4 commits at once
	msg, ack, err := k.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "kafka:in/0/8", msg.ID)
	require.NoError(t, ack(ctx, nil))

	admin, err := sarama.NewClusterAdmin(brokers, sc)
	require.NoError(t, err)
	defer admin.Close()
	offs, err := admin.ListConsumerGroupOffsets("w", map[string][]int32{"in": {0}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, offs.Blocks["in"][0].Offset, int64(window), "the message after the window came before its commit")
}

// TestKafkaPingReportsFailingCommits checks that readiness names failing offset
// commits (acked messages then hold the window) and clears once a commit succeeds.
func TestKafkaPingReportsFailingCommits(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	var failing atomic.Bool
	failing.Store(true)
	cl.ControlKey(int16(kmsg.OffsetCommit), func(r kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		if !failing.Load() {
			return nil, nil, false // the broker answers as usual
		}
		req := r.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	brokers := cl.ListenAddrs()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(brokers, sc)
	require.NoError(t, err)
	_, _, err = prod.SendMessage(&sarama.ProducerMessage{Topic: "in", Value: sarama.StringEncoder("x")})
	require.NoError(t, err)
	require.NoError(t, prod.Close())

	cfg := DefaultKafkaConfig()
	cfg.Brokers, cfg.Topics, cfg.Group = brokers, []string{"in"}, "p"
	cfg.SessionTimeout, cfg.Heartbeat, cfg.CommitInterval = time.Second, 200*time.Millisecond, 20*time.Millisecond
	k, err := NewKafka(cfg, nil)
	require.NoError(t, err)
	k.SetWindow(4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, k.Connect(ctx))
	defer func() { require.NoError(t, k.Close(context.Background())) }()
	_, ack, err := k.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, ack(ctx, nil))

	// The commit's outcome is internal: poll Ping.
	pingUntil := func(ok bool) error {
		for {
			err := k.Ping(ctx)
			if (err == nil) == ok || ctx.Err() != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	err = pingUntil(false)
	require.ErrorContains(t, err, "kafka offset commit failing")
	require.ErrorIs(t, err, sarama.ErrOffsetsLoadInProgress)
	failing.Store(false)
	require.NoError(t, pingUntil(true))
}
