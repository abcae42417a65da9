package server

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"mfn/crypto"
	"mfn/jobs"
	"mfn/server/envelope"
)

func b64s(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestCryptoEncryptDecrypt(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	// A10/A11: first use creates the default key.
	r := call(t, "POST", srv.URL+"/api/encrypt", `{"plaintext":"SGVsbG8sIFdvcmxkIQ=="}`)
	require.Equal(t, 200, r.status, string(r.body))
	enc := r.json(t)
	require.Regexp(t, `^key_[0-9a-f]{32}$`, enc["key_id"])
	require.Equal(t, "AES-256-GCM", enc["algorithm"])
	ct, err := base64.StdEncoding.DecodeString(enc["ciphertext"].(string))
	require.NoError(t, err)
	require.Len(t, ct, 12+13+16)

	r = call(t, "POST", srv.URL+"/api/decrypt", fmt.Sprintf(`{"ciphertext":%q,"key_id":%q}`, enc["ciphertext"], enc["key_id"]))
	require.Equal(t, 200, r.status, string(r.body))
	require.Equal(t, "SGVsbG8sIFdvcmxkIQ==", r.json(t)["plaintext"])
	require.Equal(t, enc["key_id"], r.json(t)["key_id"])

	// With associated data; the wrong AAD fails authentication.
	r = call(t, "POST", srv.URL+"/api/encrypt", fmt.Sprintf(`{"plaintext":%q,"associated_data":%q}`, b64s("secret"), b64s("ctx-1")))
	require.Equal(t, 200, r.status)
	c2 := r.json(t)["ciphertext"].(string)
	r = call(t, "POST", srv.URL+"/api/decrypt", fmt.Sprintf(`{"ciphertext":%q,"associated_data":%q}`, c2, b64s("ctx-1")))
	require.Equal(t, b64s("secret"), r.json(t)["plaintext"])
	m := requireEnvelope(t, call(t, "POST", srv.URL+"/api/decrypt", fmt.Sprintf(`{"ciphertext":%q,"associated_data":%q}`, c2, b64s("ctx-2"))), 400, envelope.CodeDecrypt)
	require.Contains(t, m["detail"], "Decryption failed")
	m = requireEnvelope(t, call(t, "POST", srv.URL+"/api/decrypt", fmt.Sprintf(`{"ciphertext":%q}`, b64s("short"))), 400, envelope.CodeDecrypt)
	require.Contains(t, m["detail"], "Ciphertext too short: 5 bytes")
	// Strict base64: URL-safe or unpadded input is rejected, not mangled.
	m = requireEnvelope(t, call(t, "POST", srv.URL+"/api/encrypt", `{"plaintext":"SGVsbG8-_"}`), 400, envelope.CodeCrypto)
	require.Equal(t, "Invalid base64-encoded plaintext", m["detail"])
	// Unknown key ids are errors, never a silent fallback to the default key.
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/encrypt", `{"plaintext":"AAAA","key_id":"nope"}`), 404, envelope.CodeKeyNotFound)
	// Schema limits → 422 naming the field.
	m = requireEnvelope(t, call(t, "POST", srv.URL+"/api/encrypt", `{"plaintext":""}`), 422, envelope.CodeValidation)
	require.Equal(t, []any{"body", "plaintext"}, m["detail"].([]any)[0].(map[string]any)["loc"])
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/decrypt", `{}`), 422, envelope.CodeValidation)
}

func TestCryptoDecryptWithoutKey(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	m := requireEnvelope(t, call(t, "POST", srv.URL+"/api/decrypt", fmt.Sprintf(`{"ciphertext":%q}`, b64s(string(make([]byte, 40))))), 400, envelope.CodeCrypto)
	require.Equal(t, "No encryption key available for decryption", m["detail"])
}

func TestCryptoSignVerifyKeypair(t *testing.T) {
	_, srv := testREST(t, DefaultConfig(), startPool(t, jobs.PoolConfig{}))
	msg := b64s("hello")
	r := call(t, "POST", srv.URL+"/api/sign", fmt.Sprintf(`{"message":%q}`, msg))
	require.Equal(t, 200, r.status, string(r.body))
	s1 := r.json(t)
	sig, _ := base64.StdEncoding.DecodeString(s1["signature"].(string))
	require.Len(t, sig, 64)
	require.Equal(t, "Ed25519", s1["algorithm"])
	// Ed25519 is deterministic.
	r = call(t, "POST", srv.URL+"/api/sign", fmt.Sprintf(`{"message":%q,"key_id":%q}`, msg, s1["key_id"]))
	require.Equal(t, s1["signature"], r.json(t)["signature"])

	r = call(t, "POST", srv.URL+"/api/verify", fmt.Sprintf(`{"message":%q,"signature":%q,"key_id":%q}`, msg, s1["signature"], s1["key_id"]))
	require.Equal(t, true, r.json(t)["valid"])
	r = call(t, "POST", srv.URL+"/api/verify", fmt.Sprintf(`{"message":%q,"signature":%q}`, b64s("other"), s1["signature"]))
	require.Equal(t, false, r.json(t)["valid"])
	require.Equal(t, s1["key_id"], r.json(t)["key_id"])
	// A wrong-length signature is simply invalid.
	r = call(t, "POST", srv.URL+"/api/verify", fmt.Sprintf(`{"message":%q,"signature":%q}`, msg, b64s("x")))
	require.Equal(t, 200, r.status)
	require.Equal(t, false, r.json(t)["valid"])

	// Keypair: a custom id is echoed; its public key verifies its signatures.
	r = call(t, "POST", srv.URL+"/api/keypair", `{"algorithm":"Ed25519","key_id":"client-1"}`)
	require.Equal(t, 200, r.status, string(r.body))
	kp := r.json(t)
	require.Equal(t, "client-1", kp["key_id"])
	pub, _ := base64.StdEncoding.DecodeString(kp["public_key"].(string))
	require.Len(t, pub, 32)
	r = call(t, "POST", srv.URL+"/api/sign", fmt.Sprintf(`{"message":%q,"key_id":"client-1"}`, msg))
	sig2 := r.json(t)["signature"]
	r = call(t, "POST", srv.URL+"/api/verify", fmt.Sprintf(`{"message":%q,"signature":%q,"public_key":%q}`, msg, sig2, kp["public_key"]))
	require.Equal(t, true, r.json(t)["valid"])
	require.Nil(t, r.json(t)["key_id"])

	r = call(t, "POST", srv.URL+"/api/keypair", `{"algorithm":"ECDH"}`)
	require.Equal(t, 200, r.status)
	pub, _ = base64.StdEncoding.DecodeString(r.json(t)["public_key"].(string))
	require.Len(t, pub, 32)
	require.Equal(t, "ECDH", r.json(t)["algorithm"])

	m := requireEnvelope(t, call(t, "POST", srv.URL+"/api/keypair", `{"algorithm":"RSA-2048"}`), 422, envelope.CodeValidation)
	require.Equal(t, "string_pattern_mismatch", m["detail"].([]any)[0].(map[string]any)["type"])
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/keypair", `{"key_id":"client-1"}`), 409, envelope.CodeKeyExists)
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/keypair", `{"key_id":"bad id!"}`), 422, envelope.CodeValidation)
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/sign", fmt.Sprintf(`{"message":%q,"key_id":"ghost"}`, msg)), 404, envelope.CodeKeyNotFound)
}

func TestCryptoDisabledAndBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Crypto.Enabled = false
	_, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	for _, tc := range []struct{ path, body string }{
		{"/api/encrypt", `{"plaintext":"AAAA"}`}, {"/api/decrypt", `{"ciphertext":"AAAA"}`},
		{"/api/sign", `{"message":"AAAA"}`}, {"/api/verify", `{"message":"AAAA","signature":"AAAA"}`}, {"/api/keypair", `{}`},
	} {
		m := requireEnvelope(t, call(t, "POST", srv.URL+tc.path, tc.body), 503, envelope.CodeUnavailable)
		require.Equal(t, "Cryptographic operations are disabled", m["detail"])
	}
	// Schema errors win over 503, as in the reference.
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/encrypt", `{}`), 422, envelope.CodeValidation)

	// 507 only when nothing can be evicted: a configured key and a default key.
	cfg = DefaultConfig()
	cfg.Crypto.MaxKeys, cfg.Crypto.MaxKeysPerClient = 2, 2
	cfg.Crypto.Keys = []crypto.Key{{ID: "conf", Type: "x25519", Key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))}}
	_, srv = testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	require.Equal(t, 200, call(t, "POST", srv.URL+"/api/keypair", `{}`).status) // the default signing key
	requireEnvelope(t, call(t, "POST", srv.URL+"/api/keypair", `{"algorithm":"ECDH"}`), 507, envelope.CodeKeyStoreFull)
}

