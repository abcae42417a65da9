package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"mfn/connectors"
	"mfn/jobs"
	"mfn/publishers"
)

// Job is the decoded job message (integration-ops.md §6.4):
//
//	{"request_id": "r-1", "correlation_id": "c-9", "reply_to": "...",
//	 "type": "simulate", "params": {"seed": 7, "grid_size": 32}}
//
// All fields are optional. type (alias kind) defaults to "simulate" and may also be
// "validate", "nernst", "federated_aggregate" or "dataset" (params: a preset or an
// explicit sweep and a seed, as POST /datasets; the result holds every row). The parameters are either nested under
// params or written flat beside the envelope fields, not both; absent parameters take
// the REST API's defaults (so steps defaults to 64, not the 100 of one doc example).
// request_id falls back to the x-request-id transport header, then to a UUID derived
// from the message's upstream position, which is the same on redelivery.
type Job struct {
	RequestID     string
	CorrelationID string
	ReplyTo       string
	Kind          jobs.Kind
	Request       jobs.Request
}

// Result is the result envelope every sink receives:
//
//	{"request_id", "correlation_id"?, "reply_to"?, "type", "status": "complete"|"error",
//	 "event": "simulation_complete"|"<type>_complete"|"<type>_failed",
//	 "results"?: <the REST response object>, "error"?: {"code", "message", "field"?},
//	 "version": "4.1.0", "started_at", "completed_at" (RFC 3339 UTC), "duration_ms",
//	 "dead_letter"?: {...}}
type Result struct {
	RequestID     string      `json:"request_id"`
	CorrelationID string      `json:"correlation_id,omitempty"`
	ReplyTo       string      `json:"reply_to,omitempty"`
	Type          jobs.Kind   `json:"type"`
	Status        string      `json:"status"`
	Event         string      `json:"event"`
	Results       jobs.Result `json:"results,omitempty"`
	Error         *ErrorBody  `json:"error,omitempty"`
	Version       string      `json:"version"`
	StartedAt     string      `json:"started_at"`
	CompletedAt   string      `json:"completed_at"`
	DurationMS    float64     `json:"duration_ms"`
	// DeadLetter is set only on records sent to the dead-letter sink.
	DeadLetter *DeadLetter `json:"dead_letter,omitempty"`
}

// ErrorBody describes a failed job.
type ErrorBody struct {
	// Code is DECODE_ERROR (not a JSON job message), VALIDATION_ERROR (a field is out of
	// range or of the wrong type), INVALID_REQUEST (valid schema the science rejects,
	// e.g. no gradients), TIMEOUT (job_timeout passed) or INTERNAL_ERROR.
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// DeadLetter explains why a record went to the dead-letter sink.
type DeadLetter struct {
	// Reason is "undecodable", "invalid" or "undeliverable".
	Reason string `json:"reason"`
	// Sinks lists the sinks that refused the result (undeliverable only), with errors.
	Sinks map[string]string `json:"sinks,omitempty"`
	// Source is the input's upstream position (e.g. kafka:topic/partition/offset).
	Source string `json:"source,omitempty"`
	// Input is the raw input as a string (undecodable and invalid only).
	Input string `json:"input,omitempty"`
}

// Status values.
const (
	StatusComplete = "complete"
	StatusError    = "error"
)

// Error codes of ErrorBody.Code.
const (
	CodeDecode         = "DECODE_ERROR"
	CodeValidation     = "VALIDATION_ERROR"
	CodeInvalidRequest = "INVALID_REQUEST"
	CodeTimeout        = "TIMEOUT"
	CodeInternal       = "INTERNAL_ERROR"
)

// jobError is a job that cannot run; decode says whether even the envelope was bad.
type jobError struct {
	body   ErrorBody
	decode bool
}

func (e *jobError) Error() string {
	if e.body.Field != "" {
		return e.body.Code + ": " + e.body.Field + ": " + e.body.Message
	}
	return e.body.Code + ": " + e.body.Message
}

var envelopeKeys = map[string]bool{"request_id": true, "correlation_id": true, "reply_to": true, "type": true, "kind": true, "params": true}

// Decode turns one message into a Job. The returned Job carries the ids and kind that
// could be read even when err is not nil, so that error results still correlate.
func Decode(m connectors.Message) (j Job, err error) {
	j.Kind = jobs.KindSimulate
	j.RequestID = m.Headers["x-request-id"]
	j.CorrelationID = m.Headers["x-correlation-id"]
	defer func() {
		if j.RequestID == "" {
			j.RequestID = deriveID(m.ID)
		}
	}()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(m.Value, &obj); err != nil || obj == nil {
		msg := "job message is not a JSON object"
		if err != nil {
			msg += ": " + err.Error()
		}
		return j, &jobError{decode: true, body: ErrorBody{Code: CodeDecode, Message: msg}}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"request_id", &j.RequestID}, {"correlation_id", &j.CorrelationID}, {"reply_to", &j.ReplyTo}} {
		if raw, ok := obj[f.key]; ok && !isNull(raw) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return j, &jobError{decode: true, body: ErrorBody{Code: CodeDecode, Field: f.key, Message: "must be a string"}}
			}
			if s != "" {
				*f.dst = s
			}
		}
	}
	kindRaw, ok := obj["type"]
	if !ok {
		kindRaw, ok = obj["kind"]
	}
	if ok && !isNull(kindRaw) {
		var s string
		if err := json.Unmarshal(kindRaw, &s); err != nil {
			return j, &jobError{body: ErrorBody{Code: CodeValidation, Field: "type", Message: "must be a string"}}
		}
		j.Kind = jobs.Kind(s)
	}
	if !j.Kind.Known() {
		k := j.Kind
		j.Kind = ""
		return j, &jobError{body: ErrorBody{Code: CodeValidation, Field: "type",
			Message: fmt.Sprintf("unknown job type %q (want %s)", k, jobs.KindList())}}
	}
	params, hasParams := obj["params"]
	flat := map[string]json.RawMessage{}
	for k, v := range obj {
		if !envelopeKeys[k] {
			flat[k] = v
		}
	}
	if hasParams && len(flat) > 0 {
		return j, &jobError{body: ErrorBody{Code: CodeValidation, Field: "params",
			Message: "parameters must be either nested under params or flat, not both"}}
	}
	if !hasParams {
		params, _ = json.Marshal(flat)
	}
	// The decoder of every transport: exact keys, no nulls on fields, JSON types only,
	// over the kind's defaults.
	req, err := jobs.NewRequest(j.Kind, func(dst any) error {
		if isNull(params) {
			return nil
		}
		return jobs.Decode(params, dst)
	})
	if err != nil {
		field, msg := "params", "params must be a JSON object"
		var be *jobs.BodyError
		if errors.As(err, &be) && len(be.Items) > 0 && be.Items[0].Field() != "" {
			field, msg = be.Items[0].Field(), be.Items[0].Msg
		}
		return j, &jobError{body: ErrorBody{Code: CodeValidation, Field: field, Message: msg}}
	}
	j.Request = req
	if err := j.Request.Validate(); err != nil {
		return j, classify(err)
	}
	return j, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" }

