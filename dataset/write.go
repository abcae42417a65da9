package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"mfn/sim"
)

// Column is one dataset column: its name and Go kind (Int64, Float64, Bool or String),
// which is the pandas dtype the reference's DataFrame gives it.
type Column struct {
	Name string
	Kind reflect.Kind
}

// Columns is the row layout: the parameter columns (with scenario_name in preset mode),
// the 18 features (float64, as FeatureVector.to_dict gives them), then the engine counters.
func Columns(withScenario bool) []Column {
	cols := []Column{{"sim_id", reflect.Int64}}
	if withScenario {
		cols = append(cols, Column{"scenario_name", reflect.String})
	}
	cols = append(cols, Column{"grid_size", reflect.Int64}, Column{"steps", reflect.Int64},
		Column{"alpha", reflect.Float64}, Column{"turing_enabled", reflect.Bool}, Column{"random_seed", reflect.Int64})
	for _, name := range sim.FeatureNames {
		cols = append(cols, Column{name, reflect.Float64})
	}
	return append(cols, Column{"growth_events", reflect.Int64}, Column{"turing_activations", reflect.Int64},
		Column{"clamping_events", reflect.Int64})
}

// Values is the row in Columns order: int64, float64, bool or string values.
func (r Row) Values(withScenario bool) []any {
	v := []any{int64(r.SimID)}
	if withScenario {
		v = append(v, r.ScenarioName)
	}
	v = append(v, int64(r.GridSize), int64(r.Steps), r.Alpha, r.TuringEnabled, r.RandomSeed)
	for _, f := range r.Features.Array() {
		v = append(v, f)
	}
	return append(v, int64(r.GrowthEvents), int64(r.TuringActivations), int64(r.ClampingEvents))
}

// WriteCSV writes rows as pandas' DataFrame.to_csv(index=False) does: a header line, then
// one line per row; floats in Python's repr, booleans True/False, NaN as an empty field.
// No value needs quoting (names and numbers only).
func WriteCSV(w io.Writer, rows []Row, withScenario bool) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.Write(AppendCSVHeader(nil, withScenario)); err != nil {
		return err
	}
	var buf []byte
	for _, r := range rows {
		buf = r.AppendCSV(buf[:0], withScenario)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// AppendCSVHeader appends WriteCSV's header line (with its newline).
func AppendCSVHeader(buf []byte, withScenario bool) []byte {
	for i, c := range Columns(withScenario) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, c.Name...)
	}
	return append(buf, '\n')
}

// AppendCSV appends the row as one WriteCSV line (with its newline), so that a stream of
// rows is the same bytes as WriteCSV.
func (r Row) AppendCSV(buf []byte, withScenario bool) []byte {
	for i, v := range r.Values(withScenario) {
		if i > 0 {
			buf = append(buf, ',')
		}
		switch x := v.(type) {
		case int64:
			buf = strconv.AppendInt(buf, x, 10)
		case float64:
			buf = AppendPyFloat(buf, x)
		case bool:
			if x {
				buf = append(buf, "True"...)
			} else {
				buf = append(buf, "False"...)
			}
		case string:
			buf = append(buf, x...)
		}
	}
	return append(buf, '\n')
}

// AppendJSON appends the row as one JSON object, keys named and ordered as Columns; a
// NaN or ±Inf feature (which JSON cannot hold) is null.
func (r Row) AppendJSON(buf []byte, withScenario bool) []byte {
	cols := Columns(withScenario)
	buf = append(buf, '{')
	for i, v := range r.Values(withScenario) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, cols[i].Name)
		buf = append(buf, ':')
		switch x := v.(type) {
		case int64:
			buf = strconv.AppendInt(buf, x, 10)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				buf = append(buf, "null"...)
			} else {
				buf = strconv.AppendFloat(buf, x, 'g', -1, 64)
			}
		case bool:
			buf = strconv.AppendBool(buf, x)
		case string:
			buf = strconv.AppendQuote(buf, x)
		}
	}
	return append(buf, '}')
}

