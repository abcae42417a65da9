package connectors

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func dropFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
}

func readOne(t *testing.T, f *File) (Message, AckFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, ack, err := f.Read(ctx)
	require.NoError(t, err)
	return m, ack
}

// A writer that reuses a file name (drops job.json again once the feed took the previous
// one) must not overwrite the copy still in processing/: its jobs may not be settled
// yet, and after a crash processing/ is all that is left of them.
func TestFileFeedReusedNameKeepsBothCopies(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = dir; c.PollInterval = 10 * time.Millisecond }), nil)
	require.NoError(t, err)
	require.NoError(t, f.Connect(context.Background()))

	dropFile(t, dir, "job.json", `{"request_id":"one"}`)
	m1, ack1 := readOne(t, f)
	require.Equal(t, `{"request_id":"one"}`, string(m1.Value))
	dropFile(t, dir, "job.json", `{"request_id":"two"}`)
	m2, _ := readOne(t, f)
	require.Equal(t, `{"request_id":"two"}`, string(m2.Value))

	// The first job is published and acked; the second is still in flight when the
	// process dies.
	require.NoError(t, ack1(context.Background(), nil))
	require.NoError(t, f.Close(context.Background()))

	done, err := os.ReadDir(filepath.Join(dir, DoneDir))
	require.NoError(t, err)
	require.Len(t, done, 1)
	b, err := os.ReadFile(filepath.Join(dir, DoneDir, done[0].Name()))
	require.NoError(t, err)
	require.Equal(t, `{"request_id":"one"}`, string(b), "done/ must hold the settled job, not the one in flight")

	g, err := NewFile(set(DefaultFileConfig(), func(c *FileConfig) { c.Dir = dir; c.PollInterval = 10 * time.Millisecond }), nil)
	require.NoError(t, err)
	require.NoError(t, g.Connect(context.Background()))
	m, ack := readOne(t, g)
	require.Equal(t, `{"request_id":"two"}`, string(m.Value), "the unsettled job is read again after a restart")
	require.NoError(t, ack(context.Background(), nil))
	require.NoError(t, g.Close(context.Background()))
}
