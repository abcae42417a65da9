package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"mfn/internal/cfgerr"
	"mfn/internal/retry"
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
// page (at-least-once); the upstream must serve the same page for the same cursor.
//
// With StateFile set, the acknowledged position (the page's cursor and how many of its
// first jobs are settled, every one of them published) is written to that file, atomically
// (temp file, fsync, rename), before an ack returns, and read back at start, so a
// restart resumes where the last run stopped: after a crash at most the jobs that were
// in flight (the pipeline's window) are delivered again. Without it the position lives
// in memory and every restart begins at StartCursor. Failures (network, non-200, bad
// JSON) back off exponentially from Interval up to MaxBackoff, with jitter, honouring
// a 429/503 Retry-After.
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
	// StartCursor is the cursor of the first request (empty: none) when no StateFile
	// position exists yet.
	StartCursor string `mapstructure:"start_cursor"`
	// StateFile keeps the acknowledged position across restarts (empty: in memory
	// only). Its directory must exist and be writable (on Kubernetes, a volume); delete
	// the file to start over from StartCursor.
	StateFile string `mapstructure:"state_file"`
}

// DefaultRESTConfig returns the REST source's defaults: poll every 5s, 30s timeout,
// backoff up to a minute, cursor parameter "cursor"; no URL.
func DefaultRESTConfig() RESTConfig {
	return RESTConfig{Interval: 5 * time.Second, Timeout: 30 * time.Second, MaxBackoff: time.Minute, CursorParam: "cursor"}
}

