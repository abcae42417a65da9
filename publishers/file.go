package publishers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"mfn/internal/cfgerr"
)

// FileConfig configures the JSON-lines or Parquet file sink (`file:` of a sink in mfn.yaml).
//
// Results are appended, one compact JSON envelope per line, to
// Dir/<prefix>-<UTC yyyymmddThhmmss.fffZ>-<seq>.jsonl.tmp and fsynced before Publish
// returns. The file is renamed to the same name without .tmp when it reaches MaxBytes,
// is older than MaxAge, has had no new line for FlushInterval (so a small batch shows
// up about a second after its last result), or the sink closes. Rename is atomic, so
// readers that only look at *.jsonl never see a partial file. Start (called by the
// pipeline before it reads its first input) cuts .tmp files left by a crash back to
// their last complete line and renames them into place.
type FileConfig struct {
	Dir string `mapstructure:"dir"`
	// Prefix starts every file name. Default "results"; no path separators.
	Prefix string `mapstructure:"prefix"`
	// MaxBytes rotates the file once it holds this many bytes. Default 64 MiB.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// MaxAge rotates a non-empty file this long after its first line. Default 1m.
	MaxAge time.Duration `mapstructure:"max_age"`
	// FlushInterval rotates a non-empty file once no line was added for this long, so
	// results appear promptly when the input pauses. Default 1s.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// Format is jsonl (default) or parquet. A Parquet file cannot be appended to, so
	// in parquet format the .tmp file is a JSON-lines journal (fsynced per result as in
	// jsonl format, and counted by MaxBytes) that is turned into <name>.parquet, one
	// ParquetRow per result, when the file rotates; recovery at start does the same
	// for the journals a crash left.
	Format string `mapstructure:"format"`
}

// DefaultFileConfig returns the file sink's defaults: prefix "results", files up to
// 64 MiB or a minute old, made visible after 1s without a new line; no directory.
func DefaultFileConfig() FileConfig {
	return FileConfig{Prefix: "results", MaxBytes: 64 << 20, MaxAge: time.Minute, FlushInterval: time.Second, Format: FormatJSONL}
}

