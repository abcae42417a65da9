package rest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"mfn/crypto"
	"mfn/dataset"
	"mfn/internal/jobstest"
	"mfn/jobs"
)

func benchmarkRows(t *testing.T, seed int64) []dataset.Row {
	t.Helper()
	p, err := dataset.Preset("benchmark")
	require.NoError(t, err)
	p.BaseSeed = seed
	var rows []dataset.Row
	for _, s := range p.Samples() {
		r, err := dataset.RunSample(context.Background(), s)
		require.NoError(t, err)
		rows = append(rows, r)
	}
	return rows
}

// NDJSON rows arrive as objects keyed by column, in sim_id order, with RunSample's values.
func TestDatasetsNDJSON(t *testing.T) {
	srv, _ := startImages(t)
	resp, data := post(t, srv.URL+"/datasets", `{"preset":"benchmark","seed":5,"format":"ndjson"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="dataset-benchmark-seed5.ndjson"`, resp.Header.Get("Content-Disposition"))
	want := benchmarkRows(t, 5)
	sc := bufio.NewScanner(bytes.NewReader(data))
	i := 0
	for sc.Scan() {
		var got map[string]any
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		require.NoError(t, d.Decode(&got))
		cols := dataset.Columns(true)
		require.Len(t, got, len(cols))
		for c, v := range want[i].Values(true) {
			switch x := v.(type) {
			case float64:
				f, err := got[cols[c].Name].(json.Number).Float64()
				require.NoError(t, err)
				require.Equal(t, x, f, cols[c].Name)
			case int64:
				require.Equal(t, json.Number(fmtInt(x)), got[cols[c].Name], cols[c].Name)
			default:
				require.Equal(t, x, got[cols[c].Name], cols[c].Name)
			}
		}
		i++
	}
	require.Equal(t, len(want), i)
}

func fmtInt(x int64) string { b, _ := json.Marshal(x); return string(b) }

// Parquet comes whole at the end and holds RunSample's rows.
func TestDatasetsParquet(t *testing.T) {
	srv, _ := startImages(t)
	resp, data := post(t, srv.URL+"/datasets", `{"preset":"benchmark","format":"parquet"}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	require.Equal(t, "application/vnd.apache.parquet", resp.Header.Get("Content-Type"))
	var want bytes.Buffer
	require.NoError(t, dataset.WriteParquet(&want, benchmarkRows(t, dataset.DefaultSeed), true))
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, int64(5), f.NumRows())
	require.Equal(t, want.Bytes(), data, "the same file dataset.WriteParquet (mfn dataset) writes")
}

// Bad requests and datasets beyond the limits are 422s naming the field; nothing runs.
func TestDatasetsRefusals(t *testing.T) {
	srv, _ := startImages(t)
	tests := []struct{ name, body, field string }{
		{"nothing", `{}`, "preset"},
		{"unknown_preset", `{"preset":"huge"}`, "preset"},
		{"both", `{"preset":"small","sweep":{}}`, "sweep"},
		{"format", `{"preset":"small","format":"xlsx"}`, "format"},
		{"seed", `{"preset":"small","seed":-1}`, "seed"},
		{"empty_list", `{"sweep":{"steps":[]}}`, "sweep.steps"},
		{"bad_grid", `{"sweep":{"grid_sizes":[4]}}`, "sweep[0].grid_size"},
		// 10 × 10 × 10 × 2 × 100 = 200,000 samples > dataset.MaxSamples, checked before they are made.
		{"product", `{"sweep":{"grid_sizes":[8,9,10,11,12,13,14,15,16,17],"steps":[1,2,3,4,5,6,7,8,9,10],"alpha_values":[0.1,0.11,0.12,0.13,0.14,0.15,0.16,0.17,0.18,0.19],"turing_enabled":[true,false],"seeds_per_config":100}}`, "sweep"},
		// 20,000 samples > pool.limits.max_dataset_samples (10,000).
		{"samples_limit", `{"sweep":{"seeds_per_config":20000}}`, "sweep"},
		// 256² × 1000 steps are estimated at ≈ 1.2 s each: 4,000 of them ≈ 4,700 s > max_dataset_work_seconds (3,600).
		{"work_limit", `{"sweep":{"grid_sizes":[256],"steps":[1000],"seeds_per_config":4000}}`, "sweep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, srv.URL+"/datasets", tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(data))
			require.Contains(t, string(data), `"`+tt.field+`"`, string(data))
		})
	}
}

// countingRunner is the pool with a count of the jobs started and still running.
type countingRunner struct {
	*jobs.Pool
	started, running atomic.Int64
}

func (c *countingRunner) DoWait(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	c.started.Add(1)
	c.running.Add(1)
	defer c.running.Add(-1)
	return c.Pool.DoWait(ctx, req)
}

// A client that goes away mid-stream stops the dataset: no new sample starts and the
// running ones end soon after.
func TestDatasetsClientGoneStopsSamples(t *testing.T) {
	pool := jobstest.StartPool(t, jobs.PoolConfig{Workers: 2, QueueSize: 32})
	run := &countingRunner{Pool: pool}
	keys, err := crypto.New(crypto.DefaultConfig(), nil)
	require.NoError(t, err)
	api, err := New(Params{Runner: run, Keys: keys, ClientID: func(*http.Request) string { return "test" }, MaxBodyBytes: 1 << 20})
	require.NoError(t, err)
	e := echo.New()
	api.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/datasets",
		strings.NewReader(`{"sweep":{"grid_sizes":[64],"steps":[300],"seeds_per_config":200}}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	// The header and the first row prove the samples run; then the client leaves.
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "sim_id,"), line)
	_, err = br.ReadString('\n')
	require.NoError(t, err)
	cancel()
	_ = resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for run.running.Load() > 0 {
		require.True(t, time.Now().Before(deadline), "samples still running 5s after the client left")
		time.Sleep(10 * time.Millisecond)
	}
	started := run.started.Load()
	require.Less(t, started, int64(20), "at most a window of samples starts after the client left")
	require.Equal(t, started, run.started.Load())
}

// BenchmarkDatasetsMedium is POST /datasets {"preset":"medium"} (100 runs of 64×64×100)
// as CSV, read to the end, on a pool of 1 and of 2 workers: compare with `mfn dataset
// --preset medium` (BenchmarkDatasetMedium in the main package).
func BenchmarkDatasetsMedium(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			pool := jobstest.StartPool(b, jobs.PoolConfig{Workers: workers, QueueSize: 16})
			keys, err := crypto.New(crypto.DefaultConfig(), nil)
			require.NoError(b, err)
			api, err := New(Params{Runner: pool, Keys: keys, ClientID: func(*http.Request) string { return "b" }, MaxBodyBytes: 1 << 20})
			require.NoError(b, err)
			e := echo.New()
			api.Register(e)
			srv := httptest.NewServer(e)
			b.Cleanup(srv.Close)
			for b.Loop() {
				resp, err := http.Post(srv.URL+"/datasets", "application/json", strings.NewReader(`{"preset":"medium"}`))
				require.NoError(b, err)
				n, err := io.Copy(io.Discard, resp.Body)
				require.NoError(b, err)
				_ = resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
				require.Positive(b, n)
			}
		})
	}
}
