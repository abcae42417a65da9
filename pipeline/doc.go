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
// A Manager's Run may be called once; Ready is safe for concurrent use.
package pipeline
