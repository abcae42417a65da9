package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/render"
)

func TestHandlerServesPage(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, Page(), body)
	require.Contains(t, string(body), "/ws/simulation_live")
	require.Contains(t, string(body), "include_full_state: true")
	require.NotContains(t, string(body), "https://") // no CDN, nothing external

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// The page must colour a potential exactly as the PNG and GIF endpoints do.
func TestPageColorMapMatchesRender(t *testing.T) {
	m := regexp.MustCompile(`const STOPS = (\[\[.*?\]\]);`).FindSubmatch(Page())
	require.NotNil(t, m, "STOPS table not found in index.html")
	var stops [][3]uint8
	require.NoError(t, json.Unmarshal(m[1], &stops))
	require.Equal(t, render.ColorMap[:], stops)

	// One scale per option of the colour-range select, equal to render's ranges.
	rm := regexp.MustCompile(`const RANGES = (\{.*?\});`).FindSubmatch(Page())
	require.NotNil(t, rm, "RANGES table not found in index.html")
	var ranges map[string][2]float64
	require.NoError(t, json.Unmarshal(rm[1], &ranges))
	require.Equal(t, map[string][2]float64{
		"detail": {render.DetailRange.MinMV, render.DetailRange.MaxMV},
		"full":   {render.FullRange.MinMV, render.FullRange.MaxMV},
	}, ranges)
	require.Regexp(t, `<option value="detail" selected>`, string(Page()), "detail is the default")
	require.Contains(t, string(Page()), `<option value="full">`)
	require.Contains(t, string(Page()), `let range = RANGES.detail;`)

	lv := regexp.MustCompile(`const LEVELS = (\d+);`).FindSubmatch(Page())
	require.NotNil(t, lv)
	require.Equal(t, "256", string(lv[1]))
	require.EqualValues(t, 256, render.Levels)
}
