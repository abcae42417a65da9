package publishers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// File formats of FileConfig.Format.
const (
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
)

// ParquetRow is one result in a Parquet file of the file sink: the envelope's fields,
// typed, and the numbers of every job kind in one schema. Columns that a kind does not
// have are null (growth_events is a double because /validate reports it as one). A
// result with a field no typed column holds (a dataset row, a future kind) also carries
// the whole results object as JSON in results_json, so nothing is lost.
type ParquetRow struct {
	RequestID        string     `parquet:"request_id"`
	CorrelationID    *string    `parquet:"correlation_id,optional"`
	ReplyTo          *string    `parquet:"reply_to,optional"`
	Type             string     `parquet:"type"`
	Status           string     `parquet:"status"`
	Event            string     `parquet:"event"`
	Version          string     `parquet:"version"`
	StartedAt        *time.Time `parquet:"started_at,optional,timestamp(microsecond)"`
	CompletedAt      *time.Time `parquet:"completed_at,optional,timestamp(microsecond)"`
	DurationMS       float64    `parquet:"duration_ms"`
	ErrorCode        *string    `parquet:"error_code,optional"`
	ErrorMessage     *string    `parquet:"error_message,optional"`
	ErrorField       *string    `parquet:"error_field,optional"`
	DeadLetterReason *string    `parquet:"dead_letter_reason,optional"`

	// simulate (and the validate fields of the same name)
	GrowthEvents     *float64 `parquet:"growth_events,optional"`
	PotMinMV         *float64 `parquet:"pot_min_mV,optional"`
	PotMaxMV         *float64 `parquet:"pot_max_mV,optional"`
	PotMeanMV        *float64 `parquet:"pot_mean_mV,optional"`
	PotStdMV         *float64 `parquet:"pot_std_mV,optional"`
	FractalDimension *float64 `parquet:"fractal_dimension,optional"`
	// validate
	LossStart         *float64 `parquet:"loss_start,optional"`
	LossFinal         *float64 `parquet:"loss_final,optional"`
	LossDrop          *float64 `parquet:"loss_drop,optional"`
	ExampleFractalDim *float64 `parquet:"example_fractal_dim,optional"`
	LyapunovExponent  *float64 `parquet:"lyapunov_exponent,optional"`
	NernstSymbolicMV  *float64 `parquet:"nernst_symbolic_mV,optional"`
	NernstNumericMV   *float64 `parquet:"nernst_numeric_mV,optional"`
	// nernst
	PotentialMV *float64 `parquet:"potential_mV,optional"`
	// federated_aggregate
	AggregatedGradient []float64 `parquet:"aggregated_gradient,optional,list"`
	NumInputGradients  *int64    `parquet:"num_input_gradients,optional"`

	ResultsJSON *string `parquet:"results_json,optional"`
}

// envelope is the part of the pipeline's result envelope the Parquet rows hold. It is
// declared here because publishers does not import pipeline (the arrow points down).
type envelope struct {
	RequestID     string                     `json:"request_id"`
	CorrelationID string                     `json:"correlation_id"`
	ReplyTo       string                     `json:"reply_to"`
	Type          string                     `json:"type"`
	Status        string                     `json:"status"`
	Event         string                     `json:"event"`
	Version       string                     `json:"version"`
	StartedAt     string                     `json:"started_at"`
	CompletedAt   string                     `json:"completed_at"`
	DurationMS    float64                    `json:"duration_ms"`
	Results       map[string]json.RawMessage `json:"results"`
	Error         *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
	DeadLetter *struct {
		Reason string `json:"reason"`
	} `json:"dead_letter"`
}

