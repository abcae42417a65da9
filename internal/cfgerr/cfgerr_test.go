package cfgerr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrefix(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil},
		{name: "one key", err: New("brokers", "empty"), want: "kafka.brokers: empty"},
		{name: "wrapped", err: fmt.Errorf("ctx: %w", New("brokers[1]", "%q is not host:port", "x")), want: `kafka.brokers[1]: "x" is not host:port`},
		{name: "joined", err: errors.Join(New("a", "bad"), New("b", "worse")), want: "kafka.a: bad\nkafka.b: worse"},
		{name: "foreign", err: errors.New("addr: bad"), want: "kafka.addr: bad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Prefix("kafka.", tc.err)
			if tc.want == "" {
				require.NoError(t, got)
				return
			}
			require.EqualError(t, got, tc.want)
		})
	}
	// Nested sections compose, and the result is still an *Error.
	err := Prefix("pipelines[0].", Prefix("sinks[1].", Prefix("kafka.", New("brokers", "empty"))))
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "pipelines[0].sinks[1].kafka.brokers", ce.Key)
	require.Equal(t, "empty", ce.Reason)
}
