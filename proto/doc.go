// Package proto holds mycelium.proto, the gRPC wire contract of the reference
// MyceliumFractalNet v4.1 (package mycelium, service MyceliumService) plus mfn's additive
// fields, and the Go code generated from it (mycelium.pb.go, mycelium_grpc.pb.go: DO NOT
// EDIT; regenerate with `make proto`, which runs gen.sh with Debian's protoc and the
// pinned protoc-gen-go / protoc-gen-go-grpc).
//
// Units: fields named *_mV are millivolts; SimulateResponse.field_mean, field_std and
// field_stats are volts, as in the reference. Request scalars are proto3 `optional`: an
// unset field takes the REST default, an explicit zero is a real value.
//
// The generated message types are not safe for concurrent mutation; the generated
// clients are safe for concurrent use. Only package server imports this package.
package proto
