// Package rest is the REST API: POST /validate, /simulate, /nernst, /federated/aggregate,
// the pictures of a run (/simulate/image, /simulate/animation), its field as NumPy arrays
// (/simulate/field), datasets (/datasets, streamed as the samples complete), the /api/* crypto
// endpoints over crypto.Store, and /openapi.json. Bodies go through one Content-Type
// rule and size limit, then jobs.Decode and the jobs rule set; handlers return errors
// that envelope.From maps (422 keeps FastAPI's item list). It depends only on a Runner,
// the key store and a client-id function; the shared middleware (request id, access log,
// metrics, CORS, rate limit, auth) and the error handler come from the echo instance the
// caller registers it on. Handlers are safe for concurrent use.
package rest
