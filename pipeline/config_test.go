package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/spf13/viper"
	"github.com/stretchr/testify/require"

	"mfn/publishers"
)

// TestExampleConfig decodes testdata/example.yaml the way the config package does
// (viper + mapstructure tags) and builds every pipeline from it.
func TestExampleConfig(t *testing.T) {
	v := viper.New()
	v.SetConfigFile("testdata/example.yaml")
	require.NoError(t, v.ReadInConfig())
	cfgs := Defaults(v.Get("pipelines"))
	require.NoError(t, v.UnmarshalKey("pipelines", &cfgs))
	require.Len(t, cfgs, 3)
	for i, c := range cfgs {
		require.NoError(t, c.Validate(), "pipelines[%d]", i)
	}
	c := cfgs[0]
	require.Equal(t, []string{"mfn-simulation-requests"}, c.Source.Kafka.Topics)
	require.Equal(t, 20*time.Second, c.Source.Kafka.DrainTimeout)
	require.Equal(t, "callback", c.Sinks[1].Name)
	require.Equal(t, "change-me", c.Sinks[1].Webhook.Secret)
	require.Equal(t, "mfn-dead-letter", c.DeadLetter.Kafka.Topic)
	require.Equal(t, 0.5, c.Retry.Jitter)
	require.Equal(t, "file-0", cfgs[1].withNames().Sinks[0].Name)
	_, err := New(cfgs, newPool(t, 1), nil, nil)
	require.NoError(t, err)
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.Name = "p"
		c.Source.Type, c.Source.File.Dir = "file", "/in"
		c.Sinks = []publishers.Config{publishers.DefaultConfig()}
		c.Sinks[0].Type, c.Sinks[0].File.Dir = "file", "/out"
		return c
	}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"name", func(c *Config) { c.Name = "" }, "name: empty"},
		{"name chars", func(c *Config) { c.Name = "a b" }, "name:"},
		{"source", func(c *Config) { c.Source.Type = "kafka" }, "source.kafka.brokers: empty"},
		{"no sinks", func(c *Config) { c.Sinks = nil }, "sinks: empty"},
		{"sink", func(c *Config) { c.Sinks = append(c.Sinks, publishers.Config{Type: "webhook"}) }, "sinks[1].webhook.url: empty"},
		{"sink zero timeout", func(c *Config) {
			c.Sinks = append(c.Sinks, publishers.Config{Type: "webhook", Webhook: publishers.WebhookConfig{URL: "http://x"}})
		}, "sinks[1].webhook.timeout: must be positive"},
		{"dup sink", func(c *Config) { c.Sinks = append(c.Sinks, c.Sinks[0]); c.Sinks[0].Name, c.Sinks[1].Name = "x", "x" }, "sinks[1].name: duplicate"},
		{"dead letter", func(c *Config) { c.DeadLetter.Type = "kafka" }, "dead_letter.kafka.brokers: empty"},
		{"concurrency", func(c *Config) { c.Concurrency = -1 }, "concurrency"},
		{"concurrency beyond the cap", func(c *Config) { c.Concurrency = MaxWindow + 1 }, "concurrency: 16385 is outside [0 (auto), 16384]"},
		{"retry", func(c *Config) { c.Retry.MaxAttempts = -2 }, "retry.max_attempts"},
		{"jitter", func(c *Config) { c.Retry.Jitter = 2 }, "retry.jitter"},
		{"no jitter, no first wait", func(c *Config) { c.Retry.Jitter, c.Retry.InitialBackoff = 0, 0 }, ""},
		{"reconnect backoff", func(c *Config) { c.ReconnectBackoff = 0 }, "reconnect_backoff: must be positive"},
		{"grace", func(c *Config) { c.GracePeriod = -time.Second }, "grace_period"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mut(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := New([]Config{good(), func() Config { c := good(); c.Source.Type = "rest"; return c }()}, newPool(t, 1), nil, nil)
	require.ErrorContains(t, err, "pipelines[1].source.rest.url: empty")
}

// TestManagerWithoutPipelinesBlocks: Run is an actor of main's run group, so returning
// before ctx is done would stop the whole process.
func TestManagerWithoutPipelinesBlocks(t *testing.T) {
	m, err := New(nil, nil, nil, nil)
	require.NoError(t, err)
	require.NoError(t, m.Ready())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run returned before ctx was done: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	require.NoError(t, <-done)
}
