package connectors

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"mfn/internal/cfgerr"
)

// FileConfig configures the file feed (`pipelines[i].source.file` in mfn.yaml).
//
// Layout under Dir: writers drop *.json (one job per file) or *.jsonl (one job per
// line) files into Dir itself. Writers must create the file under another name (for
// example "x.json.tmp", or a dot-file) and rename it into place when complete: names
// ending in .tmp and names starting with "." are never picked up, so a half-written
// file is never read. The feed claims a file by renaming it into processing/, and once
// every job in it is settled moves it to done/ (all published) or failed/ (at least one
// job was undecodable or dead-lettered). A name that is still in processing/ (a writer
// reusing names) is claimed as "<name>.<nanos>-<n>.<ext>" so neither copy is lost.
// After a crash, files left in processing/ are
// read again from the start (at-least-once: jobs of a half-processed file may run twice).
type FileConfig struct {
	// Dir is the watched directory; processing/, done/ and failed/ are created in it.
	Dir string `mapstructure:"dir"`
	// PollInterval is how often Dir is listed when idle. Default 1s.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// MaxFileBytes rejects larger files (they go to failed/ as one undecodable job).
	// Default 64 MiB.
	MaxFileBytes int64 `mapstructure:"max_file_bytes"`
}

// DefaultFileConfig returns the file source's defaults: poll every second, files up to
// 64 MiB; no directory.
func DefaultFileConfig() FileConfig {
	return FileConfig{PollInterval: time.Second, MaxFileBytes: 64 << 20}
}

// Validate checks the configuration; keys are relative to source.file.
func (c FileConfig) Validate() error {
	if c.Dir == "" {
		return cfgerr.New("dir", "empty")
	}
	if c.PollInterval <= 0 {
		return cfgerr.New("poll_interval", "must be positive")
	}
	if c.MaxFileBytes <= 0 {
		return cfgerr.New("max_file_bytes", "must be positive")
	}
	return nil
}

// Subdirectories of FileConfig.Dir.
const (
	ProcessingDir = "processing"
	DoneDir       = "done"
	FailedDir     = "failed"
)

// File is the file-feed Source. It keeps no state outside the directory, so any number
// of restarts is safe; two processes must not watch the same directory.
type File struct {
	cfg FileConfig
	log *zap.Logger

	mu      sync.Mutex
	cur     *claimed   // file whose lines are being handed out
	queue   []*claimed // leftovers from processing/ at start-up
	started bool
	closed  bool
}

// claimed is a file moved into processing/.
type claimed struct {
	name    string   // base name
	lines   [][]byte // jobs still to hand out
	next    int      // line number (1-based) of lines[0]
	pending int      // handed out, not yet acked
	failed  bool
	read    bool // every line handed out
}

// NewFile validates cfg.
func NewFile(cfg FileConfig, log *zap.Logger) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &File{cfg: cfg, log: log}, nil
}

// Connect checks Dir and creates the subdirectories; files already in processing/
// (left by a crash) are queued to be read first.
func (f *File) Connect(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	st, err := os.Stat(f.cfg.Dir)
	if err != nil {
		return fmt.Errorf("file feed: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("file feed: %s is not a directory", f.cfg.Dir)
	}
	for _, d := range []string{ProcessingDir, DoneDir, FailedDir} {
		if err := os.MkdirAll(filepath.Join(f.cfg.Dir, d), 0o755); err != nil { // #nosec G301 -- shared with the producers/consumers of the files; the umask narrows it
			return fmt.Errorf("file feed: %w", err)
		}
	}
	if !f.started {
		names, err := jobFiles(filepath.Join(f.cfg.Dir, ProcessingDir))
		if err != nil {
			return err
		}
		for _, n := range names {
			f.log.Info("resuming file left in processing", zap.String("file", n))
			f.queue = append(f.queue, &claimed{name: n, next: 1})
		}
		f.started = true
	}
	return nil
}

// jobFiles lists *.json and *.jsonl in dir, sorted, skipping .tmp and dot-files.
func jobFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("file feed: list %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(n, ".") {
			continue
		}
		if strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".jsonl") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Read hands out the next job, claiming a new file when the current one is exhausted
// and polling Dir every PollInterval while it is empty.
func (f *File) Read(ctx context.Context) (Message, AckFunc, error) {
	for {
		m, ack, ok, err := f.next()
		if err != nil || ok {
			return m, ack, err
		}
		select {
		case <-ctx.Done():
			return Message{}, nil, ctx.Err()
		case <-time.After(f.cfg.PollInterval):
		}
	}
}

