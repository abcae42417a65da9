package grpcapi

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"mfn/internal/version"
	"mfn/jobs"
	pb "mfn/proto"
)

// service implements mycelium.MyceliumService on the same jobs as REST: every RPC
// turns its message into a jobs request holding the REST defaults, overrides the fields
// the client set, and runs it through Runner.Do, which validates it with the one rule
// set. Handlers return plain Go errors; the observing interceptor maps them to status
// codes (grpcStatus) so that the mapping lives in one place.
type service struct {
	pb.UnsafeMyceliumServiceServer // a new RPC in the proto breaks the build until implemented

	run     Runner
	start   time.Time
	now     func() time.Time
	buffer  int
	stallTO time.Duration
}

func newService(cfg Config, run Runner, now func() time.Time) *service {
	return &service{run: run, start: now(), now: now, buffer: cfg.StreamBuffer, stallTO: cfg.StreamStallTimeout}
}

// HealthCheck never touches the pool, so it answers while every worker is busy.
func (s *service) HealthCheck(context.Context, *pb.HealthCheckRequest) (*pb.HealthCheckResponse, error) {
	return &pb.HealthCheckResponse{
		Status:        "healthy",
		Version:       version.API, // the contract fixes it; the build is on /health
		UptimeSeconds: int64(s.now().Sub(s.start) / time.Second),
	}, nil
}

// Validate runs the validation cycle with the REST defaults for unset fields (grid 64,
// not the reference gRPC's 32).
func (s *service) Validate(ctx context.Context, in *pb.ValidateRequest) (*pb.ValidateResponse, error) {
	req := jobs.DefaultValidateRequest()
	if in.Seed != nil {
		req.Seed = int64(*in.Seed)
	}
	setInt(&req.Epochs, in.Epochs)
	setInt(&req.GridSize, in.GridSize)
	setInt(&req.BatchSize, in.BatchSize)
	setInt(&req.Steps, in.Steps)
	setBool(&req.TuringEnabled, in.TuringEnabled)
	setBool(&req.QuantumJitter, in.QuantumJitter)
	res, err := s.run.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	r, err := resultAs[jobs.ValidateResult](res)
	if err != nil {
		return nil, err
	}
	return &pb.ValidateResponse{
		LossStart:         r.LossStart,
		LossFinal:         r.LossFinal,
		LossDrop:          r.LossDrop,
		PotMinMV:          r.PotMinMV,
		PotMaxMV:          r.PotMaxMV,
		LyapunovExponent:  r.LyapunovExponent,
		NernstSymbolicMV:  r.NernstSymbolicMV,
		ExampleFractalDim: r.ExampleFractalDim,
		GrowthEvents:      r.GrowthEvents,
		NernstNumericMV:   r.NernstNumericMV,
	}, nil
}

// simulateRequest applies the client's fields over the REST /simulate defaults (grid 64,
// 64 steps, alpha 0.18, spike 0.25, Turing on, threshold −60 mV). gamma is ignored: the
// core has no such parameter.
func simulateRequest(in *pb.SimulateRequest) jobs.SimulateRequest {
	req := jobs.DefaultSimulateRequest()
	if in.Seed != nil {
		req.Seed = int64(*in.Seed)
	}
	setInt(&req.GridSize, in.GridSize)
	setInt(&req.Steps, in.Steps)
	setBool(&req.TuringEnabled, in.TuringEnabled)
	setFloat(&req.Alpha, in.Alpha)
	setFloat(&req.SpikeProbability, in.SpikeProbability)
	setFloat(&req.ThresholdMV, in.ThresholdMV)
	return req
}

// Simulate observes every step to collect the per-step mean and std (volts) that the
// reference's history simulation returned; the final numbers are REST /simulate's.
func (s *service) Simulate(ctx context.Context, in *pb.SimulateRequest) (*pb.SimulateResponse, error) {
	req := simulateRequest(in)
	// Validate before allocating Steps-sized slices from an unchecked number.
	if err := req.Validate(); err != nil {
		return nil, err
	}
	means := make([]float64, 0, req.Steps)
	stds := make([]float64, 0, req.Steps)
	var final jobs.Snapshot
	obs := jobs.ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(snap jobs.Snapshot) bool {
		// Every = 1 reports each step once; the guard keeps one entry per step even if
		// the pool also reports the last step again.
		if snap.Step == len(means) {
			means = append(means, snap.MeanV)
			stds = append(stds, snap.StdV)
		}
		final = snap
		final.Field = nil // only valid during the callback
		return true
	}}
	res, err := s.run.Do(ctx, obs)
	if err != nil {
		return nil, err
	}
	r, err := resultAs[jobs.SimulateResult](res)
	if err != nil {
		return nil, err
	}
	return &pb.SimulateResponse{
		FieldMean:        means,
		FieldStd:         stds,
		GrowthEvents:     int32(r.GrowthEvents), // #nosec G115 -- at most steps × grid cells, far below 2^31
		FractalDimension: r.FractalDimension,
		FieldStats: &pb.FieldStats{
			Mean: final.MeanV,
			Std:  final.StdV,
			Min:  final.MinV,
			Max:  final.MaxV,
		},
		PotMinMV:  r.PotMinMV,
		PotMaxMV:  r.PotMaxMV,
		PotMeanMV: r.PotMeanMV,
		PotStdMV:  r.PotStdMV,
	}, nil
}

