// Package kafkanet holds what the Kafka source (connectors) and the Kafka sink
// (publishers) share: the TLS and SASL settings with their mapstructure keys, the
// broker-list and protocol-version checks, the common sarama client settings, a
// SCRAM-SHA-256/512 client (sarama ships none). Validation errors are *cfgerr.Error
// with keys relative to the Kafka section ("tls.cert_file").
//
// It lives under internal/ because publishers must not import connectors; nothing
// outside mfn should depend on it. Durations are Go durations. Config values are plain
// values (safe to copy and share); a scramClient is used by one sarama connection at a
// time, and sarama builds a fresh one per authentication.
package kafkanet
