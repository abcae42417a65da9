package connectors

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no type", Config{}, "source.type: empty"},
		{"bad type", Config{Type: "ftp"}, "source.type: unknown"},
		{"kafka brokers", Config{Type: "kafka"}, "source.kafka.brokers: empty"},
		{"kafka broker form", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) { c.Brokers = []string{"nohost"} })}, "source.kafka.brokers[0]"},
		{"kafka topics", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) { c.Brokers = []string{"a:1"} })}, "source.kafka.topics: empty"},
		{"kafka group", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) { c.Brokers = []string{"a:1"}; c.Topics = []string{"t"} })}, "source.kafka.group: empty"},
		{"kafka initial", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topics = []string{"t"}
			c.Group = "g"
			c.Initial = "middle"
		})}, "source.kafka.initial"},
		{"kafka sasl", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topics = []string{"t"}
			c.Group = "g"
			c.SASL = SASLConfig{Mechanism: "GSSAPI"}
		})}, "source.kafka.sasl.mechanism"},
		{"file dir", Config{Type: "file"}, "source.file.dir: empty"},
		{"rest url", Config{Type: "rest", REST: set(DefaultRESTConfig(), func(c *RESTConfig) { c.URL = "nope" })}, "source.rest.url"},
		{"rest state_file dir", Config{Type: "rest", REST: set(DefaultRESTConfig(), func(c *RESTConfig) { c.URL = "http://x"; c.StateFile = "/var/lib/mfn/" })}, "source.rest.state_file"},
		{"kafka ok", Config{Type: "kafka", Kafka: set(DefaultKafkaConfig(), func(c *KafkaConfig) {
			c.Brokers = []string{"a:1"}
			c.Topics = []string{"t"}
			c.Group = "g"
			c.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u"}
		})}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// set returns c changed by f: test configs start from a Default*Config, as decoding
// does, and name only what they change.
func set[T any](c T, f func(*T)) T {
	f(&c)
	return c
}
