package publishers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"mfn/internal/cfgerr"
	"mfn/internal/kafkanet"
	"mfn/internal/version"
	"mfn/telemetry"
)

// TLSConfig enables TLS to the brokers (`tls:`); see kafkanet.TLSConfig for the keys.
type TLSConfig = kafkanet.TLSConfig

// SASLConfig enables SASL authentication (`sasl:`); see kafkanet.SASLConfig.
type SASLConfig = kafkanet.SASLConfig

// KafkaConfig configures the Kafka producer sink (`kafka:` of a sink in mfn.yaml).
// The producer is idempotent with acks=all (PITFALLS 3.9): records are keyed by
// request id (so one request's results stay in one partition) and carry the headers
// x-request-id, x-correlation-id (when set), content-type: application/json and
// x-mfn-version.
type KafkaConfig struct {
	Brokers  []string `mapstructure:"brokers"`
	Topic    string   `mapstructure:"topic"`
	ClientID string   `mapstructure:"client_id"` // default "mfn"
	// Version is the broker protocol version (≥ 0.11.0.0 for idempotence). Default 2.1.0.
	Version string `mapstructure:"version"`
	// Timeout bounds one publish: sarama's own retries happen inside it. Default 30s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxMessageBytes rejects bigger records as a permanent failure. Default 1000000.
	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	// Linger and BatchSize shape the producer's batches (sarama Flush.Frequency and
	// Flush.Messages). Every in-flight message of the pipeline publishes at once, and
	// with the default 0/0 records that arrive while a produce request is on the wire
	// leave together in the next one, so batches grow with the load without adding
	// latency when idle. With Linger > 0 a batch leaves after Linger or, if BatchSize > 0,
	// once BatchSize records wait, whichever comes first.
	Linger    time.Duration `mapstructure:"linger"`
	BatchSize int           `mapstructure:"batch_size"`
	TLS       TLSConfig     `mapstructure:"tls"`
	SASL      SASLConfig    `mapstructure:"sasl"`
}

// DefaultKafkaConfig returns the sink's defaults: client id "mfn", version 2.1.0,
// 30s per publish, records up to 1000000 bytes, no linger; no brokers or topic.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{ClientID: "mfn", Version: "2.1.0", Timeout: 30 * time.Second, MaxMessageBytes: 1000000}
}

// Validate checks the configuration; keys are relative to kafka.
func (c KafkaConfig) Validate() error {
	if err := kafkanet.ValidateBrokers(c.Brokers); err != nil {
		return err
	}
	if c.ClientID == "" {
		return cfgerr.New("client_id", "empty")
	}
	if c.Topic == "" {
		return cfgerr.New("topic", "empty")
	}
	if _, err := kafkanet.ParseVersion(c.Version, "the idempotent producer needs it"); err != nil {
		return err
	}
	if c.Timeout <= 0 {
		return cfgerr.New("timeout", "must be positive")
	}
	if c.MaxMessageBytes <= 0 {
		return cfgerr.New("max_message_bytes", "must be positive")
	}
	if c.Linger < 0 {
		return cfgerr.New("linger", "negative")
	}
	if c.BatchSize < 0 {
		return cfgerr.New("batch_size", "negative")
	}
	if c.BatchSize > 0 && c.Linger == 0 {
		// sarama would hold a partial batch until BatchSize records arrive: maybe never.
		return cfgerr.New("batch_size", "needs linger > 0 (else a partial batch waits forever)")
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	return c.SASL.Validate()
}

func (c KafkaConfig) saramaConfig() (*sarama.Config, error) {
	sc, err := kafkanet.NewSaramaConfig(c.ClientID, c.Version, c.TLS, c.SASL)
	if err != nil {
		return nil, err
	}
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1 // required by the idempotent producer
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 3
	sc.Producer.Retry.Backoff = 100 * time.Millisecond
	sc.Producer.Timeout = min(c.Timeout, 10*time.Second)
	sc.Producer.MaxMessageBytes = c.MaxMessageBytes
	sc.Producer.Flush.Frequency = c.Linger
	sc.Producer.Flush.Messages = c.BatchSize
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	return sc, sc.Validate()
}

// Kafka is the producer sink. It creates its SyncProducer on first use and replaces
// it after a failed send, so a broker restart or a producer that lost its idempotence
// state (sequence errors) heals on the next attempt.
//
// A broker over its quota answers produces with throttle_time_ms and still accepts
// them; sarama honours the hint itself (KIP-219: the connection sends nothing more
// until the throttle time has passed) and does not surface it to SendMessage. A
// throttled send is therefore slow, not failed: it never reaches the retry loop, and
// Timeout must stay above the broker's longest throttle (quota window) to not turn
// one into a retry.
type Kafka struct {
	cfg KafkaConfig
	log *zap.Logger

	mu     sync.Mutex
	prod   *producer // nil until the first Publish and after a discard
	closed bool
	// retiring counts discarded producers still waiting for their sends before closing.
	retiring sync.WaitGroup
}

// producer is one SyncProducer and the sends still using it. sends.Add happens only
// under Kafka.mu while the producer is current, so no Add can race the Wait that runs
// once it has been discarded (sync.WaitGroup forbids reuse during a Wait).
type producer struct {
	p     sarama.SyncProducer
	sends sync.WaitGroup
}

// NewKafka validates cfg; nothing connects until the first Publish.
func NewKafka(cfg KafkaConfig, log *zap.Logger) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Kafka{cfg: cfg, log: log}, nil
}

