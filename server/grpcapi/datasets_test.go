package grpcapi

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"mfn/dataset"
	pb "mfn/proto"
	"mfn/sim"
)

// GenerateDataset streams the rows of the preset (or sweep), in sim_id order, with the
// values dataset.RunSample gives, as REST /datasets and `mfn dataset` write them.
func TestGRPCGenerateDataset(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)
	var trailer metadata.MD
	stream, err := env.client.GenerateDataset(ctx, &pb.DatasetRequest{Preset: "benchmark", Seed: gptr[int64](7)}, grpc.Trailer(&trailer))
	require.NoError(t, err)
	p, err := dataset.Preset("benchmark")
	require.NoError(t, err)
	p.BaseSeed = 7
	samples := p.Samples()
	i := 0
	for {
		row, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		want, err := dataset.RunSample(context.Background(), samples[i])
		require.NoError(t, err)
		require.Equal(t, int64(i), row.GetSimId())
		require.Equal(t, "benchmark_small", row.GetScenarioName())
		require.Equal(t, want.RandomSeed, row.GetRandomSeed())
		for k, v := range want.Features.Array() {
			require.Equal(t, v, row.GetFeatures()[sim.FeatureNames[k]], sim.FeatureNames[k])
		}
		require.Equal(t, int64(want.GrowthEvents), row.GetGrowthEvents())
		i++
	}
	require.Equal(t, len(samples), i)
	require.Equal(t, []string{"0"}, trailer.Get("x-mfn-failed-samples"))

	// An explicit sweep: 2 steps × 2 Turing settings, the rest from the minimal sweep.
	stream, err = env.client.GenerateDataset(ctx, &pb.DatasetRequest{Sweep: &pb.DatasetSweep{
		GridSizes: []int32{16}, Steps: []int32{4, 6}, TuringEnabled: []bool{true, false}, SeedsPerConfig: gptr[int32](1)}})
	require.NoError(t, err)
	n := 0
	for {
		row, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Empty(t, row.GetScenarioName())
		require.Equal(t, 0.15, row.GetAlpha())
		n++
	}
	require.Equal(t, 4, n)
}

func TestGRPCGenerateDatasetRefusals(t *testing.T) {
	env := startGRPC(t, grpcEnvOpts{})
	ctx := grpcTestCtx(t)
	for _, tt := range []struct {
		name  string
		in    *pb.DatasetRequest
		field string
	}{
		{"nothing", &pb.DatasetRequest{}, "preset"},
		{"unknown_preset", &pb.DatasetRequest{Preset: "huge"}, "preset"},
		{"too_many", &pb.DatasetRequest{Sweep: &pb.DatasetSweep{SeedsPerConfig: gptr[int32](20000)}}, "sweep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := env.client.GenerateDataset(ctx, tt.in)
			require.NoError(t, err)
			_, err = stream.Recv()
			st, _ := status.FromError(err)
			require.Equal(t, codes.InvalidArgument, st.Code(), "%v", err)
			require.Contains(t, st.Message(), tt.field)
		})
	}
}
