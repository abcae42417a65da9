package version

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildIsNeverEmpty(t *testing.T) {
	require.NotEmpty(t, Build())
	require.NotEmpty(t, Revision())
	require.Equal(t, "4.1.0", API, "the reference contract's version")
}

func TestShorten(t *testing.T) {
	require.Equal(t, "0123456789ab", shorten(strings.Repeat("0123456789abcdef", 3)))
	require.Equal(t, "abc", shorten("abc"))
}
