package crypto

import (
	"encoding/base64"
	"fmt"
	"regexp"

	"mfn/internal/cfgerr"
)

// Config configures the key store and the /api/* endpoints; its keys sit under
// `server.crypto:` in mfn.yaml.
type Config struct {
	Enabled bool `mapstructure:"enabled"`
	// Algorithm, when set, must be the AES-GCM variant of KeySizeBits (AES-256-GCM, …);
	// "" derives it. Responses always name the algorithm actually used (the reference
	// reported a name it did not use, BUG-33).
	Algorithm string `mapstructure:"algorithm"`
	// KeySizeBits sizes generated AES keys: 128, 192 or 256.
	KeySizeBits int `mapstructure:"key_size_bits"`
	// SignatureAlgorithm is Ed25519, the only one implemented.
	SignatureAlgorithm string `mapstructure:"signature_algorithm"`
	// AuditLog logs every crypto operation (never keys or data).
	AuditLog bool `mapstructure:"audit_log"`
	// MaxKeys bounds the in-memory key store (all kinds together). When it is full, the
	// least recently used generated key is evicted (never a configured or default key).
	MaxKeys int `mapstructure:"max_keys"`
	// MaxKeysPerClient bounds the generated keys one client (API key, else address)
	// holds; beyond it, that client's own least recently used key is evicted, so one
	// client cannot push everyone else's keys out.
	MaxKeysPerClient int `mapstructure:"max_keys_per_client"`
	// Keys are loaded at start-up so that every replica shares them.
	Keys []Key `mapstructure:"keys"`
	// DefaultEncryptionKey and DefaultSignatureKey name loaded keys used when a request
	// names none.
	DefaultEncryptionKey string `mapstructure:"default_encryption_key"`
	DefaultSignatureKey  string `mapstructure:"default_signature_key"`
}

// Key is one preloaded key. Type is "aes" (raw 16/24/32-byte key), "ed25519" (32-byte
// seed) or "x25519" (32-byte private key); Key is standard base64.
type Key struct {
	ID   string `mapstructure:"id"`
	Type string `mapstructure:"type"`
	Key  string `mapstructure:"key"`
}

// DefaultConfig is enabled, AES-256-GCM and Ed25519, with an audit log, 1000 keys and
// 100 generated keys per client.
func DefaultConfig() Config {
	return Config{
		Enabled:            true,
		KeySizeBits:        256,
		SignatureAlgorithm: "Ed25519",
		AuditLog:           true,
		MaxKeys:            1000,
		MaxKeysPerClient:   100,
	}
}

// KeyIDPattern is what a key id may look like (api-contract §9 [GO]), in config and in
// requests.
const KeyIDPattern = `^[A-Za-z0-9._:-]{1,64}$`

var keyIDRE = regexp.MustCompile(KeyIDPattern)

// ValidKeyID reports whether id matches KeyIDPattern.
func ValidKeyID(id string) bool { return keyIDRE.MatchString(id) }

// Validate names the first bad key, relative to `server.crypto.`.
func (c Config) Validate() error {
	switch c.KeySizeBits {
	case 128, 192, 256:
	default:
		return cfgerr.New("key_size_bits", "must be 128, 192 or 256")
	}
	if want := fmt.Sprintf("AES-%d-GCM", c.KeySizeBits); c.Algorithm != "" && c.Algorithm != want {
		return cfgerr.New("algorithm", "%q is not implemented with key_size_bits %d (use %q)", c.Algorithm, c.KeySizeBits, want)
	}
	if c.SignatureAlgorithm != "Ed25519" {
		return cfgerr.New("signature_algorithm", "%q is not implemented (use \"Ed25519\")", c.SignatureAlgorithm)
	}
	if c.MaxKeys <= 0 {
		return cfgerr.New("max_keys", "must be > 0")
	}
	if c.MaxKeysPerClient <= 0 || c.MaxKeysPerClient > c.MaxKeys {
		return cfgerr.New("max_keys_per_client", "must be in [1, max_keys %d]", c.MaxKeys)
	}
	if len(c.Keys) > c.MaxKeys {
		return cfgerr.New("keys", "%d keys exceed max_keys %d", len(c.Keys), c.MaxKeys)
	}
	kinds := map[string]string{}
	for i, k := range c.Keys {
		if !ValidKeyID(k.ID) {
			return cfgerr.New(fmt.Sprintf("keys[%d].id", i), "must match [A-Za-z0-9._:-]{1,64}")
		}
		if _, dup := kinds[k.ID]; dup {
			return cfgerr.New(fmt.Sprintf("keys[%d].id", i), "%q repeated", k.ID)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(k.Key)
		if err != nil {
			return cfgerr.New(fmt.Sprintf("keys[%d].key", i), "not standard base64")
		}
		switch k.Type {
		case "aes":
			if n := len(raw); n != 16 && n != 24 && n != 32 {
				return cfgerr.New(fmt.Sprintf("keys[%d].key", i), "an aes key is 16, 24 or 32 bytes, got %d", n)
			}
		case "ed25519", "x25519":
			if len(raw) != 32 {
				return cfgerr.New(fmt.Sprintf("keys[%d].key", i), "a %s key is 32 bytes, got %d", k.Type, len(raw))
			}
		default:
			return cfgerr.New(fmt.Sprintf("keys[%d].type", i), "%q is not aes, ed25519 or x25519", k.Type)
		}
		kinds[k.ID] = k.Type
	}
	if id := c.DefaultEncryptionKey; id != "" && kinds[id] != "aes" {
		return cfgerr.New("default_encryption_key", "%q is not an aes key in keys", id)
	}
	if id := c.DefaultSignatureKey; id != "" && kinds[id] != "ed25519" {
		return cfgerr.New("default_signature_key", "%q is not an ed25519 key in keys", id)
	}
	return nil
}
