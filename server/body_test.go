package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/jobs"
	"mfn/server/envelope"
)

// A body the client garbles (bad chunked framing) is the client's error: 400 with the
// envelope, not a 500 logged as an internal failure.
func TestUnreadableBodyIs400(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	base, _ := serve(t, s)
	for _, p := range []string{"/nernst", "/simulate", "/validate", "/federated/aggregate", "/api/sign", "/simulate/image", "/simulate/animation"} {
		t.Run(p, func(t *testing.T) {
			c, err := net.Dial("tcp", s.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", p)
			require.NoError(t, err)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			b, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			requireEnvelope(t, resp{res.StatusCode, res.Header, b}, 400, envelope.CodeInvalid)
		})
	}
	_ = base
}
