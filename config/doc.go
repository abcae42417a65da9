// Package config is mfn's typed configuration: it composes each package's own Config
// (server, WebSocket, gRPC, jobs pool, pipelines) with the process's log settings,
// provides the per-environment defaults of the reference (dev, staging, prod), the key
// list every loader binds (Keys, EnvName, LegacyEnv for the reference's variable
// names), the one boolean and list parser, and Validate, whose messages name the full
// key (e.g. "server.rate_limit.requests: must be > 0"): each section's *cfgerr.Error
// gets its section's path in front (cfgerr.Prefix), e.g.
// "pipelines[0].sinks[1].kafka.brokers: empty". Defaults are set before decoding:
// Default(env) for the fixed sections, SeedPipelines for the pipelines list.
//
// Loading (embedded defaults, then one YAML file, then MFN_* environment variables) is
// done by package main with viper; this package imports no configuration library, so
// nothing else can read configuration behind main's back. Durations are Go durations,
// sizes bytes, times seconds where the key says so. All functions are pure and safe for
// concurrent use; a Config is a value and is not mutated after Validate.
package config
