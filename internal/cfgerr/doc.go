// Package cfgerr is mfn's one configuration-error type. Every Config.Validate returns
// an *Error whose Key is relative to its own section, and each caller that nests the
// section adds its key in front with Prefix, so the operator reads the full path from
// the top of mfn.yaml: "pipelines[0].sinks[1].kafka.brokers: empty". It imports nothing
// of mfn, so every package can use it without an import cycle. Errors are values:
// safe for concurrent use.
package cfgerr
