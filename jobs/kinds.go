package jobs

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKind is matched by the error NewRequest returns for a kind it does not know.
var ErrUnknownKind = errors.New("jobs: unknown kind")

// kinds is the one list of operations: every decoder (REST, gRPC, WebSocket, pipelines)
// asks it for a request's defaults, and every request type runs itself (its run
// method), so adding a kind is one row here plus the type and its run method.
var kinds = []struct {
	kind Kind
	// decode starts from the kind's defaults, lets into write the given fields over
	// them (into receives a pointer) and returns the request by value.
	decode func(into func(dst any) error) (Request, error)
}{
	{KindSimulate, decodeOver(DefaultSimulateRequest)},
	{KindValidate, decodeOver(DefaultValidateRequest)},
	{KindNernst, decodeOver(DefaultNernstRequest)},
	{KindFederated, decodeOver(DefaultFederatedRequest)},
	{KindDataset, decodeDataset},
}

// decodeDataset reads a DatasetSpec and resolves it to its samples; a spec that cannot
// be resolved fails the request's Validate, naming the field.
func decodeDataset(into func(any) error) (Request, error) {
	var s DatasetSpec
	if into != nil {
		if err := into(&s); err != nil {
			return DatasetRequest{}, err
		}
	}
	return s.Request(), nil
}

func decodeOver[T Request](defaults func() T) func(func(any) error) (Request, error) {
	return func(into func(any) error) (Request, error) {
		r := defaults()
		if into != nil {
			if err := into(&r); err != nil {
				return r, err
			}
		}
		return r, nil
	}
}

// Kinds returns every kind, in the order the docs list them.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind
	}
	return out
}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool {
	for _, s := range kinds {
		if s.kind == k {
			return true
		}
	}
	return false
}

// KindList is the kinds for a message: "simulate, validate, nernst, federated_aggregate or dataset".
func KindList() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k.kind)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// NewRequest returns the request of kind k: its defaults (Default*Request) with into
// writing the fields a client gave over them, e.g. into = json.NewDecoder(body).Decode
// (nil keeps the defaults). The request is a value, not a pointer. The error is into's,
// or one matching ErrUnknownKind; the request is not validated.
func NewRequest(k Kind, into func(dst any) error) (Request, error) {
	for _, s := range kinds {
		if s.kind == k {
			return s.decode(into)
		}
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownKind, k, KindList())
}
