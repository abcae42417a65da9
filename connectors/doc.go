// Package connectors holds the pipeline Sources: a Kafka consumer group (IBM/sarama), a
// watched directory of JSON / JSON-lines files, and a REST poller.
//
// A Source only moves bytes: it yields Messages (the raw job JSON plus transport
// metadata such as Kafka headers) and an AckFunc per message. Decoding, validation,
// running the job and publishing are the pipeline's business. Every Source is
// at-least-once: a message is settled only when its AckFunc is called, and anything
// not settled before a crash or shutdown is delivered again (Kafka: the offset is not
// committed; file feed: the file stays in processing/; REST poller: the cursor does not
// advance).
//
// Sources are built by New with an explicit switch on Config.Type; there is no registry.
// Configuration starts from DefaultConfig (every type's defaults) and is decoded over
// it, so a zero in a Config is a zero, validated as such; Validate returns
// *cfgerr.Error keys relative to the pipeline ("source.kafka.brokers"). Read and the AckFuncs are safe for concurrent use; Connect and Close are called by
// one owner (the pipeline). Durations are Go durations ("5s"); sizes are bytes.
package connectors
