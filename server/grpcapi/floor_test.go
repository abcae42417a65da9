package grpcapi

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"

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
	loadtest.Measure(b, loadtest.GRPCNernst(b, addr, 4, 32), map[string]loadtest.Meter{"cpu": loadtest.SelfCPU})
}
