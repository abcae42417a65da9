package connectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// committer commits one group session's acknowledged offsets on a broker connection
// of its own. sarama's session.Commit sends the OffsetCommit on the connection the
// partition consumer fetches on (the coordinator is often also the leader), and a
// broker answers one connection's requests in order, so a commit waited behind the
// open long-poll fetch (up to fetch_max_wait) while acks piled up. The Java consumer
// keeps a separate coordinator connection for the same reason.
//
// Marks only move forward (a partition's next offset is its contiguous acked prefix),
// so a commit carries the latest mark of every partition that advanced since the last
// one that succeeded; at most one commit is on the wire at a time. A confirmed commit
// gives the committed messages' window tokens back (tracker.committed).
type committer struct {
	client   sarama.Client
	conf     *sarama.Config
	group    string
	member   string
	gen      int32
	interval time.Duration
	batch    int         // this many messages waiting for a commit send it at once (0: never)
	report   func(error) // each commit's outcome (the source's readiness)
	log      *zap.Logger

	mu       sync.Mutex
	marks    map[string]map[int32]int64 // next offset to commit, per topic and partition
	waiting  int                        // messages acked since the marks were last taken
	trackers map[string]map[int32]*tracker
	kick     chan struct{} // buffered(1): marks changed
	urgent   chan struct{} // buffered(1): batch messages wait for a commit
	stop     chan struct{}
	done     chan struct{}

	sendMu sync.Mutex     // one commit at a time on conn
	conn   *sarama.Broker // nil until the first commit and after a failure
	fenced error          // the group has moved past this session: no commit can succeed
}

func newCommitter(client sarama.Client, conf *sarama.Config, group string, s sarama.ConsumerGroupSession,
	interval time.Duration, batch int, report func(error), log *zap.Logger) *committer {
	c := &committer{client: client, conf: conf, group: group, member: s.MemberID(), gen: s.GenerationID(),
		interval: interval, batch: batch, report: report, log: log, marks: map[string]map[int32]int64{},
		trackers: map[string]map[int32]*tracker{},
		kick:     make(chan struct{}, 1), urgent: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// track returns the tracker of a claimed partition; span is the source's window.
func (c *committer) track(topic string, p int32, span chan struct{}) *tracker {
	t := &tracker{com: c, topic: topic, partition: p, done: map[int64]bool{}, idle: make(chan struct{}, 1), span: span}
	c.mu.Lock()
	if c.trackers[topic] == nil {
		c.trackers[topic] = map[int32]*tracker{}
	}
	c.trackers[topic][p] = t
	c.mu.Unlock()
	return t
}

func (c *committer) untrack(t *tracker) {
	c.mu.Lock()
	if c.trackers[t.topic][t.partition] == t {
		delete(c.trackers[t.topic], t.partition)
	}
	c.mu.Unlock()
}

// mark records next as the offset to commit for the partition (everything before it
// has been published; n messages were acked by this advance) and wakes the loop.
func (c *committer) mark(topic string, partition int32, next int64, n int) {
	c.mu.Lock()
	if c.marks[topic] == nil {
		c.marks[topic] = map[int32]int64{}
	}
	if next > c.marks[topic][partition] {
		c.marks[topic][partition] = next
	}
	c.waiting += n
	full := c.batch > 0 && c.waiting >= c.batch
	c.mu.Unlock()
	signal(c.kick)
	if full {
		signal(c.urgent)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// loop commits whenever marks changed: at once when a batch waits, else at most once
// per interval; until close.
func (c *committer) loop() {
	defer close(c.done)
	var last time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-c.urgent:
		}
		if wait := c.interval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-c.stop:
				t.Stop()
				return
			case <-t.C:
			case <-c.urgent:
				t.Stop()
			}
		}
		last = time.Now()
		err := c.flush()
		switch {
		case errors.Is(err, errFenced):
		case isFenced(err):
			c.log.Warn("kafka offset commit refused: the group moved to a new generation; what this session acked since its last commit will be redelivered", zap.Error(err))
		case err != nil:
			c.log.Warn("kafka offset commit failed; retrying after commit_interval", zap.Error(err))
			signal(c.kick) // the marks were put back
		}
	}
}

