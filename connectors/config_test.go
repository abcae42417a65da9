package connectors

import (
	"crypto/sha256"
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
		{"kafka broker form", Config{Type: "kafka", Kafka: KafkaConfig{Brokers: []string{"nohost"}}}, "source.kafka.brokers[0]"},
		{"kafka topics", Config{Type: "kafka", Kafka: KafkaConfig{Brokers: []string{"a:1"}}}, "source.kafka.topics: empty"},
		{"kafka group", Config{Type: "kafka", Kafka: KafkaConfig{Brokers: []string{"a:1"}, Topics: []string{"t"}}}, "source.kafka.group: empty"},
		{"kafka initial", Config{Type: "kafka", Kafka: KafkaConfig{Brokers: []string{"a:1"}, Topics: []string{"t"}, Group: "g", Initial: "middle"}}, "source.kafka.initial"},
		{"kafka sasl", Config{Type: "kafka", Kafka: KafkaConfig{Brokers: []string{"a:1"}, Topics: []string{"t"}, Group: "g", SASL: SASLConfig{Mechanism: "GSSAPI"}}}, "source.kafka.sasl.mechanism"},
		{"file dir", Config{Type: "file"}, "source.file.dir: empty"},
		{"rest url", Config{Type: "rest", REST: RESTConfig{URL: "nope"}}, "source.rest.url"},
		{"kafka ok", Config{Type: "kafka", Kafka: KafkaConfig{Brokers: []string{"a:1"}, Topics: []string{"t"}, Group: "g", SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u"}}}, ""},
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

// TestSCRAMClientRFC7677 replays the SCRAM-SHA-256 example of RFC 7677 §3.
func TestSCRAMClientRFC7677(t *testing.T) {
	c := &scramClient{hash: sha256.New}
	require.NoError(t, c.Begin("user", "pencil", ""))
	c.nonce = "rOprNGfwEbeRWgbNEkqO"
	first, err := c.Step("")
	require.NoError(t, err)
	require.Equal(t, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", first)
	final, err := c.Step("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	require.NoError(t, err)
	require.Equal(t, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", final)
	_, err = c.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.NoError(t, err)
	require.True(t, c.Done())
}
