package retry

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffGrowsCapsAndHonoursHints(t *testing.T) {
	b := Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond}.New()
	require.Equal(t, time.Millisecond, b.Next(0))
	require.Equal(t, 2*time.Millisecond, b.Next(0))
	require.Equal(t, 4*time.Millisecond, b.Next(0))
	require.Equal(t, 4*time.Millisecond, b.Next(0), "capped at Max")
	require.Equal(t, 4*time.Millisecond, b.Next(time.Hour), "a hint is capped at Max too")
	b.Reset()
	require.Equal(t, 3*time.Millisecond, b.Next(3*time.Millisecond), "a longer hint wins")

	j := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5}.New()
	seen := map[time.Duration]bool{}
	for range 50 {
		d := j.Next(0)
		j.Reset()
		require.True(t, d >= 50*time.Millisecond && d <= 150*time.Millisecond, "%v outside ±50%%", d)
		seen[d] = true
	}
	require.Greater(t, len(seen), 1, "jitter spreads the waits")
}

// TestSleep runs on synctest's fake clock: Sleep waits exactly d, or returns when ctx
// ends, at that instant.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.True(t, Sleep(context.Background(), time.Hour))
		require.Equal(t, time.Hour, time.Since(start))

		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Minute, cancel)
		start = time.Now()
		require.False(t, Sleep(ctx, time.Hour))
		require.Equal(t, time.Minute, time.Since(start))

		require.False(t, Sleep(ctx, time.Hour), "an ended ctx returns at once")
		require.Equal(t, time.Minute, time.Since(start))
	})
}
