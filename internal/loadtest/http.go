package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpClient is one keep-alive HTTP/1.1 connection sending the same request. It parses
// only the status and Content-Length, so its own CPU stays small next to the server's.
type httpClient struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
}

func dialHTTP(addr, path, body string) (*httpClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, addr, len(body), body)
	return &httpClient{conn: c, r: bufio.NewReaderSize(c, 16<<10), req: []byte(req)}, nil
}

var contentLength = []byte("content-length:")

// do sends one request and reads the whole response; it returns the status code.
func (c *httpClient) do() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	n := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > len(contentLength) && bytes.EqualFold(h[:len(contentLength)], contentLength) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(h[len(contentLength):])))
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("no content-length")
	}
	_, err = c.r.Discard(n)
	return status, err
}

// HTTPLoad dials conns keep-alive connections to addr, checks that each gets 200 for
// POST path with body, and returns the load for Measure: b.N such requests spread over
// the connections, each answered 200 (b fails otherwise).
func HTTPLoad(b *testing.B, addr, path, body string, conns int) func() []time.Duration {
	b.Helper()
	clients := make([]*httpClient, conns)
	for i := range clients {
		c, err := dialHTTP(addr, path, body)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.conn.Close() })
		if st, err := c.do(); err != nil || st != 200 { // warm the connection and check the answer
			b.Fatalf("warm-up: status %d, %v", st, err)
		}
		clients[i] = c
	}
	return func() []time.Duration {
		lat := make([][]time.Duration, conns)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() {
				l := make([]time.Duration, 0, b.N/conns+1)
				for next.Add(1) <= int64(b.N) {
					t0 := time.Now()
					st, err := c.do()
					l = append(l, time.Since(t0))
					if err != nil || st != 200 {
						failed.Add(1)
						if err != nil {
							break
						}
					}
				}
				lat[i] = l
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d requests failed", f)
		}
		return slices.Concat(lat...)
	}
}
