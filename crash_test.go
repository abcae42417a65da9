package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests in this file SIGKILL the real mfn binary (no deferred code, no Close) at
// the moments where a result can be stranded or a position lost, restart it on the
// same state, and check that every job's result is present afterwards.

// mfnProc is one run of the binary.
type mfnProc struct {
	cmd    *exec.Cmd
	logs   *strings.Builder
	exited chan error
}

// startMFN starts the binary and waits until it serves /health (so its signal
// handlers are installed).
func startMFN(t *testing.T, c mfnConfig) *mfnProc {
	t.Helper()
	cmd := exec.Command(mfnBinary(t), "serve", "--config", c.path)
	cmd.Env = append(os.Environ(), "MFN_CONFIG=")
	p := &mfnProc{cmd: cmd, logs: &strings.Builder{}, exited: make(chan error, 1)}
	var mu sync.Mutex
	w := lockedWriter{mu: &mu, b: p.logs}
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			mu.Lock()
			t.Logf("mfn logs:\n%s", p.logs.String())
			mu.Unlock()
		}
	})
	eventually(t, 20*time.Second, "/health", func() bool {
		res, err := http.Get("http://" + c.addr + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (p *mfnProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited
	p.exited <- nil // for the cleanup
}

// stop sends SIGTERM and expects a clean exit.
func (p *mfnProc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		require.NoError(t, err)
		p.exited <- nil
	case <-time.After(25 * time.Second):
		t.Fatal("mfn did not stop after SIGTERM")
	}
}

// eventually polls cond every 10 ms (the state is files and a child process: there is
// no event to wait on) until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resultIDs counts the complete results per request id in the finished (*.jsonl)
// files of dir; .tmp files are not visible to readers and are not counted.
func resultIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	require.NoError(t, err)
	ids := map[string]int{}
	for _, name := range files {
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var r struct {
				RequestID string `json:"request_id"`
				Status    string `json:"status"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "%s: %s", name, sc.Text())
			require.Equal(t, "complete", r.Status, sc.Text())
			ids[r.RequestID]++
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	return ids
}

func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.NoError(t, err)
	return files
}

type mfnConfig struct{ path, addr string }

func writeConfig(t *testing.T, pipeline string) mfnConfig {
	t.Helper()
	c := mfnConfig{path: filepath.Join(t.TempDir(), "mfn.yaml"), addr: freePort(t)}
	cfg := fmt.Sprintf("server:\n  addr: %s\nlog:\n  level: WARNING\npipelines:\n%s", c.addr, pipeline)
	require.NoError(t, os.WriteFile(c.path, []byte(cfg), 0o600))
	return c
}

func jobLine(id string, seed int) string {
	return fmt.Sprintf(`{"request_id":%q,"type":"simulate","params":{"seed":%d,"grid_size":16,"steps":4}}`, id, seed)
}

func filePipeline(in, out string) string {
	return fmt.Sprintf(`  - name: files
    source:
      type: file
      file: {dir: %q, poll_interval: 20ms}
    sinks:
      - type: file
        file: {dir: %q}
    grace_period: 5s
`, in, out)
}

// TestFileSinkSIGKILLAfterLastAck kills mfn as soon as the last input file is in
// done/ (every job acknowledged), while its results sit in the sink's open .tmp file
// (flush_interval 1s has not passed): the restart must make them visible before, and
// without, any new input.
func TestFileSinkSIGKILLAfterLastAck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(in, 0o755))
	const n = 40
	var lines []string
	for i := range n {
		lines = append(lines, jobLine(fmt.Sprintf("f-%d", i), i))
	}
	require.NoError(t, os.WriteFile(filepath.Join(in, "batch.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	cfg := writeConfig(t, filePipeline(in, out))

	p := startMFN(t, cfg)
	eventually(t, 20*time.Second, "the input in done/", func() bool {
		_, err := os.Stat(filepath.Join(in, "done", "batch.jsonl"))
		return err == nil
	})
	p.kill(t)
	require.NotEmpty(t, tmpFiles(t, out), "the crash should leave the acknowledged results in .tmp (else this test shows nothing)")

	p = startMFN(t, cfg)
	eventually(t, 10*time.Second, "every result visible after the restart", func() bool { return len(resultIDs(t, out)) == n })
	require.Empty(t, tmpFiles(t, out))
	p.stop(t)
	ids := resultIDs(t, out)
	for i := range n {
		require.Equal(t, 1, ids[fmt.Sprintf("f-%d", i)], "f-%d", i)
	}
}

// TestFileSinkSIGKILLMidRun kills mfn while a stream of input files is being processed;
// after the restart every job has a result (some twice: at-least-once).
func TestFileSinkSIGKILLMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(in, 0o755))
	const files, per = 30, 5
	for f := range files {
		var lines []string
		for j := range per {
			lines = append(lines, jobLine(fmt.Sprintf("m-%d-%d", f, j), f*per+j))
		}
		tmp := filepath.Join(in, fmt.Sprintf(".f%d", f))
		require.NoError(t, os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
		require.NoError(t, os.Rename(tmp, filepath.Join(in, fmt.Sprintf("f%02d.jsonl", f))))
	}
	cfg := writeConfig(t, filePipeline(in, out))
	p := startMFN(t, cfg)
	eventually(t, 20*time.Second, "a third of the input in done/", func() bool {
		done, _ := filepath.Glob(filepath.Join(in, "done", "*.jsonl"))
		return len(done) >= files/3
	})
	p.kill(t)

	ids, dups := restartUntilAll(t, cfg, out, files*per)
	t.Logf("%d results, %d delivered twice", len(ids), dups)
}

// upstream is a paged REST job feed: page k (cursor "k") holds jobs k*size …
// k*size+size-1; past the last page it answers an empty page. It counts how often
// each page was served.
type upstream struct {
	pages, size int
	mu          sync.Mutex
	served      map[int]int
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if k, err = strconv.Atoi(c); err != nil {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
	}
	u.mu.Lock()
	u.served[k]++
	u.mu.Unlock()
	if k >= u.pages {
		fmt.Fprint(w, `{"jobs":[],"next_cursor":""}`)
		return
	}
	var jobs []string
	for i := k * u.size; i < (k+1)*u.size; i++ {
		jobs = append(jobs, jobLine(fmt.Sprintf("r-%d", i), i))
	}
	fmt.Fprintf(w, `{"jobs":[%s],"next_cursor":"%d"}`, strings.Join(jobs, ","), k+1)
}

// TestRESTPollerSIGKILLMidRun kills mfn while it works through a paged upstream and
// restarts it with the same state_file: every job has a result, and only jobs that
// were in flight (at most the window, concurrency) are delivered again, not the
// upstream's history from start_cursor.
func TestRESTPollerSIGKILLMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const pages, size, window = 10, 20, 20
	up := &upstream{pages: pages, size: size, served: map[int]int{}}
	srv := httptest.NewServer(up)
	defer srv.Close()
	cfg, out, state := pollerConfig(t, srv.URL, "flush_interval: 20ms", fmt.Sprintf("concurrency: %d", window))

	p := startMFN(t, cfg)
	eventually(t, 20*time.Second, "a third of the pages acknowledged", func() bool {
		data, err := os.ReadFile(state)
		if err != nil {
			return false
		}
		var st struct{ Cursor string }
		if json.Unmarshal(data, &st) != nil {
			return false
		}
		k, _ := strconv.Atoi(st.Cursor)
		return k >= pages/3
	})
	p.kill(t)

	ids, replayed := restartUntilAll(t, cfg, out, pages*size)
	t.Logf("%d results, %d delivered twice (window %d)", len(ids), replayed, window)
	require.LessOrEqual(t, replayed, window, "replays are bounded by the in-flight window")
	up.mu.Lock()
	defer up.mu.Unlock()
	require.Equal(t, 1, up.served[0], "the first page is not fetched again after the restart")
}

// pollerConfig writes the config of a REST poller of url into a file sink: the sink's
// options after its dir (sinkOpts) and one more pipeline line (extra, may be empty). It
// returns the config, the sink's directory and the poller's state file.
func pollerConfig(t *testing.T, url, sinkOpts, extra string) (cfg mfnConfig, out, state string) {
	dir := t.TempDir()
	out, state = filepath.Join(dir, "out"), filepath.Join(dir, "rest.state")
	if extra != "" {
		extra = "    " + extra + "\n"
	}
	cfg = writeConfig(t, fmt.Sprintf(`  - name: poller
    source:
      type: rest
      rest: {url: %q, interval: 50ms, max_backoff: 1s, state_file: %q}
    sinks:
      - type: file
        file: {dir: %q, %s}
%s    grace_period: 5s
`, url, state, out, sinkOpts, extra))
	return cfg, out, state
}

// restartUntilAll starts mfn again on cfg after a kill, waits until out holds want
// distinct results, stops it, and returns the results (id → copies) and how many copies
// beyond the first were delivered.
func restartUntilAll(t *testing.T, cfg mfnConfig, out string, want int) (ids map[string]int, dups int) {
	t.Helper()
	p := startMFN(t, cfg)
	eventually(t, 30*time.Second, "every result", func() bool { return len(resultIDs(t, out)) == want })
	p.stop(t)
	ids = resultIDs(t, out)
	for id, c := range ids {
		require.GreaterOrEqual(t, c, 1, id)
		dups += c - 1
	}
	return ids, dups
}
