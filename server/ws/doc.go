// Package ws serves the WebSocket endpoints /ws/simulation_live and /ws/stream_features
// (websocket-protocol.md): sessions with in-band auth, subscriptions that run as jobs
// observed step by step, a bounded send queue per connection with its back-pressure
// strategy, heartbeats, and admission budgets for sockets that have authenticated and
// for those that have not yet. It depends only on a Runner and an Authenticator.
//
// Subscribe params keep the reference's lax coercion (numeric strings, exact-integer
// floats, the usual boolean strings) and are then checked by the jobs rule set for
// streams (jobs.SimulateRequest.ValidateStream). Units: potentials in mV, intervals in
// ms. A Hub is safe for concurrent use; Shutdown closes every socket with StatusGoingAway
// (net/http's Shutdown does not see hijacked connections) and waits for its goroutines.
package ws
