package ws

import (
	"sync"

	"github.com/coder/websocket"
)

// outMsg is one queued frame. Only droppable messages (feature_update and non-final
// simulation_state) are ever discarded; replies, heartbeats, errors and
// simulation_complete always get through. A close entry makes the writer close the
// socket after everything queued before it has been written.
type outMsg struct {
	typ       string // message type, for metrics
	data      []byte
	droppable bool

	close       bool
	closeCode   websocket.StatusCode
	closeReason string
}

// controlReserve is how many undroppable messages may sit above QueueSize. They are
// small and produced at the client's pace; a client that never reads yet keeps asking
// hits this and is closed instead of growing the queue.
const controlReserve = 64

// sendQueue is the bounded FIFO between producers (read loop, ticker, streams) and the
// connection's one writer. push never blocks: when full it applies the configured
// strategy to droppable messages and counts what it dropped.
type sendQueue struct {
	mu        sync.Mutex
	items     []outMsg // FIFO; items[0] is written next
	bytes     int64
	max       int
	maxBytes  int64
	strategy  string
	dropped   int64
	highCount int   // largest len(items) seen, for tests of the memory bound
	highBytes int64 // largest bytes seen
	closed    bool
	notify    chan struct{} // capacity 1: "something was pushed"
	onDrop    func(n int)
}

func newSendQueue(max int, maxBytes int64, strategy string, onDrop func(int)) *sendQueue {
	return &sendQueue{max: max, maxBytes: maxBytes, strategy: strategy, notify: make(chan struct{}, 1), onDrop: onDrop}
}

func (q *sendQueue) full(extra int64) bool {
	return len(q.items) >= q.max || q.bytes+extra > q.maxBytes
}

// dropOldest removes the oldest droppable message; false when there is none.
func (q *sendQueue) dropOldest() bool {
	for i := range q.items {
		if q.items[i].droppable {
			q.bytes -= int64(len(q.items[i].data))
			q.items = append(q.items[:i], q.items[i+1:]...)
			q.dropped++
			return true
		}
	}
	return false
}

// compress keeps the droppable messages at even positions among the droppable ones
// (0, 2, 4, …), the reference's "compress" halving; undroppable ones all stay.
func (q *sendQueue) compress() int {
	kept := q.items[:0]
	n, k := 0, 0
	for _, m := range q.items {
		if m.droppable {
			k++
			if (k-1)%2 == 1 {
				q.bytes -= int64(len(m.data))
				n++
				continue
			}
		}
		kept = append(kept, m)
	}
	clear(q.items[len(kept):]) // let the dropped frames be collected
	q.items = kept
	q.dropped += int64(n)
	return n
}

// push queues m. It returns false when undroppable messages overflowed the reserve and
// the connection must be closed. After shut, messages are discarded silently.
func (q *sendQueue) push(m outMsg) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return true
	}
	size := int64(len(m.data))
	dropped := 0
	ok := true
	switch {
	case !q.full(size):
	case m.droppable:
		switch q.strategy {
		case BackpressureDropNewest:
			q.dropped++
			dropped++
			m = outMsg{}
		case BackpressureCompress:
			dropped += q.compress()
			if q.full(size) {
				q.dropped++
				dropped++
				m = outMsg{}
			}
		default: // drop_oldest
			for q.full(size) && q.dropOldest() {
				dropped++
			}
			if q.full(size) { // only undroppable messages left: m loses
				q.dropped++
				dropped++
				m = outMsg{}
			}
		}
	default:
		// Undroppable: make room by evicting data, whatever the strategy, then allow a
		// small overshoot rather than lose a reply or the final result.
		for q.full(size) && q.dropOldest() {
			dropped++
		}
		if len(q.items) >= q.max+controlReserve {
			ok = false
			m = outMsg{}
		}
	}
	queued := m.data != nil || m.close
	if queued {
		q.items = append(q.items, m)
		q.bytes += size
		q.highCount = max(q.highCount, len(q.items))
		q.highBytes = max(q.highBytes, q.bytes)
	}
	q.mu.Unlock()
	if dropped > 0 && q.onDrop != nil {
		q.onDrop(dropped)
	}
	if queued {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return ok
}

// pop takes the next message; false when the queue is empty.
func (q *sendQueue) pop() (outMsg, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return outMsg{}, false
	}
	m := q.items[0]
	q.items[0] = outMsg{}
	q.items = q.items[1:]
	q.bytes -= int64(len(m.data))
	return m, true
}

// shut refuses further pushes and discards what is queued.
func (q *sendQueue) shut() {
	q.mu.Lock()
	q.closed = true
	q.items, q.bytes = nil, 0
	q.mu.Unlock()
}

func (q *sendQueue) droppedTotal() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// high returns the largest length and byte size the queue ever reached.
func (q *sendQueue) high() (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.highCount, q.highBytes
}
