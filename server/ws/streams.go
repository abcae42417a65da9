package ws

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"mfn/jobs"
	"mfn/sim"
)

// Stream parameter limits (websocket-protocol.md §7.1, §8.1).
const (
	minUpdateIntervalMS = 10
	maxUpdateIntervalMS = 10_000
	maxEveryK           = 100
	// The feature stream's fixed simulation (§7.1): seed 42, 64×64, default parameters.
	featureSeed = 42
	featureGrid = 64
)

// simParams is a validated simulation_live subscription.
type simParams struct {
	req         jobs.SimulateRequest
	every       int
	includeFull bool
}

// parseSimParams reads simulation_live params over the /simulate defaults and checks
// them with the jobs rule set for streams, plus the stream's own keys.
func parseSimParams(f fields) (simParams, error) {
	p := simParams{req: jobs.DefaultSimulateRequest(), every: 1}
	if v, ok, err := f.integer("seed"); err != nil {
		return p, err
	} else if ok {
		p.req.Seed = v
	}
	for _, it := range []struct {
		name string
		dst  *int
	}{{"grid_size", &p.req.GridSize}, {"steps", &p.req.Steps}, {"update_interval_steps", &p.every}} {
		v, ok, err := f.integer(it.name)
		if err != nil {
			return p, err
		}
		if ok {
			if v > math.MaxInt32 || v < math.MinInt32 {
				return p, f.err(it.name, "Input is out of range")
			}
			*it.dst = int(v)
		}
	}
	for _, it := range []struct {
		name string
		dst  *float64
	}{{"alpha", &p.req.Alpha}, {"spike_probability", &p.req.SpikeProbability}, {"threshold_mV", &p.req.ThresholdMV}} {
		v, ok, err := f.num(it.name, false)
		if err != nil {
			return p, err
		}
		if ok {
			*it.dst = v
		}
	}
	if v, ok, err := f.boolean("turing_enabled"); err != nil {
		return p, err
	} else if ok {
		p.req.TuringEnabled = v
	}
	if v, ok, err := f.boolean("include_full_state"); err != nil {
		return p, err
	} else if ok {
		p.includeFull = v
	}
	if _, _, err := f.boolean("compression"); err != nil {
		return p, err
	}
	if err := p.req.ValidateStream(); err != nil {
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			return p, f.err(ve.Field, ve.Reason)
		}
		return p, err
	}
	if p.every < 1 || p.every > maxEveryK {
		return p, f.err("update_interval_steps", "Input should be between 1 and "+strconv.Itoa(maxEveryK))
	}
	return p, nil
}

// featureParams is a validated stream_features subscription.
type featureParams struct {
	interval time.Duration
	filter   map[string]bool // nil: all features
}

func parseFeatureParams(f fields) (featureParams, error) {
	p := featureParams{interval: 100 * time.Millisecond}
	if v, ok, err := f.integer("update_interval_ms"); err != nil {
		return p, err
	} else if ok {
		if v < minUpdateIntervalMS || v > maxUpdateIntervalMS {
			return p, f.err("update_interval_ms", "Input should be between 10 and 10000")
		}
		p.interval = time.Duration(v) * time.Millisecond
	}
	list, ok, err := f.strList("features")
	if err != nil {
		return p, err
	}
	if ok && len(list) > 0 { // null or [] mean all features
		p.filter = make(map[string]bool, len(list))
		for _, name := range list {
			p.filter[name] = true
		}
	}
	if _, _, err := f.boolean("compression"); err != nil { // accepted, no effect (§7.1)
		return p, err
	}
	return p, nil
}

// activeNodes counts cells with |V| > 0.01 V, the streams' activity rule.
func activeNodes(field []float64) int {
	n := 0
	for _, v := range field {
		if math.Abs(v) > sim.ActiveThresholdV {
			n++
		}
	}
	return n
}

