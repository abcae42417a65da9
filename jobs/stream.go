package jobs

import "fmt"

// The stable range of alpha for a stream: the field update diverges outside it
// (websocket-protocol.md §8.1, B6). /simulate keeps the reference's wider range for
// parity; a live stream, which the reference ran on its engine, is held to the engine's.
const (
	StreamMinAlpha = 0.05
	StreamMaxAlpha = 0.25 // exclusive
)

// ValidateStream checks r as the simulation of a live stream: r.Validate, then alpha
// within [StreamMinAlpha, StreamMaxAlpha).
func (r SimulateRequest) ValidateStream() error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !(r.Alpha >= StreamMinAlpha && r.Alpha < StreamMaxAlpha) {
		return &ValidationError{Field: "alpha", Type: "value_error", Input: r.Alpha,
			Reason: fmt.Sprintf("alpha must be in [%v, %v) (the stable range of the field update)", StreamMinAlpha, StreamMaxAlpha)}
	}
	return nil
}

// AsSimulateResult returns res as a SimulateResult, whether the pool gave it as a value
// or as a pointer.
func AsSimulateResult(res Result) (SimulateResult, bool) {
	switch r := res.(type) {
	case SimulateResult:
		return r, true
	case *SimulateResult:
		return *r, r != nil
	}
	return SimulateResult{}, false
}
