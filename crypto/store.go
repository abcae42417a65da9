package crypto

import (
	"container/list"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// AES-GCM framing: nonce ‖ ciphertext ‖ tag (api-contract §9).
const (
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// Sentinels of the refusals a transport maps to its own statuses; every *Error wraps one.
var (
	ErrKeyNotFound = errors.New("crypto: key not found")
	ErrKeyExists   = errors.New("crypto: key exists")
	ErrStoreFull   = errors.New("crypto: key store full")
	ErrNoKey       = errors.New("crypto: no key")
	ErrDecrypt     = errors.New("crypto: decryption failed")
)

// Error is a refusal with the message a client is shown; errors.Is matches its Kind.
type Error struct {
	Kind    error // one of the sentinels above
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Store holds the AES, Ed25519 and X25519 keys of one process and runs the operations
// on them. It is bounded: generated keys are evicted least recently used first, per
// client beyond Config.MaxKeysPerClient and overall beyond Config.MaxKeys; configured
// and default keys are never evicted. Safe for concurrent use.
type Store struct {
	cfg Config
	log *zap.Logger

	mu         sync.Mutex
	enc        map[string][]byte
	sig        map[string]ed25519.PrivateKey
	kx         map[string]*ecdh.PrivateKey
	defaultEnc string
	defaultSig string
	// Generated keys (config keys are never here, so never evicted), most recently
	// used first, and how many each client made: the store evicts instead of filling
	// up for good, and one client recycles its own keys instead of everyone's.
	lru   *list.List               // of *genKey
	genAt map[string]*list.Element // key id -> its element in lru
	owned map[string]int           // client id -> generated keys it holds
}

// genKey is one generated key's bookkeeping.
type genKey struct {
	id, kind, owner string // kind: "aes", "ed25519" or "x25519", as in Key.Type
}

var b64 = base64.StdEncoding.Strict()

// New loads cfg's keys; cfg must have passed Validate. log may be nil.
func New(cfg Config, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{cfg: cfg, log: log.With(zap.String("component", "crypto")),
		enc: map[string][]byte{}, sig: map[string]ed25519.PrivateKey{}, kx: map[string]*ecdh.PrivateKey{},
		defaultEnc: cfg.DefaultEncryptionKey, defaultSig: cfg.DefaultSignatureKey,
		lru: list.New(), genAt: map[string]*list.Element{}, owned: map[string]int{}}
	for i, k := range cfg.Keys {
		raw, err := b64.DecodeString(k.Key)
		if err != nil {
			return nil, fmt.Errorf("crypto.keys[%d].key: %w", i, err)
		}
		switch k.Type {
		case "aes":
			s.enc[k.ID] = raw
		case "ed25519":
			if len(raw) != ed25519.SeedSize {
				return nil, fmt.Errorf("crypto.keys[%d].key: want %d bytes", i, ed25519.SeedSize)
			}
			s.sig[k.ID] = ed25519.NewKeyFromSeed(raw)
		case "x25519":
			pk, err := ecdh.X25519().NewPrivateKey(raw)
			if err != nil {
				return nil, fmt.Errorf("crypto.keys[%d].key: %w", i, err)
			}
			s.kx[k.ID] = pk
		default:
			return nil, fmt.Errorf("crypto.keys[%d].type: %q unknown", i, k.Type)
		}
	}
	return s, nil
}

// Enabled reports crypto.enabled: when false, transports refuse every operation.
func (s *Store) Enabled() bool { return s.cfg.Enabled }

func newKeyID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "key_" + hex.EncodeToString(b[:])
}

func (s *Store) count() int { return len(s.enc) + len(s.sig) + len(s.kx) }

// added records a key generated for owner as the most recently used; the caller holds mu
// and has made room.
func (s *Store) added(id, kind, owner string) {
	s.genAt[id] = s.lru.PushFront(&genKey{id: id, kind: kind, owner: owner})
	s.owned[owner]++
}

// touch marks a generated key as just used; the caller holds mu.
func (s *Store) touch(id string) {
	if e := s.genAt[id]; e != nil {
		s.lru.MoveToFront(e)
	}
}

// makeRoom frees a slot for one more key generated for owner; the caller holds mu. A
// client at crypto.max_keys_per_client loses its own least recently used key; otherwise,
// with the store at crypto.max_keys, the least recently used generated key of anyone
// goes. Default keys are never evicted (every request without key_id uses them), nor
// are configured ones. Only a store full of those is ErrStoreFull.
func (s *Store) makeRoom(owner string) error {
	if s.owned[owner] >= s.cfg.MaxKeysPerClient {
		if s.evict(func(g *genKey) bool { return g.owner == owner }) {
			return nil
		}
		return &Error{Kind: ErrStoreFull,
			Message: fmt.Sprintf("This client holds %d generated keys (crypto.max_keys_per_client), all in use as defaults", s.owned[owner])}
	}
	if s.count() < s.cfg.MaxKeys || s.evict(func(*genKey) bool { return true }) {
		return nil
	}
	return &Error{Kind: ErrStoreFull, Message: "Key store is full of keys that cannot be evicted (configured keys and default keys)"}
}

// evict drops the least recently used generated key that match accepts and is not a
// default; the caller holds mu.
func (s *Store) evict(match func(*genKey) bool) bool {
	for e := s.lru.Back(); e != nil; e = e.Prev() {
		g := e.Value.(*genKey)
		if g.id == s.defaultEnc || g.id == s.defaultSig || !match(g) {
			continue
		}
		s.lru.Remove(e)
		delete(s.genAt, g.id)
		if s.owned[g.owner]--; s.owned[g.owner] == 0 {
			delete(s.owned, g.owner)
		}
		switch g.kind {
		case "aes":
			delete(s.enc, g.id)
		case "ed25519":
			delete(s.sig, g.id)
		case "x25519":
			delete(s.kx, g.id)
		}
		s.log.Debug("crypto key evicted", zap.String("key_id", g.id))
		return true
	}
	return false
}

// keyPick is what pickKey looks for: the requested id ("" = the default), whether a
// missing default is generated (for owner, of kind), and the ErrNoKey message when it is not.
type keyPick struct {
	id     string
	create bool
	owner  string
	kind   string
	noKey  string
}

// pickKey returns store[p.id] (ErrKeyNotFound if unknown); with no id the default key
// *def, or, when p.create is set, a new key from gen that becomes the default.
func pickKey[K any](s *Store, store map[string]K, def *string, p keyPick, gen func() K) (string, K, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zero K
	if p.id != "" {
		k, ok := store[p.id]
		if !ok {
			return "", zero, &Error{Kind: ErrKeyNotFound, Message: fmt.Sprintf("Key %q not found", p.id)}
		}
		s.touch(p.id)
		return p.id, k, nil
	}
	if *def != "" {
		return *def, store[*def], nil
	}
	if !p.create {
		return "", zero, &Error{Kind: ErrNoKey, Message: p.noKey}
	}
	if err := s.makeRoom(p.owner); err != nil {
		return "", zero, err
	}
	id := newKeyID()
	store[id] = gen()
	s.added(id, p.kind, p.owner)
	*def = id
	return id, store[id], nil
}

// encKey picks the encryption key: the named one, else the default, else (create) a new
// default, generated for owner.
func (s *Store) encKey(id string, create bool, owner string) (string, []byte, error) {
	return pickKey(s, s.enc, &s.defaultEnc, keyPick{id, create, owner, "aes", "No encryption key available for decryption"}, func() []byte {
		k := make([]byte, s.cfg.KeySizeBits/8)
		_, _ = rand.Read(k)
		return k
	})
}

// sigKey is encKey for Ed25519 signing keys.
func (s *Store) sigKey(id string, create bool, owner string) (string, ed25519.PrivateKey, error) {
	return pickKey(s, s.sig, &s.defaultSig, keyPick{id, create, owner, "ed25519", "No public key provided and no key_id matches stored keys"}, func() ed25519.PrivateKey {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		return priv
	})
}

// EncryptionKey resolves the AES key of an encrypt (create: a missing default is made
// for owner) or a decrypt, and returns its id; the key is then used by Seal or Open.
func (s *Store) EncryptionKey(id string, create bool, owner string) (AESKey, error) {
	kid, key, err := s.encKey(id, create, owner)
	return AESKey{ID: kid, key: key}, err
}

// AESKey is a resolved AES key.
type AESKey struct {
	ID  string
	key []byte
}

// Algorithm names the AES-GCM variant of the key's size.
func (k AESKey) Algorithm() string { return fmt.Sprintf("AES-%d-GCM", len(k.key)*8) }

// Seal encrypts plaintext with a random nonce: nonce ‖ ciphertext ‖ tag.
func (k AESKey) Seal(plaintext, aad []byte) ([]byte, error) {
	aead, err := newGCM(k.key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, gcmNonceSize, gcmNonceSize+len(plaintext)+gcmTagSize)
	_, _ = rand.Read(out)
	return aead.Seal(out, out[:gcmNonceSize], plaintext, nilIfEmpty(aad)), nil
}

// Open decrypts nonce ‖ ciphertext ‖ tag; a short input or a failed authentication is
// ErrDecrypt.
func (k AESKey) Open(ct, aad []byte) ([]byte, error) {
	if len(ct) < gcmNonceSize+gcmTagSize {
		return nil, &Error{Kind: ErrDecrypt,
			Message: fmt.Sprintf("Decryption failed: Ciphertext too short: %d bytes. Minimum is %d bytes.", len(ct), gcmNonceSize+gcmTagSize)}
	}
	aead, err := newGCM(k.key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, ct[:gcmNonceSize], ct[gcmNonceSize:], nilIfEmpty(aad))
	if err != nil {
		return nil, &Error{Kind: ErrDecrypt, Message: "Decryption failed: Decryption failed (possible tampering or wrong key)"}
	}
	return pt, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// Sign signs msg with the named Ed25519 key, else the default one, else a new default
// made for owner; it returns the signature and the key id.
func (s *Store) Sign(id, owner string, msg []byte) ([]byte, string, error) {
	kid, priv, err := s.sigKey(id, true, owner)
	if err != nil {
		return nil, "", err
	}
	return ed25519.Sign(priv, msg), kid, nil
}

// SigningPublicKey is the public half of the named Ed25519 key, else of the default one.
func (s *Store) SigningPublicKey(id string) (ed25519.PublicKey, string, error) {
	kid, priv, err := s.sigKey(id, false, "")
	if err != nil {
		return nil, "", err
	}
	return priv.Public().(ed25519.PublicKey), kid, nil
}

// Verify reports whether sig is pub's Ed25519 signature of msg; malformed keys and
// signatures are simply invalid.
func Verify(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, msg, sig)
}

// Keypair generates an Ed25519 (alg "Ed25519") or X25519 (alg "ECDH") key for owner
// under id ("" = a new id) and returns the id and the public key. An Ed25519 key becomes
// the default signing key when there is none.
func (s *Store) Keypair(alg, id, owner string) (string, []byte, error) {
	if id == "" {
		id = newKeyID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e1 := s.enc[id]
	_, e2 := s.sig[id]
	_, e3 := s.kx[id]
	if e1 || e2 || e3 {
		return id, nil, &Error{Kind: ErrKeyExists, Message: fmt.Sprintf("Key %q already exists", id)}
	}
	if err := s.makeRoom(owner); err != nil {
		return id, nil, err
	}
	var pub []byte
	kind := "ed25519"
	switch alg {
	case "Ed25519":
		p, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return id, nil, err
		}
		s.sig[id], pub = priv, p
		if s.defaultSig == "" {
			s.defaultSig = id
		}
	case "ECDH":
		priv, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return id, nil, err
		}
		s.kx[id], pub, kind = priv, priv.PublicKey().Bytes(), "x25519"
	default:
		return id, nil, fmt.Errorf("crypto: unknown key algorithm %q", alg)
	}
	s.added(id, kind, owner)
	return id, pub, nil
}

// Audit logs one operation when crypto.audit_log is on: never keys or data, only the
// request id, the operation, the key id and the outcome.
func (s *Store) Audit(requestID, op, keyID string, err error) {
	if !s.cfg.AuditLog {
		return
	}
	if keyID == "" {
		keyID = "unknown"
	}
	if err != nil {
		s.log.Warn("crypto operation failed", zap.String("request_id", requestID), zap.String("operation", op), zap.String("key_id", keyID), zap.String("error", err.Error()))
		return
	}
	s.log.Info("crypto operation", zap.String("request_id", requestID), zap.String("operation", op), zap.String("key_id", keyID), zap.Bool("success", true))
}

// Stats is a snapshot of the store's occupancy.
type Stats struct {
	Keys      int // every key, configured and generated
	Generated int // generated keys (the evictable ones and the defaults among them)
}

// Stats reports the store's occupancy.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Keys: s.count(), Generated: s.lru.Len()}
}

// OwnedBy is the number of generated keys owner holds.
func (s *Store) OwnedBy(owner string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owned[owner]
}

// Has reports whether a key with this id is stored.
func (s *Store) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e1 := s.enc[id]
	_, e2 := s.sig[id]
	_, e3 := s.kx[id]
	return e1 || e2 || e3
}

// DecodeBase64 decodes strict standard base64, the encoding of every key, payload and
// signature on the wire: URL-safe or unpadded input is an error, not mangled.
func DecodeBase64(s string) ([]byte, error) { return b64.DecodeString(s) }

// EncodeBase64 is the standard padded base64 of b.
func EncodeBase64(b []byte) string { return b64.EncodeToString(b) }
