package connectors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	// CommitInterval batches offset commits: an ack marks its offset at once and the
	// marks are committed every CommitInterval and whenever a partition is released.
	// Committing inside every ack would cost up to FetchMaxWait per message (the commit
	// queues behind the open fetch on the broker connection), so there is no such mode.
	// Default 200ms. A crash loses at most this window of commits: those messages are
	// redelivered (at-least-once), never skipped.
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
// 500ms, commits every 200ms, fetch wait 100ms, processing time 10s; no brokers,
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
		CommitInterval:    200 * time.Millisecond,
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
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lag    map[string]int64
	closed bool
	// stopping is closed by Close: by then the pipeline has settled or abandoned every
	// in-flight message, so revoked claims need not wait for acks any more.
	stopping chan struct{}
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
	g, err := sarama.NewConsumerGroup(k.cfg.Brokers, k.cfg.Group, sc)
	if err != nil {
		return fmt.Errorf("join kafka group %s at %v: %w", k.cfg.Group, k.cfg.Brokers, err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	k.group, k.cancel = g, cancel
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
	g, cancel := k.group, k.cancel
	k.mu.Unlock()
	if g == nil {
		return nil
	}
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
	k       *Kafka
	dirty   atomic.Bool // offsets marked since the last commit
	stop    chan struct{}
	stopped chan struct{}
}

// Setup starts the session's committer.
func (h *handler) Setup(s sarama.ConsumerGroupSession) error {
	h.stop, h.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.stopped)
		t := time.NewTicker(h.k.cfg.CommitInterval)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				if h.dirty.Swap(false) {
					s.Commit()
				}
			}
		}
	}()
	return nil
}

// Cleanup stops the committer and commits once more: with auto-commit off nothing
// else flushes (PITFALLS 3.5).
func (h *handler) Cleanup(s sarama.ConsumerGroupSession) error {
	close(h.stop)
	<-h.stopped
	h.dirty.Store(false)
	s.Commit()
	return nil
}

// ConsumeClaim hands messages to Read callers one at a time, returning as soon as the
// claim is revoked (closed channel) or the session ends (PITFALLS 3.2).
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	k := h.k
	tr := newTracker(s, c.Topic(), c.Partition(), &h.dirty)
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
			tr.add(m.Offset)
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

// tracker commits a partition's offsets in order although acks arrive in any order.
type tracker struct {
	sess      sarama.ConsumerGroupSession
	topic     string
	partition int32

	mu      sync.Mutex
	pending []int64        // offsets handed out, ascending
	done    map[int64]bool // acked offsets still behind an unacked one
	closed  bool
	idle    chan struct{} // signalled when pending empties
	dirty   *atomic.Bool  // tells the session's committer there are new marks
}

func newTracker(s sarama.ConsumerGroupSession, topic string, p int32, dirty *atomic.Bool) *tracker {
	return &tracker{sess: s, topic: topic, partition: p, done: map[int64]bool{}, idle: make(chan struct{}, 1), dirty: dirty}
}

func (t *tracker) add(off int64) {
	t.mu.Lock()
	t.pending = append(t.pending, off)
	t.mu.Unlock()
}

// forget drops an offset that was never handed out (session ended while offering it).
func (t *tracker) forget(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.pending); n > 0 && t.pending[n-1] == off {
		t.pending = t.pending[:n-1]
	}
	t.signal()
}

func (t *tracker) signal() {
	if len(t.pending) == 0 {
		select {
		case t.idle <- struct{}{}:
		default:
		}
	}
}

func (t *tracker) ackFunc(off int64) AckFunc {
	var once sync.Once
	return func(context.Context, error) error {
		once.Do(func() { t.ack(off) })
		return nil
	}
}

// ack records off as settled and marks the contiguous settled prefix for commit
// (marking offset N+1 covers every earlier offset of the partition).
func (t *tracker) ack(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return // the claim is gone; the new owner will redeliver
	}
	t.done[off] = true
	next := int64(-1)
	for len(t.pending) > 0 && t.done[t.pending[0]] {
		delete(t.done, t.pending[0])
		next = t.pending[0] + 1
		t.pending = t.pending[1:]
	}
	if next >= 0 {
		t.sess.MarkOffset(t.topic, t.partition, next, "")
		t.dirty.Store(true)
	}
	t.signal()
}

// drain waits until every handed-out message was acked or the timeout passed, then
// stops accepting acks: what was not acked is redelivered to the partition's next owner.
func (t *tracker) drain(timeout time.Duration, stopping <-chan struct{}, log *zap.Logger) {
	t.mu.Lock()
	n := len(t.pending)
	t.mu.Unlock()
	if n > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
	wait:
		for {
			select {
			case <-t.idle:
				t.mu.Lock()
				n = len(t.pending)
				t.mu.Unlock()
				if n == 0 {
					break wait
				}
			case <-stopping:
				break wait
			case <-timer.C:
				log.Warn("kafka partition released with unacknowledged messages; they will be redelivered",
					zap.String("topic", t.topic), zap.Int32("partition", t.partition), zap.Int("pending", n))
				break wait
			}
		}
	}
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.sess.Commit()
}