// parquetRow turns one JSON envelope into its typed row; an error means the body is not
// a result envelope (such a record is refused by Publish, so it never reaches a file).
func parquetRow(body []byte) (ParquetRow, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return ParquetRow{}, fmt.Errorf("file sink: parquet: record is not a result envelope: %w", err)
	}
	r := ParquetRow{
		RequestID: e.RequestID, CorrelationID: optString(e.CorrelationID), ReplyTo: optString(e.ReplyTo),
		Type: e.Type, Status: e.Status, Event: e.Event, Version: e.Version,
		StartedAt: optTime(e.StartedAt), CompletedAt: optTime(e.CompletedAt), DurationMS: e.DurationMS,
	}
	if e.Error != nil {
		r.ErrorCode, r.ErrorMessage, r.ErrorField = optString(e.Error.Code), optString(e.Error.Message), optString(e.Error.Field)
	}
	if e.DeadLetter != nil {
		r.DeadLetterReason = optString(e.DeadLetter.Reason)
	}
	floats := map[string]**float64{
		"growth_events": &r.GrowthEvents, "pot_min_mV": &r.PotMinMV, "pot_max_mV": &r.PotMaxMV,
		"pot_mean_mV": &r.PotMeanMV, "pot_std_mV": &r.PotStdMV, "fractal_dimension": &r.FractalDimension,
		"loss_start": &r.LossStart, "loss_final": &r.LossFinal, "loss_drop": &r.LossDrop,
		"example_fractal_dim": &r.ExampleFractalDim, "lyapunov_exponent": &r.LyapunovExponent,
		"nernst_symbolic_mV": &r.NernstSymbolicMV, "nernst_numeric_mV": &r.NernstNumericMV,
		"potential_mV": &r.PotentialMV,
	}
	untyped := false
	for k, raw := range e.Results {
		var err error
		switch dst, ok := floats[k]; {
		case ok:
			var v float64
			if err = json.Unmarshal(raw, &v); err == nil {
				*dst = &v
			}
		case k == "aggregated_gradient":
			err = json.Unmarshal(raw, &r.AggregatedGradient)
		case k == "num_input_gradients":
			var v int64
			if err = json.Unmarshal(raw, &v); err == nil {
				r.NumInputGradients = &v
			}
		default:
			untyped = true
		}
		if err != nil {
			// A value of another type than the column's goes to results_json instead.
			untyped = true
		}
	}
	if untyped {
		s, _ := json.Marshal(e.Results)
		r.ResultsJSON = optString(string(s))
	}
	return r, nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

// writeParquet turns the journal of one Parquet file (complete JSON lines at
// name+".tmp") into name: written to a hidden temporary file beside it, fsynced and
// renamed over name, then the journal is removed. Run again after a crash at any point,
// it writes the same file, so recovery is just running it again.
func writeParquet(name string) (err error) {
	journal := name + tmpSuffix
	data, err := os.ReadFile(journal) // #nosec G304 -- the path comes from the operator's configuration
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	var rows []ParquetRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		r, err := parquetRow(sc.Bytes())
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return os.Remove(journal)
	}
	dir := filepath.Dir(name)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*"+partSuffix)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	w := parquet.NewGenericWriter[ParquetRow](tmp, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("mfn", "", ""))
	if _, err = w.Write(rows); err != nil {
		return fmt.Errorf("file sink: write %s: %w", name, err)
	}
	if err = w.Close(); err != nil {
		return fmt.Errorf("file sink: write %s: %w", name, err)
	}
	if err = tmp.Chmod(0o644); err != nil { // #nosec G302 -- results are for downstream readers; the umask narrows it
		return fmt.Errorf("file sink: %w", err)
	}
	if err = errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("file sink: write %s: %w", name, err)
	}
	if err = os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if err = syncDir(dir); err != nil {
		return err
	}
	if err = os.Remove(journal); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// partSuffix ends the hidden temporary file a Parquet file is written to; Start removes
// the ones a crash left.
const partSuffix = ".part"

// removeParts deletes the half-written Parquet files of a crashed run.
func removeParts(dir, prefix string) error {
	parts, err := filepath.Glob(filepath.Join(dir, "."+prefix+"-*"+partSuffix))
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	for _, p := range parts {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file sink: %w", err)
		}
	}
	return nil
}

// ext is the extension of finished files in format f.
func ext(format string) string {
	if strings.EqualFold(format, FormatParquet) {
		return ".parquet"
	}
	return ".jsonl"
}
