package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	parquetgo "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"mfn/connectors"
	"mfn/dataset"
	"mfn/publishers"
)

// TestFileSinkParquetReadByArrow runs jobs of every kind (and a failing one) from a file
// feed into two file sinks, JSON lines and Parquet, and reads the Parquet file back with
// Apache Arrow's reader: the schema is ParquetRow's, and every row holds the values of
// the JSON envelope of the same request.
func TestFileSinkParquetReadByArrow(t *testing.T) {
	in, outJSON, outPQ := t.TempDir(), t.TempDir(), t.TempDir()
	pool := newPool(t, 2)
	cfg := jsonAndParquetConfig("pq", in, outJSON, outPQ)
	writeFile(t, in, "jobs.jsonl", strings.Join([]string{
		string(simJob("sim", 3)),
		`{"request_id":"nernst","correlation_id":"c-1","type":"nernst","params":{"concentration_out_molar":5e-3,"concentration_in_molar":140e-3}}`,
		`{"request_id":"fed","type":"federated_aggregate","params":{"gradients":[[1,2],[1.5,2.5],[0.5,1.5],[100,100]],"num_clusters":1}}`,
		`{"request_id":"val","type":"validate","params":{"epochs":1,"grid_size":8,"steps":4,"batch_size":4}}`,
		`{"request_id":"bad","type":"simulate","params":{"grid_size":2}}`,
	}, "\n")+"\n")
	_, stop := startManager(t, []Config{cfg}, pool)
	waitFor(t, 30*time.Second, func() bool {
		// "bad" is refused, so the feed file ends in failed/ once every line is settled.
		_, err := os.Stat(filepath.Join(in, "failed", "jobs.jsonl"))
		return err == nil
	})
	stop() // closes the sinks: the Parquet file is written now

	envs := map[string]map[string]any{}
	for _, r := range readLines(t, outJSON) {
		envs[r["request_id"].(string)] = r
	}
	require.Len(t, envs, 5)
	files, err := filepath.Glob(filepath.Join(outPQ, "results-*.parquet"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	left, _ := filepath.Glob(filepath.Join(outPQ, "*.tmp"))
	require.Empty(t, left)

	f, err := os.Open(files[0])
	require.NoError(t, err)
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator),
		pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(t, err)
	defer tbl.Release()
	require.Equal(t, int64(5), tbl.NumRows())

	// Same schema: ParquetRow's columns, in order.
	rt := reflect.TypeFor[publishers.ParquetRow]()
	require.Equal(t, int64(rt.NumField()), tbl.NumCols())
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("parquet"), ",")
		require.Equal(t, name, tbl.Schema().Field(i).Name)
	}
	col := func(name string) arrow.Array {
		idx := tbl.Schema().FieldIndices(name)
		require.Len(t, idx, 1, name)
		return tbl.Column(idx[0]).Data().Chunk(0)
	}
	ids := col("request_id").(*array.String)
	for i := range int(tbl.NumRows()) {
		env := envs[ids.Value(i)]
		require.NotNil(t, env, ids.Value(i))
		for _, k := range []string{"type", "status", "event", "version"} {
			require.Equal(t, env[k], col(k).(*array.String).Value(i), "%s %s", ids.Value(i), k)
		}
		require.Equal(t, env["duration_ms"], col("duration_ms").(*array.Float64).Value(i))
		for _, k := range []string{"started_at", "completed_at"} {
			want, err := time.Parse(time.RFC3339Nano, env[k].(string))
			require.NoError(t, err)
			got := col(k).(*array.Timestamp).Value(i).ToTime(arrow.Microsecond)
			require.True(t, want.Truncate(time.Microsecond).Equal(got), "%s %s: %v != %v", ids.Value(i), k, got, want)
		}
		checkOptString(t, col("correlation_id"), i, env["correlation_id"])
		var errBody map[string]any
		if e, ok := env["error"].(map[string]any); ok {
			errBody = e
		}
		checkOptString(t, col("error_code"), i, errBody["code"])
		checkOptString(t, col("error_field"), i, errBody["field"])
		results, _ := env["results"].(map[string]any)
		for _, name := range []string{"growth_events", "pot_min_mV", "pot_max_mV", "pot_mean_mV", "pot_std_mV", "fractal_dimension",
			"loss_start", "loss_final", "loss_drop", "example_fractal_dim", "lyapunov_exponent", "nernst_symbolic_mV",
			"nernst_numeric_mV", "potential_mV"} {
			a := col(name).(*array.Float64)
			want, ok := results[name]
			if !ok {
				require.True(t, a.IsNull(i), "%s %s must be null", ids.Value(i), name)
				continue
			}
			require.Equal(t, want, a.Value(i), "%s %s", ids.Value(i), name)
		}
		n := col("num_input_gradients").(*array.Int64)
		lst := col("aggregated_gradient").(*array.List)
		if want, ok := results["num_input_gradients"]; ok {
			require.Equal(t, want, float64(n.Value(i)))
			start, end := lst.ValueOffsets(i)
			vals := lst.ListValues().(*array.Float64)
			var got []any
			for j := start; j < end; j++ {
				got = append(got, vals.Value(int(j)))
			}
			require.Equal(t, results["aggregated_gradient"], got)
		} else {
			require.True(t, n.IsNull(i))
			require.True(t, lst.IsNull(i))
		}
		require.True(t, col("results_json").IsNull(i), "every kind here has typed columns")
	}
	require.Contains(t, envs, "bad")
	require.Equal(t, "error", envs["bad"]["status"])
}

