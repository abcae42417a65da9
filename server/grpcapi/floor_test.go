package grpcapi

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"mfn/internal/loadtest"
	"mfn/jobs"
	"mfn/nernst"
	pb "mfn/proto"
)

// bareNernst is ComputeNernst with nothing of mfn around it: no interceptors, no pool,
// no validation, no log line, no metrics.
type bareNernst struct {
	pb.UnimplementedMyceliumServiceServer
}

func (bareNernst) ComputeNernst(_ context.Context, in *pb.NernstRequest) (*pb.NernstResponse, error) {
	return &pb.NernstResponse{PotentialMV: nernst.Potential(int(in.GetZValence()), in.GetConcentrationOutMolar(),
		in.GetConcentrationInMolar(), in.GetTemperatureK())}, nil
}

// BenchmarkGRPCNernstFloor measures what grpc-go itself costs per ComputeNernst call,
// the floor under mfn's server: the same load (4 connections, 32 calls in flight) on a
// bare grpc-go server and on mfn's (interceptors, the pool, metrics, and an info-level
// console access log encoded and discarded, as the dev profile logs). Client and server
// share this process, so cpu_us/req is both; the difference between the two is mfn's
// share. BenchmarkServerCPU in the root package measures the server apart.
func BenchmarkGRPCNernstFloor(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		gs := grpc.NewServer()
		pb.RegisterMyceliumServiceServer(gs, bareNernst{})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		served := make(chan struct{})
		go func() { defer close(served); _ = gs.Serve(lis) }()
		b.Cleanup(func() { gs.Stop(); <-served })
		nernstCPU(b, lis.Addr().String())
	})
	b.Run("mfn", func(b *testing.B) {
		enc := zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig())
		log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel))
		env := startGRPC(b, grpcEnvOpts{pool: jobs.DefaultPoolConfig(), log: log})
		nernstCPU(b, env.conn.Target())
	})
}

// nernstCPU sends b.N ComputeNernst calls to addr from 32 goroutines over 4
// connections and reports the process's CPU per call.
func nernstCPU(b *testing.B, addr string) {
	const conns, inflight = 4, 32
	in := &pb.NernstRequest{ZValence: gptr[int32](1), ConcentrationOutMolar: gptr(5e-3), ConcentrationInMolar: gptr(140e-3), TemperatureK: gptr(310.0)}
	clients := make([]pb.MyceliumServiceClient, conns)
	for i := range clients {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(b, err)
		b.Cleanup(func() { _ = conn.Close() })
		clients[i] = pb.NewMyceliumServiceClient(conn)
		_, err = clients[i].ComputeNernst(context.Background(), in) // connect outside the measured run
		require.NoError(b, err)
	}
	loadtest.Measure(b, func() []time.Duration {
		lat := make([][]time.Duration, inflight)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for g := range inflight {
			wg.Go(func() {
				c := clients[g%conns]
				l := make([]time.Duration, 0, b.N/inflight+1)
				for next.Add(1) <= int64(b.N) {
					t0 := time.Now()
					if _, err := c.ComputeNernst(context.Background(), in); err != nil {
						failed.Add(1)
					}
					l = append(l, time.Since(t0))
				}
				lat[g] = l
			})
		}
		wg.Wait()
		require.Zero(b, failed.Load(), "calls failed")
		var all []time.Duration
		for _, l := range lat {
			all = append(all, l...)
		}
		return all
	}, map[string]loadtest.Meter{"cpu": loadtest.SelfCPU})
}