// TestCryptoKeysFromConfigAreShared: two replicas loaded with the same keys decrypt
// and verify each other's output.
func TestCryptoKeysFromConfigAreShared(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Crypto.Keys = []crypto.Key{
		{ID: "shared-aes", Type: "aes", Key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))},
		{ID: "shared-sign", Type: "ed25519", Key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))},
	}
	cfg.Crypto.DefaultEncryptionKey, cfg.Crypto.DefaultSignatureKey = "shared-aes", "shared-sign"
	_, a := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	_, b := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	r := call(t, "POST", a.URL+"/api/encrypt", fmt.Sprintf(`{"plaintext":%q}`, b64s("replica")))
	require.Equal(t, "shared-aes", r.json(t)["key_id"])
	r = call(t, "POST", b.URL+"/api/decrypt", fmt.Sprintf(`{"ciphertext":%q}`, r.json(t)["ciphertext"]))
	require.Equal(t, 200, r.status, string(r.body))
	require.Equal(t, b64s("replica"), r.json(t)["plaintext"])
	r = call(t, "POST", a.URL+"/api/sign", fmt.Sprintf(`{"message":%q}`, b64s("m")))
	require.Equal(t, "shared-sign", r.json(t)["key_id"])
	r = call(t, "POST", b.URL+"/api/verify", fmt.Sprintf(`{"message":%q,"signature":%q}`, b64s("m"), r.json(t)["signature"]))
	require.Equal(t, true, r.json(t)["valid"])
}

func TestCryptoKeySize128(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Crypto.KeySizeBits = 128
	_, srv := testREST(t, cfg, startPool(t, jobs.PoolConfig{}))
	r := call(t, "POST", srv.URL+"/api/encrypt", `{"plaintext":"AAAA"}`)
	require.Equal(t, 200, r.status)
	require.Equal(t, "AES-128-GCM", r.json(t)["algorithm"])
}
