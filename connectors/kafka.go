package connectors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"mfn/internal/cfgerr"
	"mfn/internal/kafkanet"
	"mfn/internal/retry"
)

// TLSConfig enables TLS to the brokers (`tls:`); see kafkanet.TLSConfig for the keys.
type TLSConfig = kafkanet.TLSConfig

// SASLConfig enables SASL authentication (`sasl:`); see kafkanet.SASLConfig.
type SASLConfig = kafkanet.SASLConfig

// KafkaConfig configures the Kafka consumer-group source
// (`pipelines[i].source.kafka` in mfn.yaml).
type KafkaConfig struct {
	// Brokers are host:port bootstrap addresses.
	Brokers []string `mapstructure:"brokers"`
	// Topics to consume (all with the same job contract).
	Topics []string `mapstructure:"topics"`
	// Group is the consumer group id; replicas with the same group share partitions.
	Group string `mapstructure:"group"`
	// ClientID identifies this client in broker logs. Default "mfn".
	ClientID string `mapstructure:"client_id"`
	// Version is the broker protocol version sarama speaks (≥ 0.11.0.0). Set it to the
	// real broker version; default 2.1.0.
	Version string `mapstructure:"version"`
	// Initial is where a group without committed offsets starts: oldest (default) or newest.
	Initial string `mapstructure:"initial"`
	// Rebalance is the assignment strategy: range (default), roundrobin, sticky or
	// cooperative-sticky (needs version ≥ 2.4.0).
	Rebalance string `mapstructure:"rebalance"`
	// SessionTimeout and Heartbeat are the group timeouts (default 10s and 3s; the
	// heartbeat must be shorter).
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
	Heartbeat      time.Duration `mapstructure:"heartbeat"`
	// RebalanceTimeout bounds how long a member may take to give up its partitions
	// (default 60s); DrainTimeout, which must be shorter, is how long a revoked
	// partition waits for its in-flight messages to be published and committed
	// (default 20s). Anything not acked by then is redelivered to the new owner.
	RebalanceTimeout time.Duration `mapstructure:"rebalance_timeout"`
	DrainTimeout     time.Duration `mapstructure:"drain_timeout"`
	// RetryBackoff is the pause between attempts to re-join after a Consume error;
	// it doubles up to 30s, with jitter. Default 500ms.
	RetryBackoff time.Duration `mapstructure:"retry_backoff"`
	// CommitInterval spaces offset commits: the acknowledged prefix of each partition is
	// committed at most once per CommitInterval, sooner once a quarter of the
	// pipeline's window waits for a commit, and always when a partition is released;
	// commits go on a connection of their own to the group coordinator, so they never
	// wait behind an open fetch. Whatever the interval, the source holds at most the
	// pipeline's window of messages read and not yet committed, so a crash redelivers
	// (at-least-once, never skips) at most that window. Default 50ms.
	CommitInterval time.Duration `mapstructure:"commit_interval"`
	// FetchMaxWait is how long the broker may hold a fetch open when there is no data
	// (sarama MaxWaitTime). Default 100ms.
	FetchMaxWait time.Duration `mapstructure:"fetch_max_wait"`
	// MaxProcessingTime is how long a partition may wait for a free worker before sarama
	// pauses fetching it (sarama MaxProcessingTime). Default 10s.
	MaxProcessingTime time.Duration `mapstructure:"max_processing_time"`
	TLS               TLSConfig     `mapstructure:"tls"`
	SASL              SASLConfig    `mapstructure:"sasl"`
}

// DefaultKafkaConfig returns the source's defaults: client id "mfn", version 2.1.0,
// oldest, range, session 10s, heartbeat 3s, rebalance 60s, drain 20s, retry backoff
// 500ms, commits every 50ms, fetch wait 100ms, processing time 10s; no brokers,
// topics or group.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{
		ClientID:          "mfn",
		Version:           "2.1.0",
		Initial:           "oldest",
		Rebalance:         "range",
		SessionTimeout:    10 * time.Second,
		Heartbeat:         3 * time.Second,
		RebalanceTimeout:  60 * time.Second,
		DrainTimeout:      20 * time.Second,
		RetryBackoff:      500 * time.Millisecond,
		CommitInterval:    50 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		MaxProcessingTime: 10 * time.Second,
	}
}