// fieldJSON encodes the field row-major in mV rounded to 0.01 mV: the page draws it, and
// two decimals keep a 256² frame near 450 KB instead of 1.2 MB.
func fieldJSON(field []float64) []byte {
	b := make([]byte, 0, len(field)*7+2)
	b = append(b, '[')
	for i, v := range field {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, finiteOr0(math.Round(v*1e5)/100), 'f', -1, 64)
	}
	return append(b, ']')
}

// rawJSON is pre-encoded JSON inside an obj.
type rawJSON []byte

// MarshalJSON returns the bytes as they are.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// runSimulation is one simulation_live subscription: the real simulation, run as one
// job on the pool and observed every k steps. Observe runs on the worker and only
// encodes and queues (never blocks), so a slow client costs drops, not worker time.
func (cn *wsConn) runSimulation(ctx context.Context, id string, p simParams) {
	n := p.req.GridSize
	// Do returns as soon as ctx is done, while the worker may still be inside Observe;
	// the gate makes sure nothing of this stream is queued once this function returns
	// (so an unsubscribe ack is the stream's last word).
	var g gate
	defer g.shut()
	obs := jobs.ObservedSimulation{SimulateRequest: p.req, Every: p.every, Observe: func(s jobs.Snapshot) bool {
		return g.run(func() bool { return ctx.Err() == nil && cn.observeState(id, n, p, s) })
	}}
	res, err := cn.h.run.Do(ctx, obs)
	g.shut()
	cn.finishSimulation(ctx, id, res, err)
}

// observeState queues one simulation_state for snapshot s of an n×n run.
func (cn *wsConn) observeState(id string, n int, p simParams, s jobs.Snapshot) bool {
	step := s.Step + 1
	state := obj{
		{"pot_mean_mV", s.PotMeanMV}, {"pot_std_mV", s.PotStdMV},
		{"pot_min_mV", s.PotMinMV}, {"pot_max_mV", s.PotMaxMV},
		{"active_nodes", activeNodes(s.Field)},
	}
	if p.includeFull {
		state = append(state,
			kv{"field_shape", [2]int{n, n}},
			kv{"field_mean", s.PotMeanMV / 1000},     // volts, as the reference
			kv{"field", rawJSON(fieldJSON(s.Field))}) // mV, row-major (our addition)
	}
	ts := cn.ts()
	cn.enqueue("simulation_state", obj{{"type", "simulation_state"}, {"timestamp", ts}, {"payload", obj{
		{"stream_id", id}, {"step", step}, {"total_steps", s.TotalSteps}, {"state", state},
		{"metrics", obj{{"growth_events", float64(s.GrowthEvents)}}},
		{"timestamp", ts}, {"dropped", cn.q.droppedTotal()},
	}}}, step != s.TotalSteps) // the last state is never dropped
	return true
}

// gate serialises a job's callbacks with the end of the stream that started it.
type gate struct {
	mu     sync.Mutex
	closed bool
}

// run calls f unless the gate is shut; false when shut (the job should stop).
func (g *gate) run(f func() bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.closed && f()
}