// Validate checks the configuration; keys are relative to file.
func (c FileConfig) Validate() error {
	if c.Dir == "" {
		return cfgerr.New("dir", "empty")
	}
	if c.Prefix == "" {
		return cfgerr.New("prefix", "empty")
	}
	if strings.ContainsAny(c.Prefix, `/\`) || strings.Contains(c.Prefix, "..") || strings.HasPrefix(c.Prefix, ".") {
		return cfgerr.New("prefix", "%q must be a plain file name prefix", c.Prefix)
	}
	if c.MaxBytes <= 0 {
		return cfgerr.New("max_bytes", "must be positive")
	}
	if c.MaxAge <= 0 {
		return cfgerr.New("max_age", "must be positive")
	}
	if c.FlushInterval <= 0 {
		return cfgerr.New("flush_interval", "must be positive")
	}
	if c.Format != FormatJSONL && c.Format != FormatParquet {
		return cfgerr.New("format", "unknown %q (want jsonl or parquet)", c.Format)
	}
	return nil
}

// File is the JSON-lines sink. Publish calls are serialised.
type File struct {
	cfg FileConfig
	log *zap.Logger
	now func() time.Time

	mu      sync.Mutex
	f       *os.File
	name    string // final name (without .tmp)
	size    int64
	opened  time.Time
	written time.Time // last line appended
	seq     int
	timer   *time.Timer
	started bool
	closed  bool
}

const tmpSuffix = ".tmp"

// NewFile validates cfg; the directory is created and crash leftovers are recovered by
// Start (or, at the latest, by the first Publish).
func NewFile(cfg FileConfig, log *zap.Logger) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &File{cfg: cfg, log: log, now: time.Now}, nil
}

// Start creates Dir and finishes the .tmp files of a previous run, so results that a
// crashed run had acknowledged become visible before any new input is read, even if
// none follows. It is idempotent.
func (f *File) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.start()
}

// start is Start with mu held.
func (f *File) start() error {
	if f.started {
		return nil
	}
	if err := os.MkdirAll(f.cfg.Dir, 0o755); err != nil { // #nosec G301 -- shared with the producers/consumers of the files; the umask narrows it
		return fmt.Errorf("file sink: %w", err)
	}
	if err := removeParts(f.cfg.Dir, f.cfg.Prefix); err != nil {
		return err
	}
	leftovers, err := filepath.Glob(filepath.Join(f.cfg.Dir, f.cfg.Prefix+"-*"+ext(f.cfg.Format)+tmpSuffix))
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	for _, p := range leftovers {
		if err := recoverTmp(p, f.cfg.Format); err != nil {
			return err
		}
		f.log.Info("recovered unfinished result file", zap.String("file", strings.TrimSuffix(p, tmpSuffix)))
	}
	f.started = true
	return nil
}

// recoverTmp cuts a torn last line and finishes the file.
func recoverTmp(p, format string) error {
	data, err := os.ReadFile(p) // #nosec G304 -- the path comes from the operator's configuration
	if err != nil {
		return fmt.Errorf("file sink: recover %s: %w", p, err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i+1 != len(data) {
		if err := os.Truncate(p, int64(i+1)); err != nil {
			return fmt.Errorf("file sink: recover %s: %w", p, err)
		}
	}
	if err := finish(strings.TrimSuffix(p, tmpSuffix), format); err != nil {
		return fmt.Errorf("file sink: recover %s: %w", p, err)
	}
	return nil
}

// finish makes name from its complete name+".tmp": a rename for JSON lines, a
// conversion for Parquet.
func finish(name, format string) error {
	if format == FormatParquet {
		return writeParquet(name)
	}
	if err := os.Rename(name+tmpSuffix, name); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return syncDir(filepath.Dir(name))
}

// Publish appends rec.Body as one line and fsyncs it.
func (f *File) Publish(_ context.Context, rec Record) error {
	if bytes.ContainsAny(rec.Body, "\n\r") {
		return Permanent(errors.New("file sink: record body contains a newline; JSON lines need compact JSON"))
	}
	if f.cfg.Format == FormatParquet {
		// Only records that make a row enter the journal, so the conversion cannot fail on one.
		if _, err := parquetRow(rec.Body); err != nil {
			return Permanent(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return Permanent(errors.New("file sink: closed"))
	}
	if err := f.start(); err != nil {
		return err
	}
	if f.f != nil && f.size > 0 && (f.size+int64(len(rec.Body))+1 > f.cfg.MaxBytes || f.now().Sub(f.opened) >= f.cfg.MaxAge) {
		if err := f.rotate(); err != nil {
			return err
		}
	}
	if f.f == nil {
		if err := f.open(); err != nil {
			return err
		}
	}
	line := append(bytes.Clone(rec.Body), '\n')
	prev := f.size
	n, err := f.f.Write(line)
	f.size += int64(n)
	f.written = f.now()
	if err == nil {
		err = f.f.Sync()
	}
	if err != nil {
		werr := fmt.Errorf("file sink: write %s: %w", f.name, err)
		f.abandon(prev)
		return werr
	}
	return nil
}

// abandon gives up the current file after a failed write: a torn line may be on disk,
// so the file is cut back to its complete (already acknowledged) lines and renamed into
// place now, rather than waiting as .tmp, unseen by readers, for the recovery at the
// next start; if that fails too, the recovery still does it. Call with mu held.
func (f *File) abandon(complete int64) {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	_ = f.f.Close()
	f.f = nil
	tmp := f.name + tmpSuffix
	err := os.Truncate(tmp, complete)
	switch {
	case err != nil:
	case complete == 0:
		err = os.Remove(tmp)
	default:
		err = finish(f.name, f.cfg.Format)
	}
	if err != nil {
		f.log.Warn("file sink: cannot finish the file after a failed write; it is recovered at the next start",
			zap.String("file", tmp), zap.Error(err))
	}
}

// open starts a new .tmp file. Call with mu held.
func (f *File) open() error {
	f.seq++
	now := f.now().UTC()
	f.name = filepath.Join(f.cfg.Dir, fmt.Sprintf("%s-%s-%06d%s", f.cfg.Prefix, now.Format("20060102T150405.000Z"), f.seq, ext(f.cfg.Format)))
	fh, err := os.OpenFile(f.name+tmpSuffix, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644) // #nosec G302 -- results are for downstream readers; the umask narrows it
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	f.f, f.size, f.opened, f.written = fh, 0, now, now
	f.timer = time.AfterFunc(f.nextCheck(), f.rotateIfDue)
	return nil
}

// nextCheck is how long the timer waits before looking at the open file again: the
// earlier of its MaxAge deadline and its FlushInterval idle deadline. Call with mu held.
func (f *File) nextCheck() time.Duration {
	now := f.now()
	return max(min(f.opened.Add(f.cfg.MaxAge).Sub(now), f.written.Add(f.cfg.FlushInterval).Sub(now)), time.Millisecond)
}

// rotateIfDue runs on the timer: it rotates a non-empty file that is too old or idle,
// and otherwise re-arms the timer for the next deadline.
func (f *File) rotateIfDue() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil || f.timer == nil {
		return
	}
	now := f.now()
	if f.size > 0 && (now.Sub(f.opened) >= f.cfg.MaxAge || now.Sub(f.written) >= f.cfg.FlushInterval) {
		if err := f.rotate(); err != nil {
			f.log.Warn("file sink: rotation failed; retrying on the next publish", zap.Error(err))
		}
		return
	}
	f.timer.Reset(f.nextCheck())
}

// rotate fsyncs, closes and renames the current file into place. Call with mu held.
func (f *File) rotate() error {
	if f.f == nil {
		return nil
	}
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	fh := f.f
	f.f = nil
	errSync := fh.Sync()
	errClose := fh.Close()
	if err := errors.Join(errSync, errClose); err != nil {
		return fmt.Errorf("file sink: close %s: %w", f.name, err)
	}
	if f.size == 0 {
		return os.Remove(f.name + tmpSuffix)
	}
	return finish(f.name, f.cfg.Format)
}

func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the path comes from the operator's configuration
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("file sink: sync %s: %w", dir, err)
	}
	return nil
}

// Close renames the current file into place.
func (f *File) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	// A sink that never published still finishes what a crashed run left behind.
	return errors.Join(f.start(), f.rotate())
}

// Ping checks that Dir exists or can be created.
func (f *File) Ping(context.Context) error {
	if err := os.MkdirAll(f.cfg.Dir, 0o755); err != nil { // #nosec G301 -- shared with the producers/consumers of the files; the umask narrows it
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}