// Validate checks the configuration; keys are relative to source.kafka.
func (c KafkaConfig) Validate() error {
	if err := kafkanet.ValidateBrokers(c.Brokers); err != nil {
		return err
	}
	if c.ClientID == "" {
		return cfgerr.New("client_id", "empty")
	}
	if len(c.Topics) == 0 {
		return cfgerr.New("topics", "empty")
	}
	if c.Group == "" {
		return cfgerr.New("group", "empty")
	}
	v, err := kafkanet.ParseVersion(c.Version, "record batches v2 are needed")
	if err != nil {
		return err
	}
	switch strings.ToLower(c.Initial) {
	case "oldest", "newest":
	default:
		return cfgerr.New("initial", "unknown %q (want oldest or newest)", c.Initial)
	}
	if _, err := strategy(c.Rebalance); err != nil {
		return cfgerr.New("rebalance", "%v", err)
	}
	if strings.EqualFold(c.Rebalance, "cooperative-sticky") && !v.IsAtLeast(sarama.V2_4_0_0) {
		return cfgerr.New("rebalance", "cooperative-sticky needs version >= 2.4.0")
	}
	if c.SessionTimeout <= 0 {
		return cfgerr.New("session_timeout", "must be positive")
	}
	if c.Heartbeat >= c.SessionTimeout || c.Heartbeat <= 0 {
		return cfgerr.New("heartbeat", "%s must be below session_timeout %s", c.Heartbeat, c.SessionTimeout)
	}
	if c.DrainTimeout < 0 || c.DrainTimeout >= c.RebalanceTimeout {
		return cfgerr.New("drain_timeout", "%s must be below rebalance_timeout %s", c.DrainTimeout, c.RebalanceTimeout)
	}
	if c.RetryBackoff <= 0 {
		return cfgerr.New("retry_backoff", "must be positive")
	}
	if c.CommitInterval <= 0 {
		return cfgerr.New("commit_interval", "must be positive (there is no commit-per-message mode)")
	}
	if c.FetchMaxWait < time.Millisecond {
		return cfgerr.New("fetch_max_wait", "%s is below 1ms", c.FetchMaxWait)
	}
	if c.MaxProcessingTime <= 0 {
		return cfgerr.New("max_processing_time", "must be positive")
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	return c.SASL.Validate()
}

func strategy(name string) (sarama.BalanceStrategy, error) {
	switch strings.ToLower(name) {
	case "range":
		return sarama.NewBalanceStrategyRange(), nil
	case "roundrobin":
		return sarama.NewBalanceStrategyRoundRobin(), nil
	case "sticky":
		return sarama.NewBalanceStrategySticky(), nil
	case "cooperative-sticky":
		return sarama.NewBalanceStrategyCooperativeSticky(), nil
	}
	return nil, fmt.Errorf("unknown %q (want range, roundrobin, sticky or cooperative-sticky)", name)
}

// saramaConfig builds the consumer settings at-least-once needs (PITFALLS §3).
func (c KafkaConfig) saramaConfig() (*sarama.Config, error) {
	// The version is explicit: sarama's default moves between releases.
	sc, err := kafkanet.NewSaramaConfig(c.ClientID, c.Version, c.TLS, c.SASL)
	if err != nil {
		return nil, err
	}
	// Offsets are committed by the AckFunc after publishing, never by a timer.
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if strings.EqualFold(c.Initial, "newest") {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.Consumer.Return.Errors = true // Commit reports failures only on Errors()
	sc.Consumer.Group.Session.Timeout = c.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = c.Heartbeat
	sc.Consumer.Group.Rebalance.Timeout = c.RebalanceTimeout
	st, err := strategy(c.Rebalance)
	if err != nil {
		return nil, err
	}
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{st}
	// A claim waits for a free worker before taking its next message; sarama would
	// otherwise drop the partition from its fetch session after MaxProcessingTime and
	// re-add it a fetch round (MaxWaitTime) later, which costs ~MaxWaitTime per job.
	sc.Consumer.MaxProcessingTime = c.MaxProcessingTime
	sc.Consumer.MaxWaitTime = c.FetchMaxWait
	return sc, sc.Validate()
}

// Kafka is a Source reading a consumer group. Each claimed partition is read in order;
// messages are handed to Read callers as they ask, so several may be in flight. A
// partition's offset is committed up to the first message not yet acknowledged, so a
// message is never committed before its result was published, whatever the order in
// which in-flight jobs finish.
type Kafka struct {
	cfg KafkaConfig
	log *zap.Logger
	out chan delivery

	mu     sync.Mutex
	client sarama.Client // the group's; the committers find the coordinator with it
	conf   *sarama.Config
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lag    map[string]int64
	closed bool
	// stopping is closed by Close: by then the pipeline has settled or abandoned every
	// in-flight message, so revoked claims need not wait for acks any more.
	stopping chan struct{}
	// span holds one token per message handed out and not yet committed (SetWindow;
	// nil: no limit).
	span chan struct{}
	// commitErr is the last commit's error, nil once one succeeds (Ping reports it).
	commitErr error
}

func (k *Kafka) setCommitErr(err error) {
	k.mu.Lock()
	k.commitErr = err
	k.mu.Unlock()
}

// SetWindow bounds the messages handed out and not yet committed to n (Windowed):
// acknowledged messages behind a slow one, and those whose commit is not confirmed
// yet, keep their token, so a crash replays at most n messages. A commit is sent as
// soon as n/4 messages wait for one (and at least every commit_interval). The bound
// costs some throughput, as fewer jobs run while acked ones wait behind a slower
// message of their partition: ~10% in BenchmarkKafkaVsREST.
func (k *Kafka) SetWindow(n int) {
	if n > 0 {
		k.span = make(chan struct{}, n)
	}
}

type delivery struct {
	msg Message
	ack AckFunc
}

// NewKafka validates cfg; the group is joined by Connect.
func NewKafka(cfg KafkaConfig, log *zap.Logger) (*Kafka, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Kafka{cfg: cfg, log: log, out: make(chan delivery), lag: map[string]int64{},
		stopping: make(chan struct{})}, nil
}

// Connect creates the consumer group (which fetches metadata from the brokers) and
// starts the consume loop. Calling it while connected is a no-op.
func (k *Kafka) Connect(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return ErrClosed
	}
	if k.group != nil {
		return nil
	}
	sc, err := k.cfg.saramaConfig()
	if err != nil {
		return fmt.Errorf("kafka config: %w", err)
	}
	client, err := sarama.NewClient(k.cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("join kafka group %s at %v: %w", k.cfg.Group, k.cfg.Brokers, err)
	}
	g, err := sarama.NewConsumerGroupFromClient(k.cfg.Group, client)
	if err != nil {
		_ = client.Close()
		return fmt.Errorf("join kafka group %s at %v: %w", k.cfg.Group, k.cfg.Brokers, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	k.group, k.client, k.conf, k.cancel = g, client, sc, cancel
	k.wg.Add(2)
	go k.consume(cctx, g)
	go k.drainErrors(g)
	return nil
}

// consume is sarama's Consume loop: Consume returns at every rebalance (PITFALLS 3.1)
// and on broker trouble, in which case we back off and join again.
func (k *Kafka) consume(ctx context.Context, g sarama.ConsumerGroup) {
	defer k.wg.Done()
	h := &handler{k: k}
	b := retry.Policy{Initial: k.cfg.RetryBackoff, Max: max(30*time.Second, k.cfg.RetryBackoff), Jitter: 0.5}.New()
	for {
		err := g.Consume(ctx, k.cfg.Topics, h)
		if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
			return
		}
		if err == nil {
			b.Reset()
			continue
		}
		wait := b.Next(0)
		k.log.Warn("kafka consume failed; rejoining after backoff", zap.Error(err), zap.Duration("backoff", wait))
		if !retry.Sleep(ctx, wait) {
			return
		}
	}
}

func (k *Kafka) drainErrors(g sarama.ConsumerGroup) {
	defer k.wg.Done()
	for err := range g.Errors() {
		k.log.Warn("kafka consumer error", zap.Error(err))
	}
}

// Read returns the next message of any claimed partition.
func (k *Kafka) Read(ctx context.Context) (Message, AckFunc, error) {
	k.mu.Lock()
	connected, closed := k.group != nil, k.closed
	k.mu.Unlock()
	if closed {
		return Message{}, nil, ErrClosed
	}
	if !connected {
		return Message{}, nil, ErrNotConnected
	}
	select {
	case d := <-k.out:
		return d.msg, d.ack, nil
	case <-ctx.Done():
		return Message{}, nil, ctx.Err()
	}
}

// Close stops the consume loop (each claim first waits up to DrainTimeout for its
// in-flight acks and commits them), then closes the group (PITFALLS 3.7 order).
func (k *Kafka) Close(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	close(k.stopping)
	g, client, cancel := k.group, k.client, k.cancel
	k.mu.Unlock()
	if g == nil {
		return nil
	}
	// A group made from a client leaves the client open: close it after the group.
	defer func() { _ = client.Close() }()
	cancel()
	done := make(chan error, 1)
	go func() { done <- g.Close() }() // Close waits for Consume to return
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close kafka group: %w", ctx.Err())
	}
	k.wg.Wait()
	return err
}

// Ping reports a failing offset commit (the last one failed: acked messages hold the
// window until one succeeds), else dials the brokers; one reachable broker is enough.
func (k *Kafka) Ping(ctx context.Context) error {
	k.mu.Lock()
	cerr := k.commitErr
	k.mu.Unlock()
	if cerr != nil {
		return fmt.Errorf("kafka offset commit failing: %w", cerr)
	}
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

// Lag sums high-water mark minus next offset over the partitions this member owns.
func (k *Kafka) Lag() (int64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.lag) == 0 {
		return 0, false
	}
	var sum int64
	for _, l := range k.lag {
		sum += l
	}
	return sum, true
}

func (k *Kafka) setLag(key string, lag int64, drop bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if drop {
		delete(k.lag, key)
		return
	}
	k.lag[key] = max(lag, 0)
}

// handler serves one session at a time (sarama calls Setup, the claims, then Cleanup).
type handler struct {
	k   *Kafka
	com *committer // the session's
}

// Setup starts the session's committer.
func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	k := h.k
	k.mu.Lock()
	client, conf := k.client, k.conf
	k.commitErr = nil // a new session: its own commits will tell
	k.mu.Unlock()
	h.com = newCommitter(client, conf, k.cfg.Group, s, k.cfg.CommitInterval, commitBatch(cap(k.span)), k.setCommitErr, k.log)
	return nil
}

