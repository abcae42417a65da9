package connectors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	r, err := NewREST(RESTConfig{URL: srv.URL, Interval: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Headers: map[string]string{"Authorization": "Bearer x"}}, nil)
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