// flush commits the current marks now; the marks of a failed commit stay for the next.
func (c *committer) flush() error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	marks := c.marks
	c.marks, c.waiting = map[string]map[int32]int64{}, 0
	c.mu.Unlock()
	if len(marks) == 0 {
		return nil
	}
	if c.fenced != nil {
		return fmt.Errorf("%w: %w", errFenced, c.fenced)
	}
	req := &sarama.OffsetCommitRequest{
		Version:                 commitVersion(c.conf.Version),
		ConsumerGroup:           c.group,
		ConsumerID:              c.member,
		ConsumerGroupGeneration: c.gen,
		RetentionTime:           -1, // the broker's retention (v2-v4 only)
	}
	for topic, parts := range marks {
		for p, off := range parts {
			// Leader epoch -1: unknown; v1's timestamp -1: the broker's receive time.
			req.AddBlockWithLeaderEpoch(topic, p, off, -1, -1, "")
		}
	}
	err := c.send(req, marks)
	if !isFenced(err) {
		c.report(err) // a fenced session is a rebalance, which the next session settles
	}
	if err != nil {
		if isFenced(err) {
			c.fenced = err // retrying with this generation cannot succeed; the session ends soon
		} else {
			c.restore(marks)
		}
		return err
	}
	var confirmed []func()
	c.mu.Lock()
	for topic, parts := range marks {
		for p, off := range parts {
			if t := c.trackers[topic][p]; t != nil {
				confirmed = append(confirmed, func() { t.committed(off) })
			}
		}
	}
	c.mu.Unlock()
	for _, f := range confirmed {
		f()
	}
	return nil
}

// send commits req on the committer's connection, opening it (to the group's current
// coordinator) when needed; any failure drops the connection so the next commit
// looks the coordinator up again.
func (c *committer) send(req *sarama.OffsetCommitRequest, marks map[string]map[int32]int64) error {
	if c.conn == nil {
		coord, err := c.client.Coordinator(c.group)
		if err != nil {
			return fmt.Errorf("find coordinator of group %s: %w", c.group, err)
		}
		b := sarama.NewBroker(coord.Addr())
		if err := b.Open(c.conf); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			return fmt.Errorf("connect to coordinator %s: %w", coord.Addr(), err)
		}
		c.conn = b
	}
	resp, err := c.conn.CommitOffset(req)
	if err == nil {
		err = commitErrors(resp, marks)
	}
	if err != nil {
		_ = c.conn.Close()
		c.conn = nil
		var kerr sarama.KError
		if errors.As(err, &kerr) && (kerr == sarama.ErrNotCoordinatorForConsumer || kerr == sarama.ErrConsumerCoordinatorNotAvailable) {
			_ = c.client.RefreshCoordinator(c.group)
		}
	}
	return err
}

// errFenced reports a commit not sent because an earlier one was fenced.
var errFenced = errors.New("not committed: the session was fenced")

// isFenced reports errors that say the group has a newer generation than the
// session's: the member was dropped (session timeout) or the group rebalanced.
func isFenced(err error) bool {
	return errors.Is(err, sarama.ErrIllegalGeneration) || errors.Is(err, sarama.ErrUnknownMemberId) ||
		errors.Is(err, sarama.ErrFencedInstancedId)
}

// commitErrors returns the first partition error of resp (every partition of the
// request must be answered).
func commitErrors(resp *sarama.OffsetCommitResponse, marks map[string]map[int32]int64) error {
	for topic, parts := range marks {
		for p := range parts {
			kerr, ok := resp.Errors[topic][p]
			if !ok {
				return fmt.Errorf("commit %s/%d: %w", topic, p, sarama.ErrIncompleteResponse)
			}
			if kerr != sarama.ErrNoError {
				return fmt.Errorf("commit %s/%d: %w", topic, p, kerr)
			}
		}
	}
	return nil
}

// restore puts back the marks of a failed commit unless a newer mark replaced them.
func (c *committer) restore(marks map[string]map[int32]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range marks {
		for p, off := range parts {
			if c.marks[topic] == nil {
				c.marks[topic] = map[int32]int64{}
			}
			if off > c.marks[topic][p] {
				c.marks[topic][p] = off
			}
		}
	}
}