// Cleanup stops the committer after a last commit: with auto-commit off nothing else
// flushes (PITFALLS 3.5).
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error {
	h.com.close()
	return nil
}

// ConsumeClaim hands messages to Read callers one at a time, returning as soon as the
// claim is revoked (closed channel) or the session ends (PITFALLS 3.2).
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	k := h.k
	tr := h.com.track(c.Topic(), c.Partition(), k.span)
	key := fmt.Sprintf("%s/%d", c.Topic(), c.Partition())
	defer func() {
		tr.drain(k.cfg.DrainTimeout, k.stopping, k.log)
		k.setLag(key, 0, true)
	}()
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			k.setLag(key, c.HighWaterMarkOffset()-m.Offset-1, false)
			hdr := make(map[string]string, len(m.Headers))
			for _, rh := range m.Headers {
				if rh != nil {
					hdr[strings.ToLower(string(rh.Key))] = string(rh.Value)
				}
			}
			msg := Message{
				Value:   m.Value,
				Key:     m.Key,
				Headers: hdr,
				ID:      fmt.Sprintf("kafka:%s/%d/%d", m.Topic, m.Partition, m.Offset),
			}
			if !tr.add(m.Offset, s.Context().Done()) {
				return nil
			}
			select {
			case k.out <- delivery{msg: msg, ack: tr.ackFunc(m.Offset)}:
			case <-s.Context().Done():
				tr.forget(m.Offset)
				return nil
			}
		case <-s.Context().Done():
			return nil
		}
	}
}
