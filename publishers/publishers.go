package publishers

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	"mfn/internal/cfgerr"
)

// Record is one encoded result on its way out.
type Record struct {
	// RequestID is the job's request id: the Kafka key, X-Request-ID, part of the
	// webhook Idempotency-Key.
	RequestID string
	// CorrelationID is echoed as x-correlation-id / X-Correlation-ID when not empty.
	CorrelationID string
	// IdempotencyKey is the same for every delivery of the same result (including
	// redeliveries after a restart), so receivers can drop duplicates.
	IdempotencyKey string
	// Body is the JSON result envelope.
	Body []byte
	// Headers are extra transport headers (lower-case names), e.g. x-mfn-error on
	// dead letters.
	Headers map[string]string
}

// Sink receives results. Publish returns nil only once the record is durable
// downstream; it returns promptly when ctx is done. Close flushes and releases the
// sink; it is idempotent and must not be called while Publish calls are running.
type Sink interface {
	Publish(ctx context.Context, rec Record) error
	Close(ctx context.Context) error
}

// Starter is implemented by sinks with work to do before the first Publish (the file
// sink recovers files a crash left unfinished). The pipeline calls Start before it
// reads any input; Start is idempotent.
type Starter interface {
	Start(ctx context.Context) error
}

// Pinger is implemented by sinks that can check their downstream is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ErrPermanent marks failures that retrying cannot fix (a webhook 4xx, an oversized
// record); test with errors.Is.
var ErrPermanent = errors.New("publishers: permanent failure")

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() []error      { return []error{e.err, ErrPermanent} }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// RetryAfterError carries a server's Retry-After hint for the Retry decorator.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Config selects and configures one Sink (`pipelines[i].sinks[j]` or
// `pipelines[i].dead_letter` in mfn.yaml).
type Config struct {
	// Name labels the sink in logs and metrics; default "<type>-<index>".
	Name    string        `mapstructure:"name"`
	Type    string        `mapstructure:"type"` // kafka, webhook or file
	Kafka   KafkaConfig   `mapstructure:"kafka"`
	Webhook WebhookConfig `mapstructure:"webhook"`
	File    FileConfig    `mapstructure:"file"`
}

// DefaultConfig returns every sink type's defaults, no type and no name: decoding a
// sink's section over it leaves the defaults of every key it does not name.
func DefaultConfig() Config {
	return Config{Kafka: DefaultKafkaConfig(), Webhook: DefaultWebhookConfig(), File: DefaultFileConfig()}
}

// kind is the sink type as written, trimmed and lower-cased.
func (c Config) kind() string { return strings.ToLower(strings.TrimSpace(c.Type)) }

// Validate checks the configuration; keys are relative to the sink
// ("kafka.topic: empty"); the pipeline adds "sinks[j]." or "dead_letter.".
func (c Config) Validate() error {
	switch c.kind() {
	case "kafka":
		return cfgerr.Prefix("kafka.", c.Kafka.Validate())
	case "webhook":
		return cfgerr.Prefix("webhook.", c.Webhook.Validate())
	case "file":
		return cfgerr.Prefix("file.", c.File.Validate())
	case "":
		return cfgerr.New("type", "empty (want kafka, webhook or file)")
	default:
		return cfgerr.New("type", "unknown %q (want kafka, webhook or file)", c.Type)
	}
}

// New builds the Sink that cfg selects; it validates and allocates. The Kafka sink
// connects lazily on the first Publish (and again after failures), so New never blocks
// on a broker.
func New(cfg Config, log *zap.Logger) (Sink, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With(zap.String("publisher", cfg.kind()))
	switch cfg.kind() {
	case "kafka":
		return NewKafka(cfg.Kafka, log)
	case "webhook":
		return NewWebhook(cfg.Webhook, log)
	case "file":
		return NewFile(cfg.File, log)
	}
	return nil, cfgerr.New("type", "unknown %q", cfg.Type)
}
