package connectors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRESTPollerPagesCursorAndBackoff(t *testing.T) {
	var calls, failures atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		require.Equal(t, "Bearer x", r.Header.Get("Authorization"))
		if failures.Add(1) <= 2 { // the first two polls fail: backoff, then recover
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprint(w, `{"jobs":[{"request_id":"p1"},{"request_id":"p2"}],"next_cursor":"c2"}`)
		case "c2":
			fmt.Fprint(w, `{"jobs":[{"request_id":"p3"}],"next_cursor":"c3"}`)
		default:
			fmt.Fprint(w, `{"jobs":[],"next_cursor":""}`)
		}
	}))
	defer srv.Close()
	r, err := NewREST(set(DefaultRESTConfig(), func(c *RESTConfig) {
		c.URL = srv.URL
		c.Interval = 10 * time.Millisecond
		c.MaxBackoff = 50 * time.Millisecond
		c.Headers = map[string]string{"Authorization": "Bearer x"}
	}), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, r.Connect(ctx))
	var got []string
	for range 3 {
		m, ack, err := r.Read(ctx)
		require.NoError(t, err)
		got = append(got, string(m.Value))
		require.NoError(t, ack(ctx, nil))
	}
	require.Equal(t, []string{`{"request_id":"p1"}`, `{"request_id":"p2"}`, `{"request_id":"p3"}`}, got)
	require.NoError(t, r.Ping(ctx))
	// Nothing more: Read waits for the next poll and ends with ctx.
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	_, _, err = r.Read(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, r.Close(ctx))
}

// TestRESTStateFileResumes acknowledges part of a page out of order, "crashes" (a new
// poller on the same state file) and checks that only the jobs after the contiguous
// acknowledged prefix come back, then that a settled page moves the saved cursor on.
func TestRESTStateFileResumes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("cursor") {
		case "":
			fmt.Fprint(w, `{"jobs":[{"n":0},{"n":1},{"n":2},{"n":3}],"next_cursor":"c2"}`)
		case "c2":
			fmt.Fprint(w, `{"jobs":[{"n":4}],"next_cursor":"c3"}`)
		default:
			fmt.Fprint(w, `{"jobs":[],"next_cursor":""}`)
		}
	}))
	defer srv.Close()
	state := filepath.Join(t.TempDir(), "rest.state")
	cfg := set(DefaultRESTConfig(), func(c *RESTConfig) {
		c.URL = srv.URL
		c.Interval = 10 * time.Millisecond
		c.MaxBackoff = 50 * time.Millisecond
		c.StateFile = state
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := func(r *REST, n int) ([]string, []AckFunc) {
		var got []string
		var acks []AckFunc
		for range n {
			m, ack, err := r.Read(ctx)
			require.NoError(t, err)
			got = append(got, string(m.Value))
			acks = append(acks, ack)
		}
		return got, acks
	}

	r1, err := NewREST(cfg, nil)
	require.NoError(t, err)
	require.NoError(t, r1.Connect(ctx))
	got, acks := read(r1, 4)
	require.Equal(t, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`}, got)
	require.NoError(t, acks[1](ctx, nil))
	require.NoError(t, acks[0](ctx, nil))
	require.NoError(t, acks[3](ctx, nil)) // beyond the gap at 2: replayed after a crash
	data, err := os.ReadFile(state)
	require.NoError(t, err)
	require.JSONEq(t, `{"cursor":"","done":2}`, string(data))

	r2, err := NewREST(cfg, nil) // the restart: r1 is never closed, as after SIGKILL
	require.NoError(t, err)
	require.NoError(t, r2.Connect(ctx))
	got, acks = read(r2, 2)
	require.Equal(t, []string{`{"n":2}`, `{"n":3}`}, got, "only the unsettled tail is delivered again")
	for _, a := range acks {
		require.NoError(t, a(ctx, nil))
	}
	got, acks = read(r2, 1)
	require.Equal(t, []string{`{"n":4}`}, got)
	require.NoError(t, acks[0](ctx, nil))
	data, err = os.ReadFile(state)
	require.NoError(t, err)
	require.JSONEq(t, `{"cursor":"c3","done":0}`, string(data))

	require.NoError(t, os.WriteFile(state, []byte("not json"), 0o600))
	r3, err := NewREST(cfg, nil)
	require.NoError(t, err)
	require.ErrorContains(t, r3.Connect(ctx), "state_file")
}
