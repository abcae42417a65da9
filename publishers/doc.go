// Package publishers holds the pipeline Sinks: a Kafka producer (IBM/sarama, idempotent,
// acks=all), a webhook (HTTP POST with optional HMAC signature) and a file writer (JSON
// lines, or Parquet rows made from a JSON-lines journal) with rotation and atomic renames.
//
// A Sink receives a Record: the already encoded result envelope plus the ids that
// transports put in keys and headers. Publish returns only once the record is durable
// downstream (Kafka ack from all in-sync replicas, a 2xx from the webhook, fsync of the
// file), so the pipeline may acknowledge the input afterwards. Errors wrapped with
// Permanent (e.g. a webhook 400) must not be retried; the Retry decorator retries the
// others with exponential backoff and jitter, honouring RetryAfter hints.
//
// Sinks are built by New with an explicit switch on Config.Type; there is no registry.
// Configuration starts from DefaultConfig (every type's defaults) and is decoded over
// it, so a zero in a Config is a zero, validated as such; Validate returns
// *cfgerr.Error keys relative to the sink ("kafka.topic"). Publish is safe for concurrent use; Close is idempotent. Durations are Go durations,
// sizes are bytes.
package publishers
