package cfgerr

import (
	"errors"
	"fmt"
)

// Error names a bad configuration key and says what is wrong with it.
type Error struct {
	// Key is the dotted key path, relative to the section that was validated until the
	// callers above it add theirs: "brokers", then "kafka.brokers", then
	// "pipelines[0].sinks[1].kafka.brokers".
	Key string
	// Reason is what is wrong, e.g. "empty" or `"x" is not host:port`.
	Reason string
}

func (e *Error) Error() string { return e.Key + ": " + e.Reason }

// New returns an *Error for key with a formatted reason.
func New(key, format string, args ...any) error {
	return &Error{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Prefix puts p ("kafka.", "pipelines[0].") in front of the key of every *Error in
// err: a joined error is prefixed member by member, and a wrapped *Error is replaced
// by the prefixed one (the wrapping text is the key's own Reason already). Another
// error gets p in front of its message, for sections that still write "key: reason"
// themselves. nil stays nil; err itself is never changed.
func Prefix(p string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = Prefix(p, e)
		}
		return errors.Join(out...)
	}
	var ce *Error
	if errors.As(err, &ce) {
		return &Error{Key: p + ce.Key, Reason: ce.Reason}
	}
	return fmt.Errorf("%s%w", p, err)
}
