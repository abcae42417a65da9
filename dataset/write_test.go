package dataset

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"mfn/internal/arrowtest"
)

func TestAppendPyFloat(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {0.15, "0.15"}, {-70.82453196698339, "-70.82453196698339"},
		{1e-4, "0.0001"}, {1e-5, "1e-05"}, {1.5e-7, "1.5e-07"}, {123456789012345.6, "123456789012345.6"},
		{1e16, "1e+16"}, {1.2345e100, "1.2345e+100"}, {-989.2320298013447, "-989.2320298013447"},
		{math.NaN(), ""}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"},
	} {
		require.Equal(t, tc.want, string(AppendPyFloat(nil, tc.x)), "%v", tc.x)
	}
}

func TestWriteCSVBenchmark(t *testing.T) {
	rows := benchmarkRows(t)
	var buf bytes.Buffer
	require.NoError(t, WriteCSV(&buf, rows, true))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 6)
	require.Equal(t, "sim_id,scenario_name,grid_size,steps,alpha,turing_enabled,random_seed,"+
		"D_box,D_r2,V_min,V_max,V_mean,V_std,V_skew,V_kurt,dV_mean,dV_max,T_stable,E_trend,f_active,"+
		"N_clusters_low,N_clusters_med,N_clusters_high,max_cluster_size,cluster_size_std,"+
		"growth_events,turing_activations,clamping_events", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "0,benchmark_small,32,32,0.15,True,42,0.0,0.0,-71.21377003328618,"), lines[1])
	var sweep bytes.Buffer
	require.NoError(t, WriteCSV(&sweep, rows[:1], false))
	require.True(t, strings.HasPrefix(sweep.String(), "sim_id,grid_size,steps,alpha,turing_enabled,random_seed,D_box,"))
	require.True(t, strings.Contains(sweep.String(), "\n0,32,32,0.15,True,42,0.0,"))
}

// requireParquet reads path with Apache Arrow's Go Parquet reader (an implementation
// independent of the writer) and checks it against rows: the column names, order and
// types of Columns, and every value.
func requireParquet(t *testing.T, path string, rows []Row, withScenario bool) {
	t.Helper()
	tbl := arrowtest.ReadParquet(t, path)
	cols := Columns(withScenario)
	require.Len(t, tbl.Schema.Fields(), len(cols))
	require.Len(t, tbl.Rows, len(rows))
	want := map[reflect.Kind]arrow.DataType{reflect.Int64: arrow.PrimitiveTypes.Int64, reflect.Float64: arrow.PrimitiveTypes.Float64,
		reflect.Bool: arrow.FixedWidthTypes.Boolean, reflect.String: arrow.BinaryTypes.String}
	for c, col := range cols {
		field := tbl.Schema.Field(c)
		require.Equal(t, col.Name, field.Name)
		require.True(t, arrow.TypeEqual(want[col.Kind], field.Type), "%s: %s", col.Name, field.Type)
		for i, r := range rows {
			require.Equal(t, r.Values(withScenario)[c], tbl.Rows[i][c], "row %d %s", i, col.Name)
		}
	}
}

func TestWriteFileParquetReadByArrow(t *testing.T) {
	rows := benchmarkRows(t)
	dir := t.TempDir()
	for _, withScenario := range []bool{true, false} {
		path := filepath.Join(dir, "sub", "dataset.parquet")
		require.NoError(t, WriteFile(path, "parquet", rows, withScenario))
		requireParquet(t, path, rows, withScenario)
	}
	// Nothing but the file is left behind (no temporary files).
	entries, err := os.ReadDir(filepath.Join(dir, "sub"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestWriteFileErrors(t *testing.T) {
	rows := benchmarkRows(t)
	dir := t.TempDir()
	require.ErrorIs(t, WriteFile(filepath.Join(dir, "x.json"), "json", rows, true), ErrInvalid)
	require.Error(t, WriteFile(filepath.Join(dir, "x.csv"), "csv", nil, true))
	// A target that is a directory: the rename fails and the temporary file is removed.
	target := filepath.Join(dir, "taken")
	require.NoError(t, os.Mkdir(target, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(target, "keep"), nil, 0o644))
	require.Error(t, WriteFile(target, "csv", rows, true))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the directory itself: no temporary file left")
	// An existing file is replaced whole.
	path := filepath.Join(dir, "d.csv")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	require.NoError(t, WriteFile(path, "csv", rows, true))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "sim_id,scenario_name,"))
}