// close stops the loop, commits what is left (once, with the session's generation)
// and closes the connection.
func (c *committer) close() {
	close(c.stop)
	<-c.done
	if err := c.flush(); err != nil && !errors.Is(err, errFenced) {
		c.log.Warn("final kafka offset commit failed; those messages will be redelivered", zap.Error(err))
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// commitVersion is the OffsetCommit version for the configured protocol version: v3
// from 0.11 (the oldest mfn speaks), v4 from 2.0, v6 (leader epoch) from 2.1, v7
// (group instance id) from 2.3, v8 (flexible) from 2.4.
func commitVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8
	case v.IsAtLeast(sarama.V2_3_0_0):
		return 7
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 6
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 4
	default:
		return 3
	}
}

// tracker keeps one claimed partition's offsets: it commits them in order although
// acks arrive in any order, and holds a window token per offset from hand-out until
// its commit is confirmed.
type tracker struct {
	com       *committer
	topic     string
	partition int32

	mu          sync.Mutex
	pending     []int64        // offsets handed out and not yet in the acked prefix, ascending
	done        map[int64]bool // acked offsets still behind an unacked one
	uncommitted []int64        // acked prefix offsets whose commit is not confirmed, ascending
	closed      bool
	idle        chan struct{} // signalled when pending empties
	span        chan struct{} // Kafka.span: a token per pending or uncommitted offset
}

// add takes a window token for off (waiting while the source holds its window of
// uncommitted messages) and records it as pending; false when stop came first.
func (t *tracker) add(off int64, stop <-chan struct{}) bool {
	if t.span != nil {
		select {
		case t.span <- struct{}{}:
		case <-stop:
			return false
		}
	}
	t.mu.Lock()
	t.pending = append(t.pending, off)
	t.mu.Unlock()
	return true
}

// free gives back n window tokens; t.mu is held.
func (t *tracker) free(n int) {
	if t.span == nil {
		return
	}
	for range n {
		<-t.span
	}
}

// forget drops an offset that was never handed out (session ended while offering it).
func (t *tracker) forget(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.pending); n > 0 && t.pending[n-1] == off {
		t.pending = t.pending[:n-1]
		t.free(1)
	}
	t.signal()
}

func (t *tracker) signal() {
	if len(t.pending) == 0 {
		signal(t.idle)
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
// (committing offset N+1 covers every earlier offset of the partition).
func (t *tracker) ack(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return // the claim is gone; the new owner will redeliver
	}
	t.done[off] = true
	n := 0
	for len(t.pending) > 0 && t.done[t.pending[0]] {
		delete(t.done, t.pending[0])
		t.uncommitted = append(t.uncommitted, t.pending[0])
		t.pending = t.pending[1:]
		n++
	}
	if n > 0 {
		t.com.mark(t.topic, t.partition, t.uncommitted[len(t.uncommitted)-1]+1, n)
	}
	t.signal()
}

// committed gives back the tokens of the offsets below next, now committed.
func (t *tracker) committed(next int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for n < len(t.uncommitted) && t.uncommitted[n] < next {
		n++
	}
	t.uncommitted = t.uncommitted[n:]
	t.free(n)
}

// drain waits until every handed-out message was acked or the timeout passed, then
// stops accepting acks, commits, and gives back every token of the partition: what was
// not acked (or whose commit failed) is redelivered to the partition's next owner.
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
	if err := t.com.flush(); err != nil && !errors.Is(err, errFenced) {
		log.Warn("kafka offset commit at partition release failed; those messages will be redelivered",
			zap.String("topic", t.topic), zap.Int32("partition", t.partition), zap.Error(err))
	}
	t.com.untrack(t)
	t.mu.Lock()
	t.free(len(t.pending) + len(t.uncommitted))
	t.pending, t.uncommitted = nil, nil
	t.mu.Unlock()
}

// commitBatch is how many acked messages send a commit without waiting for the
// interval: a quarter of the window (at least 1), so the window's other three
// quarters keep jobs running while a commit is on the wire. No window: never.
func commitBatch(window int) int {
	if window == 0 {
		return 0
	}
	return max(1, window/4)
}