// classify maps a job error to the envelope's error body.
func classify(err error) *jobError {
	var ve *jobs.ValidationError
	var re *jobs.RequestError
	switch {
	case errors.As(err, &ve):
		return &jobError{body: ErrorBody{Code: CodeValidation, Field: ve.Field, Message: ve.Reason}}
	case errors.As(err, &re):
		return &jobError{body: ErrorBody{Code: CodeInvalidRequest, Field: re.Field, Message: re.Reason}}
	case errors.Is(err, context.DeadlineExceeded):
		return &jobError{body: ErrorBody{Code: CodeTimeout, Message: "job_timeout exceeded"}}
	default:
		// Never echo internal messages (they may hold a panic's text).
		return &jobError{body: ErrorBody{Code: CodeInternal, Message: "internal error"}}
	}
}

// requestIDSpace is the UUID namespace of derived request ids (RFC 9562 §5.5): fixed,
// so that the same upstream position maps to the same id in every release.
var requestIDSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:mfn:request-id"))

// deriveID makes a request id from an upstream position: a name-based UUID (version 5),
// so a redelivered message gets the same id and receivers can deduplicate. Without a
// position it is a random UUIDv4.
func deriveID(pos string) string {
	if pos == "" {
		return uuid.NewString()
	}
	return uuid.NewSHA1(requestIDSpace, []byte(pos)).String()
}

func event(k jobs.Kind, ok bool) string {
	switch {
	case k == "":
		return "job_failed"
	case !ok:
		return string(k) + "_failed"
	case k == jobs.KindSimulate:
		return "simulation_complete"
	default:
		return string(k) + "_complete"
	}
}

func newResult(j Job, started, completed time.Time, res jobs.Result, body *ErrorBody) Result {
	r := Result{
		RequestID:     j.RequestID,
		CorrelationID: j.CorrelationID,
		ReplyTo:       j.ReplyTo,
		Type:          j.Kind,
		Status:        StatusComplete,
		Results:       res,
		Error:         body,
		Version:       publishers.Version,
		StartedAt:     started.UTC().Format(time.RFC3339Nano),
		CompletedAt:   completed.UTC().Format(time.RFC3339Nano),
		DurationMS:    float64(completed.Sub(started).Microseconds()) / 1000,
	}
	if body != nil {
		r.Status = StatusError
		r.Results = nil
	}
	r.Event = event(j.Kind, body == nil)
	return r
}

// record encodes r for the sinks. encoding/json refuses NaN and ±Inf, so a result
// holding one becomes an INTERNAL_ERROR result rather than invalid JSON.
func record(r Result) publishers.Record {
	body, err := json.Marshal(r)
	if err != nil {
		r.Status, r.Results, r.Event = StatusError, nil, event(r.Type, false)
		r.Error = &ErrorBody{Code: CodeInternal, Message: "result could not be encoded as JSON (non-finite number)"}
		body, _ = json.Marshal(r)
	}
	key := r.RequestID
	if r.DeadLetter != nil {
		key = "dead-letter:" + r.RequestID
	}
	return publishers.Record{RequestID: r.RequestID, CorrelationID: r.CorrelationID, IdempotencyKey: key, Body: body}
}