// acquire returns the current producer, building it if needed, with one send counted
// on it; the caller calls sends.Done when the send is over.
func (k *Kafka) acquire() (*producer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, Permanent(fmt.Errorf("kafka sink %s: closed", k.cfg.Topic))
	}
	if k.prod == nil {
		sc, err := k.cfg.saramaConfig()
		if err != nil {
			return nil, Permanent(fmt.Errorf("kafka sink config: %w", err))
		}
		p, err := sarama.NewSyncProducer(k.cfg.Brokers, sc)
		if err != nil {
			return nil, fmt.Errorf("connect kafka producer to %v: %w", k.cfg.Brokers, err)
		}
		k.prod = &producer{p: p}
	}
	k.prod.sends.Add(1)
	return k.prod, nil
}

// discard drops a producer after a failure so the next Publish builds a fresh one; it
// is closed once the sends still using it are over.
func (k *Kafka) discard(pr *producer) {
	k.mu.Lock()
	current := k.prod == pr
	if current {
		k.prod = nil
		k.retiring.Add(1)
	}
	k.mu.Unlock()
	if current {
		go func() {
			defer k.retiring.Done()
			pr.sends.Wait()
			_ = pr.p.Close()
		}()
	}
}

// Publish sends rec and waits for the acks of all in-sync replicas.
func (k *Kafka) Publish(ctx context.Context, rec Record) error {
	if len(rec.Body) > k.cfg.MaxMessageBytes {
		return Permanent(fmt.Errorf("kafka sink %s: record of %d bytes exceeds max_message_bytes %d", k.cfg.Topic, len(rec.Body), k.cfg.MaxMessageBytes))
	}
	hdrs := []sarama.RecordHeader{
		{Key: []byte("x-request-id"), Value: []byte(rec.RequestID)},
		{Key: []byte("content-type"), Value: []byte("application/json")},
		{Key: []byte("x-mfn-version"), Value: []byte(Version)},
	}
	if rec.CorrelationID != "" {
		hdrs = append(hdrs, sarama.RecordHeader{Key: []byte("x-correlation-id"), Value: []byte(rec.CorrelationID)})
	}
	if rec.IdempotencyKey != "" {
		hdrs = append(hdrs, sarama.RecordHeader{Key: []byte("idempotency-key"), Value: []byte(rec.IdempotencyKey)})
	}
	for key, v := range rec.Headers {
		hdrs = append(hdrs, sarama.RecordHeader{Key: []byte(key), Value: []byte(v)})
	}
	// After rec.Headers: the sink's own span is the parent a result's consumer continues.
	telemetry.InjectKafka(ctx, &hdrs)
	msg := &sarama.ProducerMessage{
		Topic:   k.cfg.Topic,
		Key:     sarama.StringEncoder(rec.RequestID),
		Value:   sarama.ByteEncoder(rec.Body),
		Headers: hdrs,
	}
	// SendMessage cannot be cancelled; run it aside so ctx and Timeout bound the wait.
	// An abandoned send may still land: a duplicate, which at-least-once allows.
	pr, err := k.acquire()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		defer pr.sends.Done()
		_, _, err := pr.p.SendMessage(msg)
		done <- err
	}()
	t := time.NewTimer(k.cfg.Timeout)
	defer t.Stop()
	select {
	case err = <-done:
	case <-t.C:
		err = fmt.Errorf("no ack within %s", k.cfg.Timeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	var tooBig sarama.ConfigurationError
	if errors.As(err, &tooBig) || errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		// The record with its key and headers is over a size limit (ours or the
		// broker's): no retry can succeed, so it goes to the dead letter at once.
		return Permanent(fmt.Errorf("kafka publish to %s: %w", k.cfg.Topic, err))
	}
	if err != nil {
		k.discard(pr)
		return fmt.Errorf("kafka publish to %s: %w", k.cfg.Topic, err)
	}
	return nil
}

// Ping dials the brokers; one reachable broker is enough.
func (k *Kafka) Ping(ctx context.Context) error {
	var d net.Dialer
	var last error
	for _, b := range k.cfg.Brokers {
		c, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			_ = c.Close()
			return nil
		}
		last = err
	}
	return fmt.Errorf("no kafka broker reachable: %w", last)
}

// Close waits for running sends and closes the producer.
func (k *Kafka) Close(context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	pr := k.prod
	k.prod = nil
	k.mu.Unlock()
	k.retiring.Wait()
	if pr != nil {
		pr.sends.Wait()
		return pr.p.Close()
	}
	return nil
}

// Version is the mfn wire version put in x-mfn-version headers and result envelopes:
// the reference API version, which consumers compare, not the build's.
const Version = version.API
