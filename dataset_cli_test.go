package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/dataset"

	"mfn/internal/arrowtest"
)

func runMFN(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(string) (string, bool) { return "", false }, &out, &errb)
	return code, out.String(), errb.String()
}

// The same dataset, byte for byte, whatever the number of workers; and the CSV rows are
// those of the benchmark preset that numpy computes (dataset/testdata/benchmark_rows.json).
func TestDatasetCLISameRowsAnyWorkers(t *testing.T) {
	dir := t.TempDir()
	var files [][]byte
	for _, w := range []string{"1", "2", "5"} {
		path := filepath.Join(dir, "w"+w+".csv")
		code, stdout, stderr := runMFN(t, "dataset", "--preset", "benchmark", "--format", "csv", "--workers", w, "-o", path)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "Scenario: benchmark_small")
		require.Contains(t, stdout, "Rows: 5\nColumns: 28\nFailed: 0\n")
		require.Empty(t, stderr, "no progress bar when stderr is not a terminal")
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		files = append(files, data)
	}
	require.Equal(t, files[0], files[1])
	require.Equal(t, files[0], files[2])
	lines := strings.Split(strings.TrimSpace(string(files[0])), "\n")
	require.Len(t, lines, 6)
	require.True(t, strings.HasPrefix(lines[5], "4,benchmark_small,32,32,0.15,True,46,"), lines[5])
}

// A Parquet file written by `mfn dataset` reads back with Apache Arrow's Go reader:
// 28 columns in the reference's order and the rows of a direct dataset.RunSample.
func TestDatasetCLIParquetReadByArrow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "bench.parquet")
	code, _, stderr := runMFN(t, "dataset", "-p", "benchmark", "--seed", "7", "-o", path)
	require.Equal(t, 0, code, stderr)
	tbl := arrowtest.ReadParquet(t, path)
	cols := dataset.Columns(true)
	require.Len(t, tbl.Schema.Fields(), len(cols))
	require.Len(t, tbl.Rows, 5)
	p, err := dataset.Preset("benchmark")
	require.NoError(t, err)
	p.BaseSeed = 7
	for i, s := range p.Samples() {
		row, err := dataset.RunSample(context.Background(), s)
		require.NoError(t, err)
		for c, want := range row.Values(true) {
			require.Equal(t, cols[c].Name, tbl.Schema.Field(c).Name)
			require.Equal(t, want, tbl.Rows[i][c], "row %d %s", i, cols[c].Name)
		}
	}
}

func TestDatasetCLIFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"no_mode_prints_tip", nil, 0, "Tip: Use --preset small for a quick test run.", ""},
		{"list", []string{"--list-presets"}, 0, "benchmark  benchmark_small: grid 32, steps 32, samples 5", ""},
		{"both", []string{"--preset", "small", "--sweep", "minimal"}, 2, "", "--preset and --sweep are exclusive"},
		{"bad_preset", []string{"--preset", "huge"}, 2, "", `--preset: unknown preset "huge"`},
		{"bad_sweep", []string{"--sweep", "max"}, 2, "", `--sweep: unknown sweep "max"`},
		{"bad_format", []string{"--preset", "small", "--format", "json"}, 2, "", "--format: must be parquet or csv"},
		{"bad_seed", []string{"--preset", "small", "--seed", "-1"}, 2, "", "--seed: must be >= 0"},
		{"bad_workers", []string{"--preset", "small", "--workers", "-2"}, 2, "", "--workers: must be between"},
		{"stray_arg", []string{"--preset", "small", "extra"}, 2, "", "unrecognized arguments: extra"},
		{"unwritable", []string{"--preset", "benchmark", "-o", filepath.Join(dir, "f", "x.csv"), "--format", "csv"}, 1, "",
			"write " + filepath.Join(dir, "f", "x.csv")},
		{"sweep_minimal", []string{"--sweep", "minimal", "--format", "csv", "-o", filepath.Join(dir, "sweep.csv")}, 0,
			"Sweep: minimal, samples: 2", ""},
	}
	// A file where the output directory should be makes the write fail.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runMFN(t, append([]string{"dataset"}, tc.args...)...)
			require.Equal(t, tc.code, code, "stdout %s\nstderr %s", stdout, stderr)
			require.Contains(t, stdout, tc.inStdout)
			require.Contains(t, stderr, tc.inStderr)
		})
	}
	data, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "sim_id,grid_size,steps,alpha,turing_enabled,random_seed,D_box,"))
}

// The default preset output path is data/scenarios/<scenario>/<timestamp>/dataset.<format>
// relative to the working directory.
func TestDatasetCLIDefaultPath(t *testing.T) {
	t.Chdir(t.TempDir())
	code, stdout, stderr := runMFN(t, "dataset", "--preset", "benchmark", "--format", "csv")
	require.Equal(t, 0, code, stderr)
	matches, err := filepath.Glob(filepath.Join("data", "scenarios", "benchmark_small", "*", "dataset.csv"))
	require.NoError(t, err)
	require.Len(t, matches, 1)
	require.Contains(t, stdout, "Output: "+matches[0])
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	b := &progressBar{w: &buf, total: 4}
	for range 6 {
		b.step()
	}
	require.Equal(t, "\r[#######-----------------------] 1/4\r[###############---------------] 2/4"+
		"\r[######################--------] 3/4\r[##############################] 4/4\n", buf.String())
	var nilBar *progressBar
	nilBar.step() // a nil bar (stderr not a terminal) is a no-op
	require.False(t, isTerminal(&buf))
}

// BenchmarkDatasetMedium is `mfn dataset --preset medium` (100 samples of 64×64×100 with
// features) without the file write, with 1 and 2 workers: the ratio of the two is the
// speed-up.
func BenchmarkDatasetMedium(b *testing.B) {
	p, err := dataset.Preset("medium")
	if err != nil {
		b.Fatal(err)
	}
	samples := p.Samples()
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				rows, failed, err := generate(context.Background(), samples, w, nil)
				if err != nil || failed != 0 || len(rows) != 100 {
					b.Fatalf("rows %d failed %d err %v", len(rows), failed, err)
				}
			}
		})
	}
}