// shut waits for a running callback and refuses later ones.
func (g *gate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (cn *wsConn) finishSimulation(ctx context.Context, id string, res jobs.Result, err error) {
	if ctx.Err() != nil {
		return // unsubscribed, closed or shut down: no completion (§8.2)
	}
	if err != nil {
		cn.streamFailed(id, err)
		return
	}
	r, ok := jobs.AsSimulateResult(res)
	if !ok {
		cn.streamFailed(id, errors.New("unexpected result type"))
		return
	}
	ts := cn.ts()
	cn.reply("simulation_complete", obj{{"type", "simulation_complete"}, {"timestamp", ts}, {"payload", obj{
		{"stream_id", id},
		{"final_metrics", obj{
			{"growth_events", float64(r.GrowthEvents)}, {"pot_min_mV", r.PotMinMV}, {"pot_max_mV", r.PotMaxMV},
			{"pot_mean_mV", r.PotMeanMV}, {"pot_std_mV", r.PotStdMV}, {"fractal_dimension", finiteOr0(r.FractalDimension)},
		}},
		{"timestamp", ts}, {"dropped", cn.q.droppedTotal()},
	}}})
}

// featureOrder is the key order of §7.3.
var featureOrder = [...]string{"pot_mean_mV", "pot_std_mV", "pot_min_mV", "pot_max_mV", "active_nodes",
	"activity_ratio", "fractal_dimension", "total_energy", "spatial_variance"}

func featureValues(f sim.Features) [len(featureOrder)]float64 {
	return [...]float64{f.PotMeanMV, f.PotStdMV, f.PotMinMV, f.PotMaxMV, float64(f.ActiveNodes),
		f.ActivityRatio, f.FractalDimension, f.TotalEnergy, f.SpatialVariance}
}

// runFeatures is one stream_features subscription: one simulation (seed 42, 64×64,
// default parameters) that advances one step per update, paced by the client's interval.
//
// Design: the simulation runs on the job pool in chunks, so a stream that lasts hours
// never holds a worker. Chunk j of a run is one ObservedSimulation of (j+1)·C steps from
// the run's seed that keeps the features of steps j·C+1 … (j+1)·C; the simulation is
// deterministic, so the replayed prefix is the same field, and the stream sees one
// continuous run. A worker is held for at most FeatureRunSteps steps (≈ tens of ms at
// 64×64); the stream buffers at most C feature vectors (72 bytes each). After
// FeatureRunSteps steps the run is over and the next run starts from seed+1, so the
// stream never ends on its own. sequence keeps counting across chunks and runs.
func (cn *wsConn) runFeatures(ctx context.Context, id string, p featureParams) {
	chunk, runLen := cn.h.cfg.FeatureChunkSteps, cn.h.cfg.FeatureRunSteps
	var buf [][len(featureOrder)]float64
	run, part := 0, 0
	seq := 0
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if len(buf) == 0 {
			var err error
			buf, err = cn.featureChunk(ctx, run, part, chunk, runLen)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				cn.streamFailed(id, err)
				return
			}
			if part++; part*chunk >= runLen {
				run, part = run+1, 0
			}
		}
		// Start-to-start pacing without catch-up (§7.2).
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		next = time.Now().Add(p.interval)
		vals := buf[0]
		buf = buf[1:]
		feats := make(obj, 0, len(featureOrder))
		for i, name := range featureOrder {
			if p.filter == nil || p.filter[name] {
				feats = append(feats, kv{name, finiteOr0(vals[i])})
			}
		}
		ts := cn.ts()
		cn.enqueue("feature_update", obj{{"type", "feature_update"}, {"timestamp", ts}, {"payload", obj{
			{"stream_id", id}, {"sequence", seq}, {"features", feats}, {"timestamp", ts}, {"dropped", cn.q.droppedTotal()},
		}}}, true)
		seq++
	}
}

// featureChunk computes the features of steps part·chunk+1 … (part+1)·chunk of run.
func (cn *wsConn) featureChunk(ctx context.Context, run, part, chunk, runLen int) ([][len(featureOrder)]float64, error) {
	req := jobs.DefaultSimulateRequest()
	req.Seed = featureSeed + int64(run)
	req.GridSize = featureGrid
	req.Steps = min((part+1)*chunk, runLen)
	from := part * chunk
	out := make([][len(featureOrder)]float64, 0, req.Steps-from)
	obs := jobs.ObservedSimulation{SimulateRequest: req, Every: 1, Observe: func(s jobs.Snapshot) bool {
		if s.Step >= from {
			out = append(out, featureValues(sim.StreamFeatures(s.Field, featureGrid)))
		}
		return ctx.Err() == nil
	}}
	if _, err := cn.h.run.Do(ctx, obs); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		cn.log.Warn("feature chunk produced nothing", zap.Int("run", run), zap.Int("part", part))
		return nil, errors.New("feature chunk produced no steps")
	}
	return out, nil
}
