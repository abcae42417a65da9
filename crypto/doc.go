// Package crypto is mfn's key store and its operations: AES-GCM encryption (nonce ‖
// ciphertext ‖ tag), Ed25519 signatures and X25519 key pairs, with keys loaded from
// config (shared by every replica) or generated at run time (per process, bounded and
// evicted least recently used first), and an audit log that never holds keys or data.
// It knows no transport: the REST handlers of /api/* (server/rest) decode, validate with
// jobs' rules and map its errors. A Store is safe for concurrent use.
package crypto
