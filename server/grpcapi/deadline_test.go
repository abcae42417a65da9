package grpcapi

import (
	"context"
	"errors"
	"io"
	"mfn/jobs"
	pb "mfn/proto"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// gRPC calls get a server deadline like REST's request_timeout. Before: a call without
// a client deadline ran unbounded. After: grpc.default_timeout (SimulateStream:
// grpc.stream_timeout); an earlier client deadline is kept, a later one is cut.
func TestGRPCServerDeadline(t *testing.T) {
	type seen struct {
		kind jobs.Kind
		left time.Duration
		has  bool
	}
	var mu sync.Mutex
	var got []seen
	cfg := DefaultConfig()
	cfg.DefaultTimeout, cfg.StreamTimeout = 40*time.Second, 90*time.Second
	env := startGRPC(t, grpcEnvOpts{cfg: &cfg, wrap: func(r Runner) Runner {
		return runnerFunc(func(ctx context.Context, req jobs.Request) (jobs.Result, error) {
			dl, ok := ctx.Deadline()
			mu.Lock()
			got = append(got, seen{req.Kind(), time.Until(dl), ok})
			mu.Unlock()
			return r.Do(ctx, req)
		})
	}})
	last := func() seen {
		mu.Lock()
		defer mu.Unlock()
		return got[len(got)-1]
	}
	nernst := &pb.NernstRequest{ConcentrationOutMolar: gptr(0.005), ConcentrationInMolar: gptr(0.14)}

	_, err := env.client.ComputeNernst(context.Background(), nernst) // no client deadline
	require.NoError(t, err)
	s := last()
	require.True(t, s.has)
	require.InDelta(t, 40, s.left.Seconds(), 5)

	short, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = env.client.ComputeNernst(short, nernst)
	require.NoError(t, err)
	require.InDelta(t, 10, last().left.Seconds(), 5, "an earlier client deadline is kept")

	long, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	_, err = env.client.ComputeNernst(long, nernst)
	require.NoError(t, err)
	require.InDelta(t, 40, last().left.Seconds(), 5, "a later client deadline is cut to the server's")

	st, err := env.client.SimulateStream(context.Background(), &pb.SimulateRequest{GridSize: gptr(int32(16)), Steps: gptr(int32(3))})
	require.NoError(t, err)
	for {
		if _, err := st.Recv(); err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
	}
	require.InDelta(t, 90, last().left.Seconds(), 5, "SimulateStream gets grpc.stream_timeout")

	// health Watch is meant to stay open and runs no job: no server deadline.
	ic := &interceptors{defaultTimeout: cfg.DefaultTimeout, streamTimeout: cfg.StreamTimeout}
	require.Zero(t, ic.timeoutFor("/grpc.health.v1.Health/Watch"))
	require.Equal(t, cfg.DefaultTimeout, ic.timeoutFor("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"))
}

// The deadline really ends a long job: a 256² × 1000-step simulation with a 20 ms
// grpc.default_timeout and no client deadline answers DEADLINE_EXCEEDED.
func TestGRPCServerDeadlineExpires(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DefaultTimeout = 20 * time.Millisecond
	env := startGRPC(t, grpcEnvOpts{cfg: &cfg})
	_, err := env.client.Simulate(context.Background(), &pb.SimulateRequest{GridSize: gptr(int32(256)), Steps: gptr(int32(1000))})
	requireGRPCCode(t, err, codes.DeadlineExceeded)
}

type runnerFunc func(context.Context, jobs.Request) (jobs.Result, error)

func (f runnerFunc) Do(ctx context.Context, req jobs.Request) (jobs.Result, error) {
	return f(ctx, req)
}

// lazyDeadline behaves as context.WithDeadline: the deadline at once; Err nil while
// live; DeadlineExceeded (and context.Cause) once past, whether or not Done was asked;
// the parent's error when the parent ends; Canceled after stop; children are cancelled.
func TestLazyDeadline(t *testing.T) {
	t.Run("live", func(t *testing.T) {
		dl := newLazyDeadline(context.Background(), time.Hour)
		defer dl.stop()
		d, ok := dl.Deadline()
		require.True(t, ok)
		require.InDelta(t, time.Hour.Seconds(), time.Until(d).Seconds(), 5)
		require.NoError(t, dl.Err())
		require.Nil(t, dl.timed.Load(), "Err alone starts no timer")
		select {
		case <-dl.Done():
			t.Fatal("done while live")
		default:
		}
		require.NoError(t, dl.Err())
	})
	t.Run("earlier parent deadline stays", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dl := newLazyDeadline(parent, time.Hour)
		defer dl.stop()
		pd, _ := parent.Deadline()
		d, _ := dl.Deadline()
		require.Equal(t, pd, d)
	})
	t.Run("expires without Done", func(t *testing.T) {
		dl := newLazyDeadline(context.Background(), time.Millisecond)
		defer dl.stop()
		require.Eventually(t, func() bool { return dl.Err() != nil }, 5*time.Second, time.Millisecond)
		require.ErrorIs(t, dl.Err(), context.DeadlineExceeded)
		require.ErrorIs(t, context.Cause(dl), context.DeadlineExceeded)
		<-dl.Done()
	})
	t.Run("expires while waited on", func(t *testing.T) {
		dl := newLazyDeadline(context.Background(), 20*time.Millisecond)
		defer dl.stop()
		child, cancel := context.WithCancel(dl)
		defer cancel()
		<-child.Done()
		require.ErrorIs(t, dl.Err(), context.DeadlineExceeded)
		require.ErrorIs(t, child.Err(), context.DeadlineExceeded)
	})
	t.Run("parent cancelled", func(t *testing.T) {
		parent, cancel := context.WithCancelCause(context.Background())
		dl := newLazyDeadline(parent, time.Hour)
		defer dl.stop()
		why := errors.New("client went away")
		cancel(why)
		require.ErrorIs(t, dl.Err(), context.Canceled)
		require.ErrorIs(t, context.Cause(dl), why)
		<-dl.Done()
	})
	t.Run("stop", func(t *testing.T) {
		dl := newLazyDeadline(context.Background(), time.Hour)
		done := dl.Done()
		dl.stop()
		<-done
		require.ErrorIs(t, dl.Err(), context.Canceled)

		dl = newLazyDeadline(context.Background(), time.Hour)
		dl.stop()
		require.ErrorIs(t, dl.Err(), context.Canceled)
		<-dl.Done()
	})
	t.Run("values", func(t *testing.T) {
		type key struct{}
		parent := context.WithValue(context.Background(), key{}, "v")
		dl := newLazyDeadline(parent, time.Hour)
		defer dl.stop()
		require.Equal(t, "v", dl.Value(key{}))
		_ = dl.Done()
		require.Equal(t, "v", dl.Value(key{}))
	})
}