// SimulateStream sends one update per step while the simulation runs. The worker hands
// each update to this goroutine through a bounded channel, so a slow client slows the
// simulation (bounded memory) instead of the run being buffered whole; a client that
// cancels, or takes no update for stallTO, stops the job at the next step and frees the
// worker. growth_events is the count so far (the reference sent 0 until the last update).
func (s *service) SimulateStream(in *pb.SimulateRequest, stream pb.MyceliumService_SimulateStreamServer) error {
	req := simulateRequest(in)
	if err := req.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	updates := make(chan *pb.SimulationUpdate, s.buffer)
	var stalled atomic.Bool
	obs := jobs.ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(snap jobs.Snapshot) bool {
		u := &pb.SimulationUpdate{
			Step:         int32(snap.Step), // #nosec G115 -- below req.Steps, which Validate bounds
			TotalSteps:   int32(req.Steps), // #nosec G115 -- Validate bounds steps to jobs.MaxSteps
			PotMeanMV:    snap.PotMeanMV,
			PotStdMV:     snap.PotStdMV,
			GrowthEvents: int32(snap.GrowthEvents), // #nosec G115 -- at most steps × grid cells
			Completed:    snap.Step == req.Steps-1,
		}
		select {
		case updates <- u: // fast path: no timer while the client keeps up
			return true
		case <-ctx.Done():
			return false
		default:
		}
		t := time.NewTimer(s.stallTO)
		defer t.Stop()
		select {
		case updates <- u:
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
			stalled.Store(true)
			return false
		}
	}}

	type outcome struct {
		res jobs.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := s.run.Do(ctx, obs)
		done <- outcome{res, err}
	}()

	next := 0 // the step the client gets next; duplicates of a step are dropped
	send := func(u *pb.SimulationUpdate) error {
		if int(u.Step) != next {
			return nil
		}
		next++
		return stream.Send(u)
	}
	for {
		select {
		case u := <-updates:
			if err := send(u); err != nil {
				cancel()
				<-done // the worker stops at its next Observe; wait so no goroutine outlives the RPC
				return err
			}
		case o := <-done:
			if o.err != nil {
				if stalled.Load() {
					return status.Errorf(codes.DeadlineExceeded, "client took no update for %s", s.stallTO)
				}
				return o.err
			}
			// Every Observe returned before Do did, so what is left is in the buffer.
			for {
				select {
				case u := <-updates:
					if err := send(u); err != nil {
						return err
					}
				default:
					if next != req.Steps {
						return fmt.Errorf("grpc: simulation reported %d of %d steps", next, req.Steps)
					}
					return nil
				}
			}
		}
	}
}

// ComputeNernst requires both concentrations, like REST; unset z_valence is 1 and unset
// temperature_k is 310 K.
func (s *service) ComputeNernst(ctx context.Context, in *pb.NernstRequest) (*pb.NernstResponse, error) {
	req := jobs.DefaultNernstRequest()
	setInt(&req.ZValence, in.ZValence)
	req.ConcentrationOutMolar = in.ConcentrationOutMolar
	req.ConcentrationInMolar = in.ConcentrationInMolar
	setFloat(&req.TemperatureK, in.TemperatureK)
	res, err := s.run.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	r, err := resultAs[jobs.NernstResult](res)
	if err != nil {
		return nil, err
	}
	return &pb.NernstResponse{PotentialMV: r.PotentialMV}, nil
}

// AggregateFederated runs hierarchical Krum. num_accepted is the number of inputs and
// num_rejected 0, as in the reference: the aggregation reports no real count.
func (s *service) AggregateFederated(ctx context.Context, in *pb.FederatedAggregateRequest) (*pb.FederatedAggregateResponse, error) {
	req := jobs.DefaultFederatedRequest()
	// A repeated field has no presence: an empty list is "No gradients provided" (400
	// in REST), never "missing".
	req.Gradients = make([][]float64, len(in.Gradients))
	for i, g := range in.Gradients {
		req.Gradients[i] = g.GetValues()
	}
	setInt(&req.NumClusters, in.NumClusters)
	setFloat(&req.ByzantineFraction, in.ByzantineFraction)
	res, err := s.run.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	r, err := resultAs[jobs.FederatedResult](res)
	if err != nil {
		return nil, err
	}
	return &pb.FederatedAggregateResponse{
		AggregatedGradient: r.AggregatedGradient,
		NumAccepted:        int32(r.NumInputGradients), // #nosec G115 -- gradients of one message of at most 1 GiB
		NumRejected:        0,
		NumInputGradients:  int32(r.NumInputGradients), // #nosec G115 -- as above
	}, nil
}

func setInt(dst *int, v *int32) {
	if v != nil {
		*dst = int(*v)
	}
}

func setFloat(dst *float64, v *float64) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// resultAs accepts a result by value or by pointer, so the service does not depend on
// which of the two the pool returns.
func resultAs[T any](res jobs.Result) (T, error) {
	if r, ok := res.(T); ok {
		return r, nil
	}
	if r, ok := any(res).(*T); ok && r != nil {
		return *r, nil
	}
	var zero T
	return zero, fmt.Errorf("grpc: unexpected result %T, want %T", res, zero)
}
