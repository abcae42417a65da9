package requestid

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestOr(t *testing.T) {
	for _, tc := range []struct {
		name, client string
		kept         bool
	}{
		{"custom", "custom-request-id-12345", true},
		{"all allowed characters", "aZ09._:-", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("a", 129), false},
		{"space", "bad id", false},
		{"header injection", "a\r\nSet-Cookie: x", false},
		{"slash", "a/b", false},
		{"non-ASCII", "ıd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Or(tc.client)
			if tc.kept {
				require.Equal(t, tc.client, got)
				return
			}
			require.Regexp(t, uuidV4, got)
		})
	}
	require.NotEqual(t, New(), New())
}

func TestFromHeaderReadsTheExactKey(t *testing.T) {
	h := http.Header{}
	require.Equal(t, "", FromHeader(h))
	h[Header] = []string{"id-1"}
	require.Equal(t, "id-1", FromHeader(h))
}
