package pipeline

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"mfn/connectors"
	"mfn/internal/cfgerr"
	"mfn/publishers"
)

// Config declares one pipeline (an entry of the mfn.yaml `pipelines:` list); see
// testdata/example.yaml for every key with its default. Start from DefaultConfig: a
// zero value means zero (only concurrency 0 = auto and job_timeout 0 = none are
// documented as values).
type Config struct {
	// Name labels logs and metrics (pipeline="name"); letters, digits, '-', '_', '.'.
	Name string `mapstructure:"name"`
	// Source is where jobs come from.
	Source connectors.Config `mapstructure:"source"`
	// Sinks receive every result; at least one.
	Sinks []publishers.Config `mapstructure:"sinks"`
	// DeadLetter (optional; type "" = none) receives undecodable and invalid inputs and
	// results that a sink still refused after Retry.
	DeadLetter publishers.Config `mapstructure:"dead_letter"`
	// Concurrency is the in-flight window: at most this many messages are read and not
	// yet settled at once (running, publishing or waiting for a sink), which bounds
	// memory whatever the sinks do. Default 0 = auto: SlotsPerWorker (64) per pool
	// worker, within [MinWindow, MaxAutoWindow] = [256, 1024]. 1 keeps input order end to end; with more,
	// results leave in completion order (see doc.go for what a consumer sees), while
	// Kafka offsets are still committed only as each partition's contiguous settled
	// prefix, and a Kafka source holds at most this many messages read and not yet
	// committed: a crash delivers at most the window again. The window halves when a
	// sink needs retries and grows back as publishes succeed.
	Concurrency int `mapstructure:"concurrency"`
	// Retry is the per-sink retry policy.
	Retry publishers.RetryConfig `mapstructure:"retry"`
	// GracePeriod bounds shutdown: in-flight jobs get this long to finish, publish and
	// commit. Default 20s (inside Kubernetes' 30s).
	GracePeriod time.Duration `mapstructure:"grace_period"`
	// JobTimeout bounds one job's run (0 = none, the default). A job that times out
	// produces an error result with code TIMEOUT.
	JobTimeout time.Duration `mapstructure:"job_timeout"`
	// ReconnectBackoff is the first wait after the source failed to connect; it
	// doubles up to ReconnectMaxBackoff. Defaults 500ms and 30s.
	ReconnectBackoff    time.Duration `mapstructure:"reconnect_backoff"`
	ReconnectMaxBackoff time.Duration `mapstructure:"reconnect_max_backoff"`
}

// DefaultConfig returns a pipeline with every default and no name, source type or
// sinks. Decoding a `pipelines:` entry over it (and each `sinks:` entry over
// publishers.DefaultConfig()) keeps the defaults of the keys it does not name, while an
// explicit 0 survives and is validated as written.
func DefaultConfig() Config {
	return Config{
		Source:              connectors.DefaultConfig(),
		DeadLetter:          publishers.DefaultConfig(),
		Retry:               publishers.DefaultRetryConfig(),
		GracePeriod:         20 * time.Second,
		ReconnectBackoff:    500 * time.Millisecond,
		ReconnectMaxBackoff: 30 * time.Second,
	}
}

// Defaults returns one DefaultConfig per entry of raw, the `pipelines:` list as read
// from YAML (a []any of maps), each with one publishers.DefaultConfig per entry of its
// `sinks:` list. Decoding raw into the result writes each entry's keys over its
// defaults (mapstructure fills existing list elements), so defaults are set before
// decoding and an explicit 0 or false survives. What is not a list or map is left for
// the decoder to report.
func Defaults(raw any) []Config {
	list, _ := raw.([]any)
	out := make([]Config, len(list))
	for i, e := range list {
		c := DefaultConfig()
		if m, ok := e.(map[string]any); ok {
			if sinks, ok := m["sinks"].([]any); ok {
				c.Sinks = make([]publishers.Config, len(sinks))
				for j := range c.Sinks {
					c.Sinks[j] = publishers.DefaultConfig()
				}
			}
		}
		out[i] = c
	}
	return out
}

// withNames names the unnamed sinks "<type>-<index>" and an unnamed dead-letter sink
// "dead_letter": an empty name stands for these, as the docs say; they are derived
// from the list, so no default could hold them.
func (c Config) withNames() Config {
	sinks := make([]publishers.Config, len(c.Sinks))
	for i, s := range c.Sinks {
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s-%d", strings.ToLower(strings.TrimSpace(s.Type)), i)
		}
		sinks[i] = s
	}
	c.Sinks = sinks
	if c.DeadLetter.Name == "" {
		c.DeadLetter.Name = "dead_letter"
	}
	return c
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate names the bad key (prefix "pipelines[i]." is added by the caller), e.g.
// "source.kafka.brokers: empty".
func (c Config) Validate() error {
	c = c.withNames()
	if c.Name == "" {
		return cfgerr.New("name", "empty")
	}
	if !nameRE.MatchString(c.Name) {
		return cfgerr.New("name", "%q may only hold letters, digits, '-', '_' and '.'", c.Name)
	}
	if err := c.Source.Validate(); err != nil {
		return err
	}
	if len(c.Sinks) == 0 {
		return cfgerr.New("sinks", "empty (at least one sink is needed)")
	}
	seen := map[string]bool{}
	for i, s := range c.Sinks {
		if err := s.Validate(); err != nil {
			return cfgerr.Prefix(fmt.Sprintf("sinks[%d].", i), err)
		}
		if seen[s.Name] {
			return cfgerr.New(fmt.Sprintf("sinks[%d].name", i), "duplicate %q", s.Name)
		}
		seen[s.Name] = true
	}
	if c.DeadLetter.Type != "" {
		if err := c.DeadLetter.Validate(); err != nil {
			return cfgerr.Prefix("dead_letter.", err)
		}
	}
	if c.Concurrency < 0 || c.Concurrency > MaxWindow {
		return cfgerr.New("concurrency", "%d is outside [0 (auto), %d]", c.Concurrency, MaxWindow)
	}
	if err := c.Retry.Validate(); err != nil {
		return cfgerr.Prefix("retry.", err)
	}
	if c.GracePeriod < 0 {
		return cfgerr.New("grace_period", "negative")
	}
	if c.JobTimeout < 0 {
		return cfgerr.New("job_timeout", "negative")
	}
	if c.ReconnectBackoff <= 0 {
		return cfgerr.New("reconnect_backoff", "must be positive")
	}
	if c.ReconnectMaxBackoff < c.ReconnectBackoff {
		return cfgerr.New("reconnect_max_backoff", "must be at least reconnect_backoff")
	}
	return nil
}
