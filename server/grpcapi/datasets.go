package grpcapi

import (
	"context"
	"errors"
	"runtime"
	"strconv"

	"google.golang.org/grpc/metadata"

	"mfn/dataset"
	"mfn/jobs"
	pb "mfn/proto"
	"mfn/sim"
)

// datasetSpec maps the message onto the spec every transport resolves: an empty preset
// is no preset, an empty sweep list keeps the minimal sweep's.
func datasetSpec(in *pb.DatasetRequest) jobs.DatasetSpec {
	var s jobs.DatasetSpec
	if in.GetPreset() != "" {
		p := in.GetPreset()
		s.Preset = &p
	}
	if sw := in.GetSweep(); sw != nil {
		s.Sweep = &jobs.DatasetSweep{AlphaValues: nilIfEmpty(sw.GetAlphaValues()), TuringEnabled: nilIfEmpty(sw.GetTuringEnabled()),
			GridSizes: ints(sw.GetGridSizes()), Steps: ints(sw.GetSteps())}
		if sw.SeedsPerConfig != nil {
			n := int(*sw.SeedsPerConfig)
			s.Sweep.SeedsPerConfig = &n
		}
	}
	s.Seed = in.Seed
	return s
}

// GenerateDataset streams a dataset's rows in sim_id order, each sample a pool job (as
// REST /datasets): the dataset is admitted whole by the cost model first, the samples
// run at most GOMAXPROCS at once for this call and are cancelled with it, and a sample
// that fails is skipped and counted in the x-mfn-failed-samples trailer.
func (s *service) GenerateDataset(in *pb.DatasetRequest, stream pb.MyceliumService_GenerateDatasetServer) error {
	req := datasetSpec(in).Request()
	if a, ok := s.run.(interface {
		Admit(jobs.Request) (jobs.Cost, error)
	}); ok {
		if _, err := a.Admit(req); err != nil {
			return err
		}
	} else if err := req.Validate(); err != nil {
		return err
	}
	run := s.run.Do
	if w, ok := s.run.(interface {
		DoWait(context.Context, jobs.Request) (jobs.Result, error)
	}); ok {
		run = w.DoWait
	}
	ctx := stream.Context()
	failed := 0
	var streamErr error
	jobs.StreamDataset(ctx, req, run, runtime.GOMAXPROCS(0), func(row dataset.Row, err error) bool {
		switch {
		case err == nil:
			streamErr = stream.Send(datasetRow(row))
			return streamErr == nil
		case errors.Is(err, jobs.ErrInternal), errors.Is(err, jobs.ErrClosed), errors.Is(err, jobs.ErrBusy),
			errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			streamErr = err
			return false
		default:
			failed++ // the engine refused the sample (alpha < 0.05): skipped, as the reference does
			return true
		}
	})
	if streamErr == nil {
		streamErr = ctx.Err()
	}
	stream.SetTrailer(metadata.Pairs("x-mfn-failed-samples", strconv.Itoa(failed)))
	return streamErr
}

func datasetRow(r dataset.Row) *pb.DatasetRow {
	features := make(map[string]float64, sim.FeatureCount)
	for i, v := range r.Features.Array() {
		features[sim.FeatureNames[i]] = v
	}
	return &pb.DatasetRow{
		SimId: int64(r.SimID), ScenarioName: r.ScenarioName, GridSize: int64(r.GridSize), Steps: int64(r.Steps),
		Alpha: r.Alpha, TuringEnabled: r.TuringEnabled, RandomSeed: r.RandomSeed, Features: features,
		GrowthEvents: int64(r.GrowthEvents), TuringActivations: int64(r.TuringActivations), ClampingEvents: int64(r.ClampingEvents),
	}
}

// nilIfEmpty is nil for an empty list: proto3 cannot tell an empty list from an absent
// one, and an absent one takes the minimal sweep's.
func nilIfEmpty[T any](v []T) []T {
	if len(v) == 0 {
		return nil
	}
	return v
}

func ints(v []int32) []int {
	if len(v) == 0 {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
