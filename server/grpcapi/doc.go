// Package grpcapi is the gRPC side of the port: the mycelium.MyceliumService of
// proto/mycelium.proto over jobs (SimulateStream forwards the observed simulation as it
// runs), interceptors for request id, access log, metrics, panic recovery, API-key auth,
// rate limiting and server deadlines, grpc.health.v1 and reflection. It depends only on
// a Runner, an Authenticator and a Limiter; New builds a *grpc.Server that the caller
// serves and stops. Errors map to codes in one place (toStatus): INVALID_ARGUMENT for
// the rule set, UNAVAILABLE with RetryInfo for a full pool, INTERNAL without details.
package grpcapi
