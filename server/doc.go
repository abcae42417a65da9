// Package server is mfn's transports on one TCP port and their wiring: a cmux listener
// (listen.go, the only cmux importer) sends HTTP/2 connections whose first request
// carries content-type application/grpc to the gRPC server (server/grpcapi), and
// HTTP/1.1 connections to one echo instance carrying the shared middleware, the probes
// (/health, /ready, /metrics), the REST API (server/rest), the WebSocket upgrades
// (server/ws) and the page (web). Each API package turns wire messages into jobs
// requests, runs them on a Runner (*jobs.Pool) and never imports another; errors answer
// the envelope of api-contract §7.4 (server/envelope), gRPC status codes, or WebSocket
// error messages. Request ids follow one rule (server/requestid).
//
// Before any of that, every connection passes the connection limits (connlimit.go):
// a cap on open connections with a per-peer-address share, accept backoff at the fd
// limit, a byte and a time cap while cmux sniffs the protocol, HTTP/1 header size and
// body read deadlines, a lingering close after early answers, HTTP/2 header-list and
// handshake limits for gRPC, and a separate small budget for WebSockets that have not
// authenticated yet.
//
// REST middleware, outermost first: request id, panic recovery, access log and
// metrics (so 401/404/429/500 are logged, counted and carry X-Request-ID), CORS
// (preflights before auth), token-bucket rate limiting (before auth, keyed on a valid
// API key or the client address; X-Forwarded-For only from trusted proxies), API-key
// auth (exact public paths, constant-time comparison, fails closed). The Authenticator
// and Limiter built here are shared by the gRPC interceptors and the WebSocket hub.
//
// Units: potentials in mV where a field name ends in _mV, durations in the config as Go
// durations, body sizes in bytes, Retry-After in seconds. Rate-limit buckets, crypto
// keys created at run time and WebSocket sessions are per process (share crypto keys
// across replicas by loading them from config).
//
// Lifecycle: New validates and allocates; Run (or Serve with given listeners) serves
// until its context is done, then flips gRPC health to NOT_SERVING, drains HTTP,
// closes WebSockets with StatusGoingAway and drains gRPC, each within
// Config.ShutdownGrace, and returns nil after a clean drain. A Server is used by one
// Run; its handlers are safe for concurrent use.
package server
