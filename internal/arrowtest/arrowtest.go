// Package arrowtest reads Parquet files with Apache Arrow's Go reader, an implementation
// independent of the parquet-go writer mfn uses, so that tests check what other tools will
// see. It is imported by tests only.
package arrowtest

import (
	"context"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"
)

// Table is a Parquet file as Arrow read it: its schema and every cell as a Go value
// (int64, float64, bool or string), row by row.
type Table struct {
	Schema *arrow.Schema
	Rows   [][]any
}

// ReadParquet reads the file at path; a column of another type fails the test.
func ReadParquet(tb testing.TB, path string) Table {
	tb.Helper()
	f, err := os.Open(path) // #nosec G304 -- a file the test itself wrote
	require.NoError(tb, err)
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(memory.DefaultAllocator),
		pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	require.NoError(tb, err)
	defer tbl.Release()
	out := Table{Schema: tbl.Schema(), Rows: make([][]any, tbl.NumRows())}
	for i := range out.Rows {
		out.Rows[i] = make([]any, tbl.NumCols())
	}
	for c := range int(tbl.NumCols()) {
		i := 0
		for _, chunk := range tbl.Column(c).Data().Chunks() {
			for j := range chunk.Len() {
				out.Rows[i][c] = value(tb, chunk, j)
				i++
			}
		}
	}
	return out
}

func value(tb testing.TB, a arrow.Array, i int) any {
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	}
	tb.Fatalf("unexpected Arrow array %T", a)
	return nil
}
