package publishers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
)

// A crash leaves a Parquet journal with a torn last line and a half-written .part file:
// Start removes the .part and turns the complete lines into the .parquet file.
func TestFileParquetRecoversJournal(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "results-20260101T000000.000Z-000001.parquet")
	require.NoError(t, os.WriteFile(name+tmpSuffix, []byte(
		`{"request_id":"a","type":"nernst","status":"complete","results":{"potential_mV":-89.5}}`+"\n"+
			`{"request_id":"b","type":"dataset","status":"complete","results":{"row":{"sim_id":1}}}`+"\n"+
			`{"request_id":"c","ty`), 0o644))
	part := filepath.Join(dir, ".results-20260101T000000.000Z-000001.parquet.123"+partSuffix)
	require.NoError(t, os.WriteFile(part, []byte("PAR1"), 0o644))

	f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = dir; c.Format = FormatParquet }), nil)
	require.NoError(t, err)
	require.NoError(t, f.Start(context.Background()))
	require.NoError(t, f.Close(context.Background()))

	_, err = os.Stat(part)
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(name + tmpSuffix)
	require.ErrorIs(t, err, os.ErrNotExist)
	rows, err := parquet.ReadFile[ParquetRow](name)
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.Equal(t, "a", rows[0].RequestID)
	require.Equal(t, -89.5, *rows[0].PotentialMV)
	require.Nil(t, rows[0].ResultsJSON)
	require.Equal(t, `{"row":{"sim_id":1}}`, *rows[1].ResultsJSON, "a kind without typed columns keeps its results as JSON")
}

func TestFileParquetRefusesNonEnvelope(t *testing.T) {
	f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = t.TempDir(); c.Format = FormatParquet }), nil)
	require.NoError(t, err)
	err = f.Publish(context.Background(), Record{Body: []byte(`[1,2]`)})
	require.True(t, errors.Is(err, ErrPermanent), "%v", err)
	require.NoError(t, f.Close(context.Background()))
}

func TestFileConfigFormat(t *testing.T) {
	c := set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = "x"; c.Format = "csv" })
	require.ErrorContains(t, c.Validate(), "format")
	require.Equal(t, FormatJSONL, DefaultFileConfig().Format)
}

// BenchmarkFilePublish is one result published (fsynced) into the file sink, JSON lines
// against Parquet; the Parquet conversion at rotation is included (the files rotate
// every 1,000 results).
func BenchmarkFilePublish(b *testing.B) {
	body := []byte(`{"request_id":"r","type":"simulate","status":"complete","event":"simulation_complete","results":{"growth_events":17,"pot_min_mV":-70.8,"pot_max_mV":-64.9,"pot_mean_mV":-69.8,"pot_std_mV":0.58,"fractal_dimension":0},"version":"4.1.0","started_at":"2026-01-01T00:00:00.1Z","completed_at":"2026-01-01T00:00:00.2Z","duration_ms":100}`)
	for _, format := range []string{FormatJSONL, FormatParquet} {
		b.Run(format, func(b *testing.B) {
			f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) {
				c.Dir, c.Format, c.MaxBytes, c.MaxAge = b.TempDir(), format, int64(len(body)+1)*1000, time.Hour
			}), nil)
			require.NoError(b, err)
			for b.Loop() {
				require.NoError(b, f.Publish(context.Background(), Record{Body: body}))
			}
			require.NoError(b, f.Close(context.Background()))
		})
	}
}
