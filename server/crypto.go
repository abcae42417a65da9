package server

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
	"mfn/jobs"
	"mfn/server/envelope"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// The /api/* endpoints (api-contract §9): AES-GCM (nonce ‖ ciphertext ‖ tag), Ed25519,
// X25519, with the [GO] fixes: strict base64, 404 for an unknown key_id, 409 for a
// key_id that exists, a bounded key store, the algorithm actually used in every answer.

const (
	maxPayloadChars = 1 << 20 // base64 plaintext/ciphertext/message
	maxAADChars     = 4096
	maxSigChars     = 256
	maxKeyIDChars   = 64
	gcmNonceSize    = 12
	gcmTagSize      = 16
)

var b64 = base64.StdEncoding.Strict()

type cryptoService struct {
	cfg CryptoConfig
	log *zap.Logger
	r   *rest // for body decoding; set by newREST

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
	id, kind, owner string // kind: "aes", "ed25519" or "x25519", as in CryptoKey.Type
}

func newCryptoService(cfg CryptoConfig, log *zap.Logger) (*cryptoService, error) {
	s := &cryptoService{cfg: cfg, log: log.With(zap.String("component", "crypto")),
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

func newKeyID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "key_" + hex.EncodeToString(b[:])
}

func (s *cryptoService) count() int { return len(s.enc) + len(s.sig) + len(s.kx) }

var errStoreFull = &envelope.Error{Status: http.StatusInsufficientStorage, Code: envelope.CodeKeyStoreFull,
	Message: "Key store is full of keys that cannot be evicted (configured keys and default keys)"}

// added records a key generated for owner as the most recently used; the caller holds mu
// and has made room.
func (s *cryptoService) added(id, kind, owner string) {
	s.genAt[id] = s.lru.PushFront(&genKey{id: id, kind: kind, owner: owner})
	s.owned[owner]++
}

// touch marks a generated key as just used; the caller holds mu.
func (s *cryptoService) touch(id string) {
	if e := s.genAt[id]; e != nil {
		s.lru.MoveToFront(e)
	}
}

// makeRoom frees a slot for one more key generated for owner; the caller holds mu. A
// client at crypto.max_keys_per_client loses its own least recently used key; otherwise,
// with the store at crypto.max_keys, the least recently used generated key of anyone
// goes. Default keys are never evicted (every request without key_id uses them), nor
// are configured ones. Only a store full of those answers 507.
func (s *cryptoService) makeRoom(owner string) error {
	if s.owned[owner] >= s.cfg.MaxKeysPerClient {
		if s.evict(func(g *genKey) bool { return g.owner == owner }) {
			return nil
		}
		return &envelope.Error{Status: http.StatusInsufficientStorage, Code: envelope.CodeKeyStoreFull,
			Message: fmt.Sprintf("This client holds %d generated keys (crypto.max_keys_per_client), all in use as defaults", s.owned[owner])}
	}
	if s.count() < s.cfg.MaxKeys || s.evict(func(*genKey) bool { return true }) {
		return nil
	}
	return errStoreFull
}

// evict drops the least recently used generated key that match accepts and is not a
// default; the caller holds mu.
func (s *cryptoService) evict(match func(*genKey) bool) bool {
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

func keyNotFound(id string) *envelope.Error {
	return &envelope.Error{Status: http.StatusNotFound, Code: envelope.CodeKeyNotFound, Message: fmt.Sprintf("Key %q not found", id)}
}

func badRequest(msg string) *envelope.Error {
	return &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeCrypto, Message: msg}
}

// checkStr applies pydantic's string-length items.
func checkStr(items []jobs.Item, field, v string, minLen, maxLen int) []jobs.Item {
	switch {
	case len(v) < minLen:
		return append(items, jobs.Item{Type: "string_too_short", Loc: []any{"body", field}, Input: v,
			Msg: fmt.Sprintf("String should have at least %d character", minLen), Ctx: map[string]any{"min_length": minLen}})
	case len(v) > maxLen:
		return append(items, jobs.Item{Type: "string_too_long", Loc: []any{"body", field}, Input: v,
			Msg: fmt.Sprintf("String should have at most %d characters", maxLen), Ctx: map[string]any{"max_length": maxLen}})
	}
	return items
}

func checkKeyID(items []jobs.Item, id *string) []jobs.Item {
	if id == nil || *id == "" {
		return items
	}
	if !keyIDPattern.MatchString(*id) {
		return append(items, jobs.Item{Type: "string_pattern_mismatch", Loc: []any{"body", "key_id"}, Input: *id,
			Msg: "String should match pattern '^[A-Za-z0-9._:-]{1,64}$'", Ctx: map[string]any{"pattern": "^[A-Za-z0-9._:-]{1,64}$"}})
	}
	return items
}

func required(items []jobs.Item, field string, v *string) []jobs.Item {
	if v == nil {
		return append(items, jobs.Item{Type: "missing", Loc: []any{"body", field}, Msg: "Field required"})
	}
	return items
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// bindCrypto decodes, validates (422), then checks the enable flag (503): the
// reference's order, where 422 wins over 503.
func (s *cryptoService) bindCrypto(c echo.Context, r *rest, dst any, check func() []jobs.Item) error {
	if err := r.body.bind(c, dst); err != nil {
		return err
	}
	if items := check(); len(items) > 0 {
		return envelope.Validation(items...)
	}
	if !s.cfg.Enabled {
		return &envelope.Error{Status: http.StatusServiceUnavailable, Code: envelope.CodeUnavailable, Message: "Cryptographic operations are disabled"}
	}
	return nil
}

func (s *cryptoService) audit(c echo.Context, op, keyID string, err error) {
	if !s.cfg.AuditLog {
		return
	}
	if keyID == "" {
		keyID = "unknown"
	}
	if err != nil {
		s.log.Warn("crypto operation failed", zap.String("request_id", requestID(c)), zap.String("operation", op), zap.String("key_id", keyID), zap.String("error", err.Error()))
		return
	}
	s.log.Info("crypto operation", zap.String("request_id", requestID(c)), zap.String("operation", op), zap.String("key_id", keyID), zap.Bool("success", true))
}

// encKey picks the encryption key: the named one (404 if unknown), else the default,
// else (create) a new default, generated for owner.
func (s *cryptoService) encKey(id string, create bool, owner string) (string, []byte, error) {
	return pickKey(s, s.enc, &s.defaultEnc, keyPick{id, create, owner, "aes", "No encryption key available for decryption"}, func() []byte {
		k := make([]byte, s.cfg.KeySizeBits/8)
		_, _ = rand.Read(k)
		return k
	})
}

// sigKey is encKey for Ed25519 signing keys.
func (s *cryptoService) sigKey(id string, create bool, owner string) (string, ed25519.PrivateKey, error) {
	return pickKey(s, s.sig, &s.defaultSig, keyPick{id, create, owner, "ed25519", "No public key provided and no key_id matches stored keys"}, func() ed25519.PrivateKey {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		return priv
	})
}

// keyPick is what pickKey looks for: the requested id ("" = the default), whether a
// missing default is generated (for owner, of kind), and the 400 message when it is not.
type keyPick struct {
	id     string
	create bool
	owner  string
	kind   string
	noKey  string
}

// pickKey returns store[p.id] (404 if unknown); with no id the default key *def, or, when
// p.create is set, a new key from gen that becomes the default.
func pickKey[K any](s *cryptoService, store map[string]K, def *string, p keyPick, gen func() K) (string, K, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zero K
	if p.id != "" {
		k, ok := store[p.id]
		if !ok {
			return "", zero, keyNotFound(p.id)
		}
		s.touch(p.id)
		return p.id, k, nil
	}
	if *def != "" {
		return *def, store[*def], nil
	}
	if !p.create {
		return "", zero, badRequest(p.noKey)
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

// aeadRequest is the body of /api/encrypt and /api/decrypt: a base64 payload (plaintext
// or ciphertext, by endpoint), an optional key id and optional base64 associated data.
type aeadRequest struct {
	Plaintext      *string `json:"plaintext"`
	Ciphertext     *string `json:"ciphertext"`
	KeyID          *string `json:"key_id"`
	AssociatedData *string `json:"associated_data"`
}

// bindAEAD decodes and validates an encrypt (op "encrypt", payload "plaintext") or
// decrypt request and resolves its AES key; errors are already audited.
func (s *cryptoService) bindAEAD(c echo.Context, op, payloadField string) (payload, aad []byte, id string, key []byte, err error) {
	var req aeadRequest
	field := &req.Plaintext
	if payloadField == "ciphertext" {
		field = &req.Ciphertext
	}
	if err := s.bindCrypto(c, s.r, &req, func() []jobs.Item {
		items := required(nil, payloadField, *field)
		if *field != nil {
			items = checkStr(items, payloadField, **field, 1, maxPayloadChars)
		}
		items = checkStr(items, "key_id", str(req.KeyID), 0, maxKeyIDChars)
		items = checkKeyID(items, req.KeyID)
		return checkStr(items, "associated_data", str(req.AssociatedData), 0, maxAADChars)
	}); err != nil {
		return nil, nil, "", nil, err
	}
	if payload, err = b64.DecodeString(**field); err != nil {
		return nil, nil, "", nil, s.fail(c, op, str(req.KeyID), badRequest("Invalid base64-encoded "+payloadField))
	}
	if aad, err = b64.DecodeString(str(req.AssociatedData)); err != nil {
		return nil, nil, "", nil, s.fail(c, op, str(req.KeyID), badRequest("Invalid base64-encoded associated data"))
	}
	if id, key, err = s.encKey(str(req.KeyID), op == "encrypt", s.r.clientID(c.Request())); err != nil {
		return nil, nil, "", nil, s.fail(c, op, str(req.KeyID), err)
	}
	return payload, aad, id, key, nil
}

func (s *cryptoService) encrypt(c echo.Context) error {
	pt, aad, id, key, err := s.bindAEAD(c, "encrypt", "plaintext")
	if err != nil {
		return err
	}
	aead, err := newGCM(key)
	if err != nil {
		return s.fail(c, "encrypt", id, err)
	}
	out := make([]byte, gcmNonceSize, gcmNonceSize+len(pt)+gcmTagSize)
	_, _ = rand.Read(out)
	out = aead.Seal(out, out[:gcmNonceSize], pt, nilIfEmpty(aad))
	s.audit(c, "encrypt", id, nil)
	return c.JSON(http.StatusOK, map[string]string{"ciphertext": b64.EncodeToString(out), "key_id": id, "algorithm": algName(len(key))})
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func algName(keyBytes int) string { return fmt.Sprintf("AES-%d-GCM", keyBytes*8) }

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

func (s *cryptoService) fail(c echo.Context, op, keyID string, err error) error {
	s.audit(c, op, keyID, err)
	return err
}

func (s *cryptoService) decrypt(c echo.Context) error {
	ct, aad, id, key, err := s.bindAEAD(c, "decrypt", "ciphertext")
	if err != nil {
		return err
	}
	if len(ct) < gcmNonceSize+gcmTagSize {
		return s.fail(c, "decrypt", id, &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeDecrypt,
			Message: fmt.Sprintf("Decryption failed: Ciphertext too short: %d bytes. Minimum is %d bytes.", len(ct), gcmNonceSize+gcmTagSize)})
	}
	aead, err := newGCM(key)
	if err != nil {
		return s.fail(c, "decrypt", id, err)
	}
	pt, err := aead.Open(nil, ct[:gcmNonceSize], ct[gcmNonceSize:], nilIfEmpty(aad))
	if err != nil {
		return s.fail(c, "decrypt", id, &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeDecrypt,
			Message: "Decryption failed: Decryption failed (possible tampering or wrong key)"})
	}
	s.audit(c, "decrypt", id, nil)
	return c.JSON(http.StatusOK, map[string]string{"plaintext": b64.EncodeToString(pt), "key_id": id, "algorithm": algName(len(key))})
}

type signRequest struct {
	Message *string `json:"message"`
	KeyID   *string `json:"key_id"`
}

func (s *cryptoService) sign(c echo.Context) error {
	r := s.r
	var req signRequest
	if err := s.bindCrypto(c, r, &req, func() []jobs.Item {
		items := required(nil, "message", req.Message)
		if req.Message != nil {
			items = checkStr(items, "message", *req.Message, 1, maxPayloadChars)
		}
		items = checkStr(items, "key_id", str(req.KeyID), 0, maxKeyIDChars)
		return checkKeyID(items, req.KeyID)
	}); err != nil {
		return err
	}
	msg, err := b64.DecodeString(*req.Message)
	if err != nil {
		return s.fail(c, "sign", str(req.KeyID), badRequest("Invalid base64-encoded message"))
	}
	id, priv, err := s.sigKey(str(req.KeyID), true, r.clientID(c.Request()))
	if err != nil {
		return s.fail(c, "sign", str(req.KeyID), err)
	}
	sig := ed25519.Sign(priv, msg)
	s.audit(c, "sign", id, nil)
	return c.JSON(http.StatusOK, map[string]string{"signature": b64.EncodeToString(sig), "key_id": id, "algorithm": "Ed25519"})
}

type verifyRequest struct {
	Message   *string `json:"message"`
	Signature *string `json:"signature"`
	PublicKey *string `json:"public_key"`
	KeyID     *string `json:"key_id"`
}

func (s *cryptoService) verify(c echo.Context) error {
	r := s.r
	var req verifyRequest
	if err := s.bindCrypto(c, r, &req, func() []jobs.Item {
		items := required(nil, "message", req.Message)
		if req.Message != nil {
			items = checkStr(items, "message", *req.Message, 1, maxPayloadChars)
		}
		items = required(items, "signature", req.Signature)
		if req.Signature != nil {
			items = checkStr(items, "signature", *req.Signature, 1, maxSigChars)
		}
		items = checkStr(items, "public_key", str(req.PublicKey), 0, maxSigChars)
		items = checkStr(items, "key_id", str(req.KeyID), 0, maxKeyIDChars)
		return checkKeyID(items, req.KeyID)
	}); err != nil {
		return err
	}
	msg, err := b64.DecodeString(*req.Message)
	if err != nil {
		return s.fail(c, "verify", str(req.KeyID), badRequest("Invalid base64-encoded message"))
	}
	sig, err := b64.DecodeString(*req.Signature)
	if err != nil {
		return s.fail(c, "verify", str(req.KeyID), badRequest("Invalid base64-encoded signature"))
	}
	var pub []byte
	var keyID any // null when a caller-supplied public key has no key_id
	if pk := str(req.PublicKey); pk != "" {
		pub, err = b64.DecodeString(pk)
		if err != nil {
			return s.fail(c, "verify", "external", badRequest("Invalid base64-encoded public key"))
		}
		if req.KeyID != nil && *req.KeyID != "" {
			keyID = *req.KeyID
		}
	} else {
		id, priv, err := s.sigKey(str(req.KeyID), false, "")
		if err != nil {
			return s.fail(c, "verify", str(req.KeyID), err)
		}
		pub, keyID = priv.Public().(ed25519.PublicKey), id
	}
	valid := len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, msg, sig)
	s.audit(c, "verify", fmt.Sprint(keyID), nil)
	return c.JSON(http.StatusOK, map[string]any{"valid": valid, "key_id": keyID, "algorithm": "Ed25519"})
}

type keypairRequest struct {
	Algorithm *string `json:"algorithm"`
	KeyID     *string `json:"key_id"`
}

func (s *cryptoService) keypair(c echo.Context) error {
	r := s.r
	var req keypairRequest
	if err := s.bindCrypto(c, r, &req, func() []jobs.Item {
		var items []jobs.Item
		if req.Algorithm != nil && *req.Algorithm != "Ed25519" && *req.Algorithm != "ECDH" {
			items = append(items, jobs.Item{Type: "string_pattern_mismatch", Loc: []any{"body", "algorithm"}, Input: *req.Algorithm,
				Msg: "String should match pattern '^(ECDH|Ed25519)$'", Ctx: map[string]any{"pattern": "^(ECDH|Ed25519)$"}})
		}
		items = checkStr(items, "key_id", str(req.KeyID), 0, maxKeyIDChars)
		return checkKeyID(items, req.KeyID)
	}); err != nil {
		return err
	}
	alg := "Ed25519"
	if req.Algorithm != nil {
		alg = *req.Algorithm
	}
	id := str(req.KeyID)
	if id == "" {
		id = newKeyID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e1 := s.enc[id]
	_, e2 := s.sig[id]
	_, e3 := s.kx[id]
	if e1 || e2 || e3 {
		err := &envelope.Error{Status: http.StatusConflict, Code: envelope.CodeKeyExists, Message: fmt.Sprintf("Key %q already exists", id)}
		s.audit(c, "keypair", id, err)
		return err
	}
	owner := r.clientID(c.Request())
	if err := s.makeRoom(owner); err != nil {
		s.audit(c, "keypair", id, err)
		return err
	}
	var pub []byte
	kind := "ed25519"
	switch alg {
	case "Ed25519":
		p, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		s.sig[id], pub = priv, p
		if s.defaultSig == "" {
			s.defaultSig = id
		}
	case "ECDH":
		priv, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		s.kx[id], pub, kind = priv, priv.PublicKey().Bytes(), "x25519"
	default:
		return errors.New("server: unreachable algorithm")
	}
	s.added(id, kind, owner)
	s.audit(c, "keypair", id, nil)
	return c.JSON(http.StatusOK, map[string]string{"key_id": id, "public_key": b64.EncodeToString(pub), "algorithm": alg})
}