// Validate checks the configuration; keys are relative to source.rest.
func (c RESTConfig) Validate() error {
	if c.URL == "" {
		return cfgerr.New("url", "empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfgerr.New("url", "%q is not an http(s) URL", c.URL)
	}
	if c.Interval <= 0 {
		return cfgerr.New("interval", "must be positive")
	}
	if c.CursorParam == "" {
		return cfgerr.New("cursor_param", "empty")
	}
	if c.Timeout <= 0 {
		return cfgerr.New("timeout", "must be positive")
	}
	if c.MaxBackoff < c.Interval {
		return cfgerr.New("max_backoff", "%s is below interval %s", c.MaxBackoff, c.Interval)
	}
	if c.StateFile != "" && (strings.HasSuffix(c.StateFile, "/") || filepath.Base(c.StateFile) == ".") {
		return cfgerr.New("state_file", "%q names a directory, not a file", c.StateFile)
	}
	return nil
}

// Page is the body the REST poller expects.
type Page struct {
	Jobs       []json.RawMessage `json:"jobs"`
	NextCursor string            `json:"next_cursor"`
}

// restState is the StateFile content: the page at Cursor has its first Done jobs settled.
type restState struct {
	Cursor string `json:"cursor"`
	Done   int    `json:"done"`
}

// restPage is the page being handed out and settled.
type restPage struct {
	cursor  string // the cursor it was fetched with
	next    string // cursor to move to once the page is settled
	acked   []bool
	done    int           // contiguous settled prefix
	settled chan struct{} // closed when every job is settled
}

type restMsg struct {
	Message
	i int
}

// REST is the polling Source.
type REST struct {
	cfg    RESTConfig
	log    *zap.Logger
	client *http.Client

	fetchMu sync.Mutex // one poll at a time
	mu      sync.Mutex
	pos     restState // acknowledged position
	version uint64    // bumped whenever pos changes
	loaded  bool      // StateFile read
	queue   []restMsg // jobs of cur not handed out yet
	cur     *restPage // nil between pages
	backoff *retry.Backoff
	due     time.Time
	lastErr error
	closed  bool

	saveMu sync.Mutex // one StateFile write at a time
	saved  uint64     // version last written
}

// NewREST validates cfg.
func NewREST(cfg RESTConfig, log *zap.Logger) (*REST, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &REST{cfg: cfg, log: log, client: &http.Client{Timeout: cfg.Timeout}, pos: restState{Cursor: cfg.StartCursor},
		backoff: retry.Policy{Initial: max(cfg.Interval, 10*time.Millisecond), Max: cfg.MaxBackoff, Jitter: 0.5}.New()}, nil
}

// Connect reads the StateFile position once (every poll is its own request, so there
// is no link to establish). A missing file means StartCursor; an unreadable one is an
// error, so that a corrupt position never silently replays the upstream's history.
func (r *REST) Connect(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded || r.cfg.StateFile == "" {
		r.loaded = true
		return nil
	}
	data, err := os.ReadFile(r.cfg.StateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("rest state_file: %w", err)
	default:
		var st restState
		if err := json.Unmarshal(data, &st); err != nil || st.Done < 0 {
			return fmt.Errorf("rest state_file %s: not a saved position (delete it to start over from start_cursor): %v", r.cfg.StateFile, err)
		}
		r.pos = st
		r.log.Info("resuming rest poller", zap.String("cursor", st.Cursor), zap.Int("settled_in_page", st.Done))
	}
	r.loaded = true
	return nil
}

// Read hands out the jobs of the current page, fetching the next page when the current
// one is exhausted and settled.
func (r *REST) Read(ctx context.Context) (Message, AckFunc, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return Message{}, nil, ErrClosed
		}
		if len(r.queue) > 0 {
			m := r.queue[0]
			r.queue = r.queue[1:]
			pg := r.cur
			r.mu.Unlock()
			var once sync.Once
			return m.Message, func(ctx context.Context, _ error) error {
				var err error
				once.Do(func() { err = r.ack(ctx, pg, m.i) })
				return err
			}, nil
		}
		var settled chan struct{}
		if r.cur != nil {
			settled = r.cur.settled
		}
		due := r.due
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
			if !retry.Sleep(ctx, d) {
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

// ack settles job i of pg and, with a StateFile, returns once a position covering it
// is durable.
func (r *REST) ack(ctx context.Context, pg *restPage, i int) error {
	r.mu.Lock()
	pg.acked[i] = true
	moved := false
	for pg.done < len(pg.acked) && pg.acked[pg.done] {
		pg.done++
		moved = true
	}
	if moved && r.cur == pg {
		r.advance(pg)
	}
	v := r.version
	r.mu.Unlock()
	return r.save(ctx, v)
}

// advance moves the position to pg's settled prefix, or past pg once all of it is
// settled. Call with mu held.
func (r *REST) advance(pg *restPage) {
	if pg.done == len(pg.acked) {
		r.pos = restState{Cursor: pg.next}
		r.cur = nil
		close(pg.settled)
	} else {
		r.pos = restState{Cursor: pg.cursor, Done: pg.done}
	}
	r.version++
}

// save writes the position of version v or later to StateFile unless a concurrent
// save already did: acks that arrive during a write share the next one.
func (r *REST) save(ctx context.Context, v uint64) error {
	if r.cfg.StateFile == "" {
		return nil
	}
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	if r.saved >= v {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	st, latest := r.pos, r.version
	r.mu.Unlock()
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.cfg.StateFile, data); err != nil {
		return fmt.Errorf("rest state_file: %w", err)
	}
	r.saved = latest
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the old or
// the new content: temp file in the same directory, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir) // #nosec G304 -- the path comes from the operator's configuration
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// poll fetches one page and schedules the next poll.
func (r *REST) poll(ctx context.Context) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	if len(r.queue) > 0 || r.cur != nil || time.Until(r.due) > 0 {
		r.mu.Unlock()
		return // another reader polled meanwhile
	}
	pos := r.pos
	r.mu.Unlock()

	page, hint, err := r.fetch(ctx, pos.Cursor)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		wait := r.backoff.Next(hint)
		r.due = time.Now().Add(wait)
		r.log.Warn("rest poll failed; backing off", zap.Error(err), zap.Duration("backoff", wait))
		return
	}
	r.backoff.Reset()
	next := page.NextCursor
	if next == "" {
		// Without a cursor the server decides what it serves next; keep the old one.
		next = pos.Cursor
		r.due = time.Now().Add(r.cfg.Interval)
	} else {
		r.due = time.Time{} // more pages may follow: fetch as soon as this one settles
	}
	if len(page.Jobs) == 0 {
		if next != pos.Cursor || pos.Done != 0 {
			r.pos = restState{Cursor: next}
			r.version++
			v := r.version
			r.mu.Unlock()
			if err := r.save(ctx, v); err != nil {
				r.log.Warn("rest poller: cannot save the position; it is saved with the next ack", zap.Error(err))
			}
			r.mu.Lock()
		}
		r.due = time.Now().Add(r.cfg.Interval)
		return
	}
	pg := &restPage{cursor: pos.Cursor, next: next, acked: make([]bool, len(page.Jobs)), settled: make(chan struct{})}
	// Jobs a previous run settled (its saved position) are not handed out again.
	skip := min(pos.Done, len(page.Jobs))
	for i := range skip {
		pg.acked[i] = true
	}
	pg.done = skip
	for i := skip; i < len(page.Jobs); i++ {
		r.queue = append(r.queue, restMsg{Message: Message{Value: page.Jobs[i], ID: fmt.Sprintf("rest:%s:%d", pos.Cursor, i)}, i: i})
	}
	r.cur = pg
	if skip == len(page.Jobs) {
		r.advance(pg) // everything was settled before the restart
	}
}

func (r *REST) fetch(ctx context.Context, cursor string) (Page, time.Duration, error) {
	u, err := url.Parse(r.cfg.URL)
	if err != nil {
		return Page{}, 0, err
	}
	if cursor != "" {
		q := u.Query()
		q.Set(r.cfg.CursorParam, cursor)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Page{}, 0, err
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range r.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return Page{}, 0, fmt.Errorf("rest poll %s: %w", r.cfg.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Page{}, 0, fmt.Errorf("rest poll %s: read body: %w", r.cfg.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var hint time.Duration
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
				hint = time.Duration(secs) * time.Second
			}
		}
		return Page{}, hint, fmt.Errorf("rest poll %s: status %d", r.cfg.URL, resp.StatusCode)
	}
	var p Page
	if err := json.Unmarshal(body, &p); err != nil {
		return Page{}, 0, fmt.Errorf("rest poll %s: decode page: %w", r.cfg.URL, err)
	}
	return p, 0, nil
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
