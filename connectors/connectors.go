package connectors

import (
	"context"
	"errors"
	"strings"

	"go.uber.org/zap"

	"mfn/internal/cfgerr"
)

var (
	// ErrNotConnected is returned by Read when the link to the upstream dropped and
	// Connect must be called again (the pipeline reconnects with backoff).
	ErrNotConnected = errors.New("connectors: not connected")
	// ErrEndOfInput is returned by Read when the source is exhausted for good.
	ErrEndOfInput = errors.New("connectors: end of input")
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("connectors: closed")
)

// Message is one job as the upstream delivered it.
type Message struct {
	// Value is the raw job JSON (one Kafka record value, one *.json file, one line of
	// a *.jsonl file, one element of a polled jobs array).
	Value []byte
	// Key is the Kafka record key (nil elsewhere).
	Key []byte
	// Headers are transport metadata with lower-case names (Kafka record headers;
	// empty for files). The pipeline reads x-request-id and x-correlation-id here when
	// the body has none.
	Headers map[string]string
	// ID names the message's stable position upstream ("kafka:topic/partition/offset",
	// "file:name.jsonl:3", "rest:<cursor>:2"). It is the same on redelivery, so the
	// pipeline derives a stable request id from it when the job carries none.
	ID string
}

// AckFunc settles one Message exactly once (later calls are no-ops): nil means the
// result was published (Kafka: the offset is committed with its partition's acked prefix; file: the line counts as
// done); a non-nil error means the message was settled as failed, e.g. dead-lettered
// (Kafka: still committed, so a poison message never blocks the partition; file: the
// file goes to failed/). A message whose AckFunc is never called is delivered again
// after a restart or rebalance. Safe to call from any goroutine.
type AckFunc func(ctx context.Context, err error) error

// Source yields messages from one upstream.
//
// Connect establishes the link; the pipeline calls it again with backoff after it
// fails or after Read returned ErrNotConnected. Read blocks until a message arrives or
// ctx is done (then it returns ctx.Err()); it is safe to call from several goroutines.
// Close stops fetching, waits (bounded by ctx) for the source's own goroutines, commits
// what was acknowledged, and releases the link; it is idempotent. The pipeline calls
// Close only after every in-flight message was acknowledged or abandoned.
type Source interface {
	Connect(ctx context.Context) error
	Read(ctx context.Context) (Message, AckFunc, error)
	Close(ctx context.Context) error
}

// Pinger is implemented by sources that can check that their upstream is reachable
// (readiness); Ping must return promptly.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Windowed is implemented by sources whose acknowledgements take effect in input
// order (a Kafka offset commits the whole prefix before it). The pipeline calls
// SetWindow with its in-flight window before Connect; the source then holds at most n
// messages read and not yet covered by its position (in flight, or acked behind one
// still in flight), so a crash replays at most n messages plus what was acked since
// the last saved position, however long one slow message holds its partition back.
type Windowed interface {
	SetWindow(n int)
}

// LagReporter is implemented by sources that know how many messages wait upstream
// (Kafka consumer lag summed over the claimed partitions). ok is false when unknown.
type LagReporter interface {
	Lag() (lag int64, ok bool)
}

// Config selects and configures one Source (`pipelines[i].source` in mfn.yaml).
type Config struct {
	// Type is kafka, file or rest.
	Type  string      `mapstructure:"type"`
	Kafka KafkaConfig `mapstructure:"kafka"`
	File  FileConfig  `mapstructure:"file"`
	REST  RESTConfig  `mapstructure:"rest"`
}

// DefaultConfig returns every source type's defaults and no type: decoding a
// `source:` section over it leaves the defaults of every key it does not name.
func DefaultConfig() Config {
	return Config{Kafka: DefaultKafkaConfig(), File: DefaultFileConfig(), REST: DefaultRESTConfig()}
}

// kind is the source type as written, trimmed and lower-cased.
func (c Config) kind() string { return strings.ToLower(strings.TrimSpace(c.Type)) }

// Validate checks the configuration; messages name the key relative to the pipeline
// ("source.kafka.brokers: empty").
func (c Config) Validate() error {
	switch c.kind() {
	case "kafka":
		return cfgerr.Prefix("source.kafka.", c.Kafka.Validate())
	case "file":
		return cfgerr.Prefix("source.file.", c.File.Validate())
	case "rest":
		return cfgerr.Prefix("source.rest.", c.REST.Validate())
	case "":
		return cfgerr.New("source.type", "empty (want kafka, file or rest)")
	default:
		return cfgerr.New("source.type", "unknown %q (want kafka, file or rest)", c.Type)
	}
}

// New builds the Source that cfg selects; it validates and allocates but starts nothing.
func New(cfg Config, log *zap.Logger) (Source, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.kind() {
	case "kafka":
		return NewKafka(cfg.Kafka, log.With(zap.String("connector", "kafka")))
	case "file":
		return NewFile(cfg.File, log.With(zap.String("connector", "file")))
	case "rest":
		return NewREST(cfg.REST, log.With(zap.String("connector", "rest")))
	}
	return nil, cfgerr.New("source.type", "unknown %q", cfg.Type)
}
