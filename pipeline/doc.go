// Package pipeline runs the configured pipelines: a connectors.Source feeds jobs.Pool
// (DoWait: waiting for queue space, never dropping), every result goes to every
// publishers.Sink, and only then is the input acknowledged (Kafka offset committed,
// file moved to done/). Delivery is at-least-once: duplicates can appear after a
// crash, rebalance or broker outage; losses cannot.
//
// Per message: decode the job envelope (see Job) → validate → run → publish the result
// envelope (see Result) to all sinks, each wrapped in publishers.Retry → ack.
//   - Undecodable input (not a JSON object): no result for the normal sinks (there may
//     be no request id to answer); a DECODE_ERROR record with the raw input goes to the
//     dead-letter sink; the input is acked as failed.
//   - Invalid input (VALIDATION_ERROR, INVALID_REQUEST): the error result goes to the
//     normal sinks, so the requester gets an answer, and a copy with the raw input to
//     the dead-letter sink; acked as failed (file → failed/).
//   - A result that a sink still refuses after retry.max_attempts goes to the dead-letter
//     sink (retried until shutdown; a permanent refusal there is logged with the record
//     and the input acked as failed) and the input is acked. Without a dead-letter sink,
//     sinks are retried until shutdown instead (nothing is lost; the pipeline stalls),
//     except permanent refusals (e.g. webhook 4xx), which are logged and acked.
//   - Shutdown or job_timeout: a job cut by shutdown is not acked (redelivered later).
//
// In-flight window and order: each pipeline keeps up to `concurrency` messages read
// and not yet settled (default auto: 64 per pool worker, 256 to 1024), each running,
// publishing or waiting for a sink on its own, so a sink's round trip overlaps other
// jobs and the Kafka producer batches every record that waits while a request is on
// the wire. A full window stops reading: memory is bounded by the window times one
// input and one result, however slow or dead a sink is. Each retried publish halves
// the window (down to 1, a single probe); each delivered result grows it by one.
// Acknowledgements still settle in input order where the source needs it: a Kafka
// partition's offset is committed only up to its first unsettled message, and the REST
// poller's saved position only up to the page's first unsettled job, so a crash
// replays at most what was in flight. The Kafka source counts a message against the
// window from the moment it is read until its offset's commit is confirmed (acked
// behind a slower message of its partition, or waiting for the commit's answer, it
// still holds its slot), so a SIGKILL replays at most the window, at any rate
// (TestKafkaSIGKILLMidRun: window 64, ~3000 jobs/s, 27-49 results published twice).
//
// What a consumer sees: results leave in completion order, not input order. The Kafka
// sink keys each record by request id, so every result of one request lands in one
// partition, in the order mfn published them; results of different requests carry no
// order. A user who needs input order end to end sets concurrency: 1 (one message at a
// time; throughput is then one job plus one sink round trip per message). After a
// crash or rebalance a result may appear twice (same idempotency-key).
//
// Request and correlation ids flow from the input (body, else x-request-id /
// x-correlation-id headers, else a UUID derived from the upstream position) to every
// output: result body, Kafka key and headers, webhook headers.
//
// Metrics (registered on the Registerer given to New, label pipeline):
// mfn_pipeline_messages_consumed_total, mfn_pipeline_messages_succeeded_total (complete
// results delivered), mfn_pipeline_messages_failed_total (error results and
// undeliverable ones), mfn_pipeline_messages_dead_lettered_total,
// mfn_pipeline_sink_retries_total{sink}, mfn_pipeline_consumer_lag (Kafka only).
//
// Ready (the pipelines check of /ready) names what is wrong: sinks not started (a file
// sink's directory unusable), a sink being retried with its last error and the current
// window, the source not connected, or a failed ping (for Kafka also an offset commit
// that keeps failing: acked messages then hold the window until one succeeds).
//
// Configuration: Defaults (one DefaultConfig per `pipelines:` entry, one
// publishers.DefaultConfig per sink) is what a decoder writes the file's keys over, so
// an explicit 0 survives; Validate returns *cfgerr.Error keys relative to the pipeline.
// Decode asks jobs.NewRequest for each kind's request, so a new kind needs no change
// here.
//
// A Manager's Run may be called once; Ready is safe for concurrent use.
package pipeline