func checkOptString(t *testing.T, a arrow.Array, i int, want any) {
	t.Helper()
	s := a.(*array.String)
	if want == nil || want == "" {
		require.True(t, s.IsNull(i))
		return
	}
	require.Equal(t, want, s.Value(i))
}

// A job message of type dataset runs the whole dataset and the sinks receive its rows:
// the JSON-lines sink as {"rows": [{column: value}], "failed": n}, the Parquet sink as
// results_json; a bad spec is a VALIDATION_ERROR naming the field.
func TestDatasetJobToSinks(t *testing.T) {
	in, outJSON, outPQ := t.TempDir(), t.TempDir(), t.TempDir()
	pool := newPool(t, 2)
	cfg := jsonAndParquetConfig("ds", in, outJSON, outPQ)
	writeFile(t, in, "jobs.jsonl", `{"request_id":"ds","type":"dataset","params":{"preset":"benchmark","seed":7}}
{"request_id":"bad","type":"dataset","sweep":{"grid_sizes":[4]}}
`)
	_, stop := startManager(t, []Config{cfg}, pool)
	waitFor(t, 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(in, "failed", "jobs.jsonl"))
		return err == nil
	})
	stop()

	envs := map[string]map[string]any{}
	for _, r := range readLines(t, outJSON) {
		envs[r["request_id"].(string)] = r
	}
	require.Equal(t, "dataset_complete", envs["ds"]["event"])
	res := envs["ds"]["results"].(map[string]any)
	require.Equal(t, 0.0, res["failed"])
	rows := res["rows"].([]any)
	p, err := dataset.Preset("benchmark")
	require.NoError(t, err)
	p.BaseSeed = 7
	cols := dataset.Columns(true)
	require.Len(t, rows, 5)
	for i, s := range p.Samples() {
		want, err := dataset.RunSample(context.Background(), s)
		require.NoError(t, err)
		got := rows[i].(map[string]any)
		require.Len(t, got, len(cols))
		for c, v := range want.Values(true) {
			switch x := v.(type) {
			case int64:
				require.Equal(t, float64(x), got[cols[c].Name], cols[c].Name)
			default:
				require.Equal(t, x, got[cols[c].Name], cols[c].Name)
			}
		}
	}
	bad := envs["bad"]["error"].(map[string]any)
	require.Equal(t, "VALIDATION_ERROR", bad["code"])
	require.Equal(t, "sweep[0].grid_size", bad["field"])

	files, err := filepath.Glob(filepath.Join(outPQ, "results-*.parquet"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	pq, err := parquetgo.ReadFile[publishers.ParquetRow](files[0])
	require.NoError(t, err)
	for _, r := range pq {
		if r.RequestID == "ds" {
			var back map[string]any
			require.NoError(t, json.Unmarshal([]byte(*r.ResultsJSON), &back))
			require.Equal(t, res, back)
		}
	}
}

// jsonAndParquetConfig is a pipeline from a file feed in dir in to two file sinks, JSON
// lines in outJSON and Parquet in outPQ.
func jsonAndParquetConfig(name, in, outJSON, outPQ string) Config {
	return set(DefaultConfig(), func(c *Config) {
		c.Name = name
		c.Source = connectors.Config{Type: "file", File: set(connectors.DefaultFileConfig(), func(c *connectors.FileConfig) { c.Dir = in; c.PollInterval = 20 * time.Millisecond })}
		c.Sinks = []publishers.Config{
			{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) { c.Dir = outJSON; c.MaxAge = time.Hour })},
			{Type: "file", File: set(publishers.DefaultFileConfig(), func(c *publishers.FileConfig) {
				c.Dir, c.MaxAge, c.Format = outPQ, time.Hour, publishers.FormatParquet
			})},
		}
		c.GracePeriod = 5 * time.Second
	})
}
