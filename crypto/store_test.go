package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func testStore(t *testing.T, mutate func(*Config)) *Store {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	s, err := New(cfg, nil)
	require.NoError(t, err)
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := testStore(t, nil)
	k, err := s.EncryptionKey("", true, "c1")
	require.NoError(t, err)
	require.Equal(t, "AES-256-GCM", k.Algorithm())
	ct, err := k.Seal([]byte("hello"), []byte("aad"))
	require.NoError(t, err)
	require.Len(t, ct, gcmNonceSize+5+gcmTagSize)

	same, err := s.EncryptionKey("", false, "")
	require.NoError(t, err)
	require.Equal(t, k.ID, same.ID, "the first key became the default")
	pt, err := same.Open(ct, []byte("aad"))
	require.NoError(t, err)
	require.Equal(t, "hello", string(pt))

	for _, tc := range []struct {
		name    string
		ct, aad []byte
	}{
		{"wrong associated data", ct, []byte("other")},
		{"too short", ct[:gcmNonceSize+gcmTagSize-1], nil},
	} {
		_, err := same.Open(tc.ct, tc.aad)
		require.ErrorIs(t, err, ErrDecrypt, tc.name)
	}
}

func TestKeyLookupErrors(t *testing.T) {
	s := testStore(t, nil)
	_, err := s.EncryptionKey("nope", false, "")
	require.ErrorIs(t, err, ErrKeyNotFound)
	require.Equal(t, `Key "nope" not found`, err.Error())
	_, err = s.EncryptionKey("", false, "")
	require.ErrorIs(t, err, ErrNoKey, "decrypt makes no default key")
	_, _, err = s.SigningPublicKey("")
	require.ErrorIs(t, err, ErrNoKey)

	id, _, err := s.Keypair("Ed25519", "k1", "c1")
	require.NoError(t, err)
	_, _, err = s.Keypair("ECDH", id, "c1")
	require.ErrorIs(t, err, ErrKeyExists)
	_, _, err = s.Keypair("RSA", "k2", "c1")
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrKeyExists))
}

func TestSignVerify(t *testing.T) {
	s := testStore(t, nil)
	sig, id, err := s.Sign("", "c1", []byte("m"))
	require.NoError(t, err)
	pub, pid, err := s.SigningPublicKey("")
	require.NoError(t, err)
	require.Equal(t, id, pid)
	require.True(t, Verify(pub, []byte("m"), sig))
	require.False(t, Verify(pub, []byte("n"), sig))
	require.False(t, Verify(pub[:5], []byte("m"), sig), "a malformed key is simply invalid")
}

// Generated keys are evicted least recently used first, per client before overall; the
// default and configured keys never are.
func TestEviction(t *testing.T) {
	conf := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	s := testStore(t, func(c *Config) {
		c.MaxKeys, c.MaxKeysPerClient = 4, 2
		c.Keys = []Key{{ID: "conf", Type: "aes", Key: conf}}
	})
	_, def, err := s.Sign("", "a", []byte("m")) // a's first key becomes the default signing key
	require.NoError(t, err)
	for _, id := range []string{"a1", "a2"} {
		_, _, err := s.Keypair("ECDH", id, "a")
		require.NoError(t, err)
	}
	require.Equal(t, 2, s.OwnedBy("a"))
	require.False(t, s.Has("a1"), "a's least recently used key went, not the default")
	require.True(t, s.Has(def) && s.Has("a2") && s.Has("conf"))

	// The store is full (conf, def, a2, b1): b2 evicts the least recently used
	// generated key that is not a default, a2.
	_, _, err = s.Keypair("ECDH", "b1", "b")
	require.NoError(t, err)
	require.Equal(t, Stats{Keys: 4, Generated: 3}, s.Stats())
	_, _, err = s.Keypair("ECDH", "b2", "b")
	require.NoError(t, err)
	require.Equal(t, Stats{Keys: 4, Generated: 3}, s.Stats())
	require.False(t, s.Has("a2"))
	require.True(t, s.Has(def) && s.Has("b1") && s.Has("b2") && s.Has("conf"))
	_, id, err := s.SigningPublicKey("")
	require.NoError(t, err)
	require.Equal(t, def, id, "the default key stays")
}

func TestBase64IsStrict(t *testing.T) {
	_, err := DecodeBase64("SGVsbG8-_")
	require.Error(t, err)
	_, err = DecodeBase64("SGk")
	require.Error(t, err, "unpadded")
	b, err := DecodeBase64(EncodeBase64([]byte("hi")))
	require.NoError(t, err)
	require.Equal(t, "hi", string(b))
}

func TestConfigValidate(t *testing.T) {
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"key size", func(c *Config) { c.KeySizeBits = 100 }, "key_size_bits"},
		{"algorithm", func(c *Config) { c.Algorithm = "AES-128-GCM" }, "algorithm"},
		{"per client above max", func(c *Config) { c.MaxKeysPerClient = c.MaxKeys + 1 }, "max_keys_per_client"},
		{"bad id", func(c *Config) { c.Keys = []Key{{ID: "a b", Type: "aes", Key: key32}} }, "keys[0].id"},
		{"short aes key", func(c *Config) { c.Keys = []Key{{ID: "k", Type: "aes", Key: "AAAA"}} }, "keys[0].key"},
		{"default is not aes", func(c *Config) {
			c.Keys = []Key{{ID: "k", Type: "ed25519", Key: key32}}
			c.DefaultEncryptionKey = "k"
		}, "default_encryption_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
