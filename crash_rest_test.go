package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRESTPollerSIGKILLAfterLastAck kills mfn as soon as the state_file says every job
// of the upstream is settled (the saved cursor is past the last page), while the file
// sink may still hold results in its open .tmp. After the restart every job has
// exactly one result (the .tmp is finished at start) and no page is fetched again.
func TestRESTPollerSIGKILLAfterLastAck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const pages, size = 5, 20
	up := &upstream{pages: pages, size: size, served: map[int]int{}}
	srv := httptest.NewServer(up)
	defer srv.Close()
	cfg, out, state := pollerConfig(t, srv.URL, "flush_interval: 1h", "")

	p := startMFN(t, cfg)
	eventually(t, 20*time.Second, "every page acknowledged", func() bool {
		data, err := os.ReadFile(state)
		if err != nil {
			return false
		}
		var st struct{ Cursor string }
		return json.Unmarshal(data, &st) == nil && st.Cursor == strconv.Itoa(pages)
	})
	p.kill(t)
	before := len(resultIDs(t, out))
	stranded := len(tmpFiles(t, out))

	p = startMFN(t, cfg)
	eventually(t, 20*time.Second, "every result", func() bool { return len(resultIDs(t, out)) == pages*size })
	p.stop(t)
	ids := resultIDs(t, out)
	for i := range pages * size {
		require.Equal(t, 1, ids[fmt.Sprintf("r-%d", i)], "r-%d", i)
	}
	t.Logf("%d results finished and %d .tmp files at the kill; %d results after the restart, none twice", before, stranded, len(ids))
	up.mu.Lock()
	defer up.mu.Unlock()
	for k := range pages {
		require.Equal(t, 1, up.served[k], "page %d was fetched again after the restart", k)
	}
}
