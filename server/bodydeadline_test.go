package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBodyDeadlineLiftedAfterBody: a body that arrives after its headers (so that its
// read waits on the socket and the armed deadline is applied) is read, and the job after
// it outlasts body_read_timeout without being cut: the deadline is lifted once the body
// is in. The same connection then serves a second request whose body came with its
// headers.
func TestBodyDeadlineLiftedAfterBody(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BodyReadTimeout = 100 * time.Millisecond
	_, addr := hostileServer(t, cfg, DefaultWSConfig())
	conn, err := dialFrom("127.0.0.4", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(8*time.Second)))
	br := bufio.NewReader(conn)

	// A simulation of this size takes well over 100 ms (about 250 ms on a 2-core VM).
	body := `{"grid_size":256,"steps":1000,"seed":1}`
	_, err = fmt.Fprintf(conn, "POST /simulate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond) // the body must not arrive with the headers: the point of the test
	start := time.Now()
	_, err = io.WriteString(conn, body)
	require.NoError(t, err)
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	if took := time.Since(start); took < cfg.BodyReadTimeout {
		t.Logf("the job took %s, less than body_read_timeout: the check of the lift is void on this machine", took)
	}

	nernst := `{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`
	_, err = fmt.Fprintf(conn, "POST /nernst HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(nernst), nernst)
	require.NoError(t, err)
	res, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
}
