// Package jobs is the job model and the worker pool behind every transport.
//
// It owns one Request/Result type per operation (simulate, validate, nernst,
// federated_aggregate, and dataset: one sample of a dataset per job), their defaults
// (Default*Request: the reference's REST defaults) and the only validation rule set
// (Validate on each request; ValidateStream for a live stream; the /api/* bodies' rules
// in crypto.go). kinds.go is the one list of kinds: Kinds, Kind.Known, and NewRequest,
// which decodes a client's fields over the kind's Default*Request (absent fields keep
// their defaults) with Decode (exact keys, no nulls, JSON types; a *BodyError lists every
// problem as a FastAPI-style Item); each request type runs itself (an unexported run
// method), so the pool has no list of types. Transports decode with NewRequest (or Decode
// into a Default*Request value) and call Pool.Do.
//
// Errors a transport maps:
//   - *ValidationError: a schema failure (REST 422 with a FastAPI-style item built from
//     Field, Type, Reason, Ctx and Input; gRPC INVALID_ARGUMENT).
//   - *RequestError: a request the reference's core rejects with a ValueError
//     (REST 400 with Reason as detail; gRPC INVALID_ARGUMENT): empty gradients,
//     byzantine_fraction = 0.5, ragged, empty or non-finite gradient vectors.
//   - *BusyError, matching ErrBusy (a lane or the memory budget is full: REST 503 with
//     Retry-After from BusyError.RetryAfter, gRPC UNAVAILABLE), ErrClosed (shutting
//     down), context.Canceled / context.DeadlineExceeded.
//   - ErrInternal (wrapped): a job panicked; never echo its text to a client.
//
// Units follow the wire: potentials in the results are millivolts (the science computes
// volts), temperatures kelvin, concentrations mol/L. Snapshot.Field is volts.
//
// Admission is by cost. EstimateCost bounds every request's memory (bytes it may
// allocate) and work (CPU seconds on the calibration machine) from its sizes alone; a
// request beyond the pool's Limits (per-job memory, gradients, gradient values) gets a
// *ValidationError naming the field before anything is queued. The Pool has a fixed
// number of workers (default GOMAXPROCS) and two FIFO lanes: jobs estimated at or below
// CheapJobSeconds queue in the cheap lane, others in the costly lane, so expensive jobs
// cannot crowd cheap ones out. Half the workers prefer each lane (and serve the other
// when theirs is empty, or every laneTurn-th job). A lane refuses a job when it holds
// QueueSize jobs or more than MaxQueueSeconds of estimated work per worker, or when the
// caller's deadline is nearer than that wait; all lanes together hold at most
// MemoryBudgetBytes of worst-case memory (queued plus running). DoWait waits for room
// instead. Every long loop (simulation steps, validation batches, Krum rows) checks its
// context, so a cancelled job frees its worker within one step or row.
//
// The pool is the only place in mfn that starts compute goroutines. All Pool methods
// are safe for concurrent use; request and result values are plain data. An
// ObservedSimulation's Observe callback runs on a worker goroutine.
//
// Metrics (on the Registerer given to NewPool, never the global one):
// mfn_jobs_queue_depth, mfn_jobs_running, mfn_jobs_pending_work_seconds,
// mfn_jobs_reserved_memory_bytes, mfn_jobs_busy_rejections_total and
// mfn_job_duration_seconds{kind, outcome} with outcome ok, error, canceled, panic or
// skipped.
package jobs
