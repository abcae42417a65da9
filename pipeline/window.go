package pipeline

import (
	"context"
	"sync"
)

// window is a pipeline's in-flight limit: a slot is taken before a message is read and
// given back once it is settled (or abandoned), so at most limit messages (their input
// and result bytes) are held at once, whatever the sinks do. The limit halves each time
// a sink publish has to be retried (a failing or throttling sink gets one probe at a
// time instead of a retry storm from every slot) and grows back by one per message
// published without a retry, up to max: additive increase, multiplicative decrease.
type window struct {
	mu       sync.Mutex
	max      int
	limit    int
	inFlight int
	changed  chan struct{} // closed and replaced whenever a slot frees or limit grows
}

func newWindow(size int) *window {
	return &window{max: size, limit: size, changed: make(chan struct{})}
}

// acquire takes a slot, waiting while the window is full; false when ctx ended first.
func (w *window) acquire(ctx context.Context) bool {
	for {
		w.mu.Lock()
		if w.inFlight < w.limit {
			w.inFlight++
			w.mu.Unlock()
			return true
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (w *window) release() {
	w.mu.Lock()
	w.inFlight--
	w.wake()
	w.mu.Unlock()
}

// shrink halves the limit (not below 1) after a sink needed a retry.
func (w *window) shrink() {
	w.mu.Lock()
	w.limit = max(1, w.limit/2)
	w.mu.Unlock()
}

// grow adds one slot (up to max) after a publish that needed no retry.
func (w *window) grow() {
	w.mu.Lock()
	if w.limit < w.max {
		w.limit++
		w.wake()
	}
	w.mu.Unlock()
}

func (w *window) wake() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// state reports the current limit and the slots in use.
func (w *window) state() (limit, inFlight int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit, w.inFlight
}
