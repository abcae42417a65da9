package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"
)

// RESTConfig configures the REST poller (`pipelines[i].source.rest` in mfn.yaml).
//
// The poller sends GET URL (plus ?<cursor_param>=<cursor> once a cursor is known) and
// expects 200 with this JSON body:
//
//	{"jobs": [<job message>, ...], "next_cursor": "opaque string or empty"}
//
// Each element of jobs is one job message, exactly as a Kafka record value would be.
// When the page held jobs and next_cursor is not empty, the next page is fetched as
// soon as the current one is settled; otherwise the poller waits Interval. The cursor
// only advances after every job of the page was acknowledged, so a crash re-reads the
// page (at-least-once). The cursor lives in memory: a restart begins at StartCursor.
// Failures (network, non-200, bad JSON) back off exponentially from Interval up to
// MaxBackoff.
type RESTConfig struct {
	URL string `mapstructure:"url"`
	// Headers are sent with every request (e.g. Authorization).
	Headers map[string]string `mapstructure:"headers"`
	// Interval between polls when there is nothing new. Default 5s.
	Interval time.Duration `mapstructure:"interval"`
	// Timeout per request. Default 30s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxBackoff caps the wait after failures. Default 1m.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	// CursorParam is the query parameter carrying the cursor. Default "cursor".
	CursorParam string `mapstructure:"cursor_param"`
	// StartCursor is the cursor of the first request (empty: none).
	StartCursor string `mapstructure:"start_cursor"`
}

// WithDefaults fills zero fields.
func (c RESTConfig) WithDefaults() RESTConfig {
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = time.Minute
	}
	if c.CursorParam == "" {
		c.CursorParam = "cursor"
	}
	return c
}

// Validate checks the configuration; keys are relative to source.rest.
func (c RESTConfig) Validate() error {
	c = c.WithDefaults()
	if c.URL == "" {
		return cfgErr("url", "empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfgErr("url", "%q is not an http(s) URL", c.URL)
	}
	if c.Interval < 0 {
		return cfgErr("interval", "negative")
	}
	if c.Timeout <= 0 {
		return cfgErr("timeout", "must be positive")
	}
	if c.MaxBackoff < c.Interval {
		return cfgErr("max_backoff", "%s is below interval %s", c.MaxBackoff, c.Interval)
	}
	return nil
}

// Page is the body the REST poller expects.
type Page struct {
	Jobs       []json.RawMessage `json:"jobs"`
	NextCursor string            `json:"next_cursor"`
}

// REST is the polling Source.
type REST struct {
	cfg    RESTConfig
	log    *zap.Logger
	client *http.Client

	fetchMu sync.Mutex // one poll at a time
	mu      sync.Mutex
	cursor  string
	page    []Message
	pending int
	next    string        // cursor to move to once the page is settled
	settled chan struct{} // closed when pending drops to 0 for the current page
	wait    time.Duration // current delay before the next poll
	due     time.Time
	lastErr error
	closed  bool
}

// NewREST validates cfg.
func NewREST(cfg RESTConfig, log *zap.Logger) (*REST, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.WithDefaults()
	return &REST{cfg: cfg, log: log, client: &http.Client{Timeout: cfg.Timeout}, cursor: cfg.StartCursor}, nil
}

// Connect is a no-op: every poll is its own request.
func (r *REST) Connect(context.Context) error { return nil }

// Read hands out the jobs of the current page, fetching the next page when the current
// one is exhausted and settled.
func (r *REST) Read(ctx context.Context) (Message, AckFunc, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return Message{}, nil, ErrClosed
		}
		if len(r.page) > 0 {
			m := r.page[0]
			r.page = r.page[1:]
			r.pending++
			settled := r.settled
			r.mu.Unlock()
			var once sync.Once
			return m, func(context.Context, error) error {
				once.Do(func() { r.ack(settled) })
				return nil
			}, nil
		}
		settled, due := r.settled, r.due
		r.mu.Unlock()
		if settled != nil { // the last page is handed out but not settled yet
			select {
			case <-settled:
				continue
			case <-ctx.Done():
				return Message{}, nil, ctx.Err()
			}
		}
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return Message{}, nil, ctx.Err()
			}
		}
		// A poll cut by ctx leaves no backoff behind, so without this check Read would
		// spin on failing polls once ctx is done.
		if err := ctx.Err(); err != nil {
			return Message{}, nil, err
		}
		r.poll(ctx)
	}
}

func (r *REST) ack(settled chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	if r.pending == 0 && len(r.page) == 0 && r.settled == settled && settled != nil {
		r.cursor = r.next
		r.settled = nil
		close(settled)
	}
}

// poll fetches one page and schedules the next poll.
func (r *REST) poll(ctx context.Context) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	if len(r.page) > 0 || r.settled != nil || time.Until(r.due) > 0 {
		r.mu.Unlock()
		return // another reader polled meanwhile
	}
	cursor := r.cursor
	r.mu.Unlock()

	page, err := r.fetch(ctx, cursor)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		r.wait = min(max(2*r.wait, r.cfg.Interval), r.cfg.MaxBackoff)
		r.due = time.Now().Add(r.wait)
		r.log.Warn("rest poll failed; backing off", zap.Error(err), zap.Duration("backoff", r.wait))
		return
	}
	r.wait = 0
	if len(page.Jobs) == 0 {
		if page.NextCursor != "" {
			r.cursor = page.NextCursor
		}
		r.due = time.Now().Add(r.cfg.Interval)
		return
	}
	for i, j := range page.Jobs {
		r.page = append(r.page, Message{Value: j, ID: fmt.Sprintf("rest:%s:%d", cursor, i)})
	}
	r.next = page.NextCursor
	if r.next == "" {
		// Without a cursor the server decides what it serves next; keep the old one.
		r.next = cursor
		r.due = time.Now().Add(r.cfg.Interval)
	} else {
		r.due = time.Time{} // more pages may follow: fetch as soon as this one settles
	}
	r.settled = make(chan struct{})
}

func (r *REST) fetch(ctx context.Context, cursor string) (Page, error) {
	u, err := url.Parse(r.cfg.URL)
	if err != nil {
		return Page{}, err
	}
	if cursor != "" {
		q := u.Query()
		q.Set(r.cfg.CursorParam, cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Page{}, err
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range r.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return Page{}, fmt.Errorf("rest poll %s: %w", r.cfg.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Page{}, fmt.Errorf("rest poll %s: read body: %w", r.cfg.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Page{}, fmt.Errorf("rest poll %s: status %d", r.cfg.URL, resp.StatusCode)
	}
	var p Page
	if err := json.Unmarshal(body, &p); err != nil {
		return Page{}, fmt.Errorf("rest poll %s: decode page: %w", r.cfg.URL, err)
	}
	return p, nil
}

// Close stops handing out jobs.
func (r *REST) Close(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Ping reports the last poll's error (nil before the first poll).
func (r *REST) Ping(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}
