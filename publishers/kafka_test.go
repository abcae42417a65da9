package publishers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestKafkaOversizedRecordIsPermanent: a body under max_message_bytes that goes over it
// once sarama adds key and headers can never be sent, so it must not be retried.
func TestKafkaOversizedRecordIsPermanent(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "out"))
	require.NoError(t, err)
	defer cl.Close()
	k, err := NewKafka(set(DefaultKafkaConfig(), func(c *KafkaConfig) {
		c.Brokers = cl.ListenAddrs()
		c.Topic = "out"
		c.MaxMessageBytes = 2048
		c.Timeout = 10 * time.Second
	}), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, k.Close(context.Background())) }()
	ctx := context.Background()

	require.NoError(t, k.Publish(ctx, Record{RequestID: "small", Body: []byte(`{"ok":true}`)}))

	body := []byte(`{"pad":"` + strings.Repeat("x", 2030) + `"}`) // under 2048 alone
	err = k.Publish(ctx, Record{RequestID: "big", Body: body, Headers: map[string]string{"x-extra": strings.Repeat("h", 100)}})
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrPermanent), "oversized: %v", err)

	// The producer survives: the next record goes through.
	require.NoError(t, k.Publish(ctx, Record{RequestID: "after", Body: []byte(`{"ok":true}`)}))
}