func (f *File) next() (Message, AckFunc, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return Message{}, nil, false, ErrClosed
	}
	if !f.started {
		return Message{}, nil, false, ErrNotConnected
	}
	for {
		if f.cur != nil && len(f.cur.lines) > 0 {
			c := f.cur
			line := c.lines[0]
			n := c.next
			c.lines, c.next = c.lines[1:], c.next+1
			c.pending++
			if len(c.lines) == 0 {
				c.read = true
				f.cur = nil
			}
			var once sync.Once
			ack := func(_ context.Context, err error) error {
				var res error
				once.Do(func() { res = f.ack(c, err) })
				return res
			}
			return Message{Value: line, ID: fmt.Sprintf("file:%s:%d", c.name, n)}, ack, true, nil
		}
		f.cur = nil
		c, err := f.claim()
		if err != nil {
			return Message{}, nil, false, err
		}
		if c == nil {
			return Message{}, nil, false, nil
		}
		if len(c.lines) == 0 { // an empty *.jsonl: nothing to do
			c.read = true
			if err := f.finish(c); err != nil {
				return Message{}, nil, false, err
			}
			continue
		}
		f.cur = c
	}
}

// claim takes the next file: first the start-up leftovers, then Dir, renaming it into
// processing/ (rename is atomic, so a file is claimed once even against a second reader).
func (f *File) claim() (*claimed, error) {
	proc := filepath.Join(f.cfg.Dir, ProcessingDir)
	var c *claimed
	if len(f.queue) > 0 {
		c, f.queue = f.queue[0], f.queue[1:]
	} else {
		names, err := jobFiles(f.cfg.Dir)
		if err != nil {
			return nil, ErrNotConnected
		}
		for _, n := range names {
			// A writer may reuse a name while the previous file of that name is still
			// in processing/ (its jobs unsettled): rename would replace that copy, and
			// its finish would then move this one to done/ unread. Claim under a
			// fresh name instead (same extension, so recovery still picks it up).
			dst := n
			for i := 0; ; i++ {
				if _, err := os.Lstat(filepath.Join(proc, dst)); errors.Is(err, fs.ErrNotExist) {
					break
				}
				ext := filepath.Ext(n)
				dst = fmt.Sprintf("%s.%d-%d%s", strings.TrimSuffix(n, ext), time.Now().UnixNano(), i, ext)
			}
			err := os.Rename(filepath.Join(f.cfg.Dir, n), filepath.Join(proc, dst))
			if errors.Is(err, fs.ErrNotExist) {
				continue // somebody else took it
			}
			if err != nil {
				return nil, fmt.Errorf("file feed: claim %s: %w", n, err)
			}
			c = &claimed{name: dst, next: 1}
			break
		}
		if c == nil {
			return nil, nil
		}
	}
	path := filepath.Join(proc, c.name)
	data, err := readLimited(path, f.cfg.MaxFileBytes)
	if err != nil {
		// An unreadable or oversized file becomes one job that fails to decode, so it
		// is dead-lettered and moved to failed/ like any poison input.
		f.log.Warn("file feed: cannot read file; passing it on as undecodable", zap.String("file", c.name), zap.Error(err))
		c.lines = [][]byte{[]byte(fmt.Sprintf("unreadable file %s: %v", c.name, err))}
		return c, nil
	}
	if strings.HasSuffix(c.name, ".jsonl") {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), len(data)+1)
		line := 0
		for sc.Scan() {
			line++
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue // blank lines are not jobs (line numbers still count them)
			}
			if len(c.lines) == 0 {
				c.next = line
			}
			c.lines = append(c.lines, bytes.Clone(sc.Bytes()))
		}
	} else {
		c.lines = [][]byte{data}
	}
	return c, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%d bytes exceeds max_file_bytes %d", st.Size(), limit)
	}
	return os.ReadFile(path) // #nosec G304 -- the path comes from the operator's configuration
}

func (f *File) ack(c *claimed, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.pending--
	if err != nil {
		c.failed = true
	}
	if c.read && c.pending == 0 {
		return f.finish(c)
	}
	return nil
}

// finish moves a fully settled file from processing/ to done/ or failed/. Call with f.mu held.
func (f *File) finish(c *claimed) error {
	dst := DoneDir
	if c.failed {
		dst = FailedDir
	}
	from := filepath.Join(f.cfg.Dir, ProcessingDir, c.name)
	to := filepath.Join(f.cfg.Dir, dst, c.name)
	if _, err := os.Stat(to); err == nil {
		// A file of the same name was processed before: keep both.
		to = filepath.Join(f.cfg.Dir, dst, fmt.Sprintf("%s.%d", c.name, time.Now().UnixNano()))
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("file feed: move %s to %s: %w", c.name, dst, err)
	}
	return nil
}

// Close stops handing out jobs. Unfinished files stay in processing/ and are read
// again by the next Connect of a new File.
func (f *File) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// Ping checks that Dir is still a directory.
func (f *File) Ping(context.Context) error {
	st, err := os.Stat(f.cfg.Dir)
	if err != nil {
		return fmt.Errorf("file feed: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("file feed: %s is not a directory", f.cfg.Dir)
	}
	return nil
}