// AppendPyFloat appends x as Python's repr(float) (and numpy's str of a float64) writes
// it: the shortest round-trip digits, positional for decimal exponents −4…15 with at
// least one decimal ("1.0"), scientific otherwise ("1e-05", "1.5e+16"); NaN is written
// as pandas' empty na_rep and ±Inf as "inf"/"-inf".
func AppendPyFloat(buf []byte, x float64) []byte {
	switch {
	case math.IsNaN(x):
		return buf
	case math.IsInf(x, 1):
		return append(buf, "inf"...)
	case math.IsInf(x, -1):
		return append(buf, "-inf"...)
	}
	sci := strconv.FormatFloat(x, 'e', -1, 64) // d[.ddd]e±XX
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	if x == 0 || (exp >= -4 && exp < 16) {
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return append(buf, s...)
	}
	buf = append(buf, mant...)
	buf = append(buf, 'e')
	if exp < 0 {
		buf = append(buf, '-')
		exp = -exp
	} else {
		buf = append(buf, '+')
	}
	if exp < 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, int64(exp), 10)
}

// rowType builds the struct type parquet-go derives the schema from: one field per
// column, in Columns order (a parquet.Group would sort the columns by name). Every
// column is required: the writers never produce nulls.
func rowType(cols []Column) reflect.Type {
	fields := make([]reflect.StructField, len(cols))
	for i, c := range cols {
		var t reflect.Type
		switch c.Kind {
		case reflect.Int64:
			t = reflect.TypeFor[int64]()
		case reflect.Float64:
			t = reflect.TypeFor[float64]()
		case reflect.Bool:
			t = reflect.TypeFor[bool]()
		default:
			t = reflect.TypeFor[string]()
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("C%d", i), Type: t, Tag: reflect.StructTag(`parquet:"` + c.Name + `"`)}
	}
	return reflect.StructOf(fields)
}

// WriteParquet writes rows as one Parquet file (one row group, Snappy pages) with
// INT64, DOUBLE, BOOLEAN and STRING columns named and ordered as Columns.
func WriteParquet(w io.Writer, rows []Row, withScenario bool) error {
	cols := Columns(withScenario)
	t := rowType(cols)
	schema := parquet.SchemaOf(reflect.New(t).Interface())
	pw := parquet.NewWriter(w, schema, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("mfn", "", ""))
	v := reflect.New(t)
	for _, r := range rows {
		e := v.Elem()
		for i, x := range r.Values(withScenario) {
			e.Field(i).Set(reflect.ValueOf(x))
		}
		if err := pw.Write(v.Interface()); err != nil {
			return fmt.Errorf("write parquet row %d: %w", r.SimID, err)
		}
	}
	return pw.Close()
}

// Formats are the output formats WriteFile accepts.
var Formats = []string{"parquet", "csv"}

// WriteFile writes rows to path in format ("parquet" or "csv") atomically: into a
// temporary file in the same directory (created if missing), fsynced, then renamed
// over path, and the directory fsynced, so a reader sees the old file or the whole new
// one, never part of it. The temporary file is removed on any failure.
func WriteFile(path, format string, rows []Row, withScenario bool) (err error) {
	var write func(io.Writer, []Row, bool) error
	switch format {
	case "parquet":
		write = WriteParquet
	case "csv":
		write = WriteCSV
	default:
		return invalid("format", "must be parquet or csv, got %q", format)
	}
	if len(rows) == 0 {
		return errors.New("dataset: no rows to write")
	}
	dir := filepath.Dir(path)
	// #nosec G301 -- a dataset is for others to read, like its files (0644 below)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close() // already failed (or closed); the file is removed
			if rerr := os.Remove(tmp.Name()); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	if err = write(tmp, rows, withScenario); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // #nosec G304 -- the directory of the operator's path
		// The rename is durable only once the directory entry is; a failure here leaves
		// a complete file in place (and some file systems refuse to sync a directory),
		// so neither the Sync nor the Close of the read-only handle is reported.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
