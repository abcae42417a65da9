package publishers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A redirect that turns the POST into a GET (301/302/303, e.g. an auth proxy sending
// the client to its login page) does not deliver the result, so Publish must not report
// success; 307/308 keep method and body and are followed.
func TestWebhookRedirects(t *testing.T) {
	var mu sync.Mutex
	posted := map[string]string{} // path → body received by POST
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/see-other":
			http.Redirect(w, r, "/login", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/hook", http.StatusPermanentRedirect)
		case "/login":
			w.WriteHeader(http.StatusOK) // a login page: 200 to the GET
		case "/hook":
			if r.Method != http.MethodPost {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			mu.Lock()
			posted[r.URL.Path] = string(body)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	rec := Record{RequestID: "r1", Body: []byte(`{"request_id":"r1"}`)}

	w, err := NewWebhook(set(DefaultWebhookConfig(), func(c *WebhookConfig) { c.URL = srv.URL + "/see-other"; c.Timeout = 2 * time.Second }), nil)
	require.NoError(t, err)
	err = w.Publish(context.Background(), rec)
	require.Error(t, err, "a 302 to a login page delivered nothing")
	require.True(t, errors.Is(err, ErrPermanent), "retrying the same redirect cannot help: %v", err)

	w, err = NewWebhook(set(DefaultWebhookConfig(), func(c *WebhookConfig) { c.URL = srv.URL + "/moved"; c.Timeout = 2 * time.Second }), nil)
	require.NoError(t, err)
	require.NoError(t, w.Publish(context.Background(), rec))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, string(rec.Body), posted["/hook"])
}

// set returns c changed by f: test configs start from a Default*Config, as decoding
// does, and name only what they change.
func set[T any](c T, f func(*T)) T {
	f(&c)
	return c
}
