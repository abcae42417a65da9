package jobs

import (
	"fmt"

	"mfn/crypto"
)

// The /api/* bodies (api-contract §9) and their rules: pydantic's string lengths, the
// key id pattern and the algorithm names. Their items are reported all at once, in the
// order the reference's models list their fields.

// Crypto body limits, in characters of the base64 text.
const (
	MaxCryptoPayloadChars = 1 << 20 // plaintext, ciphertext, message
	MaxAADChars           = 4096
	MaxSignatureChars     = 256 // signature, public_key
	MaxKeyIDChars         = 64
)

// AEADRequest is the body of /api/encrypt (Plaintext) and /api/decrypt (Ciphertext).
type AEADRequest struct {
	Plaintext      *string `json:"plaintext"`
	Ciphertext     *string `json:"ciphertext"`
	KeyID          *string `json:"key_id"`
	AssociatedData *string `json:"associated_data"`
}

// Payload is the field the operation reads: "plaintext" or "ciphertext".
func (r AEADRequest) Payload(field string) *string {
	if field == "ciphertext" {
		return r.Ciphertext
	}
	return r.Plaintext
}

// Validate checks r for the operation whose payload is field ("plaintext" or
// "ciphertext"); it returns nil or a *BodyError.
func (r AEADRequest) Validate(field string) error {
	p := r.Payload(field)
	items := required(nil, field, p)
	if p != nil {
		items = checkStr(items, field, *p, 1, MaxCryptoPayloadChars)
	}
	items = checkStr(items, "key_id", str(r.KeyID), 0, MaxKeyIDChars)
	items = checkKeyID(items, r.KeyID)
	return itemsErr(checkStr(items, "associated_data", str(r.AssociatedData), 0, MaxAADChars))
}

// SignRequest is the body of /api/sign.
type SignRequest struct {
	Message *string `json:"message"`
	KeyID   *string `json:"key_id"`
}

// Validate returns nil or a *BodyError.
func (r SignRequest) Validate() error {
	items := required(nil, "message", r.Message)
	if r.Message != nil {
		items = checkStr(items, "message", *r.Message, 1, MaxCryptoPayloadChars)
	}
	items = checkStr(items, "key_id", str(r.KeyID), 0, MaxKeyIDChars)
	return itemsErr(checkKeyID(items, r.KeyID))
}

// VerifyRequest is the body of /api/verify: a stored key (KeyID or the default), or a
// caller's PublicKey.
type VerifyRequest struct {
	Message   *string `json:"message"`
	Signature *string `json:"signature"`
	PublicKey *string `json:"public_key"`
	KeyID     *string `json:"key_id"`
}

// Validate returns nil or a *BodyError.
func (r VerifyRequest) Validate() error {
	items := required(nil, "message", r.Message)
	if r.Message != nil {
		items = checkStr(items, "message", *r.Message, 1, MaxCryptoPayloadChars)
	}
	items = required(items, "signature", r.Signature)
	if r.Signature != nil {
		items = checkStr(items, "signature", *r.Signature, 1, MaxSignatureChars)
	}
	items = checkStr(items, "public_key", str(r.PublicKey), 0, MaxSignatureChars)
	items = checkStr(items, "key_id", str(r.KeyID), 0, MaxKeyIDChars)
	return itemsErr(checkKeyID(items, r.KeyID))
}

// KeypairRequest is the body of /api/keypair: Algorithm "Ed25519" (default) or "ECDH".
type KeypairRequest struct {
	Algorithm *string `json:"algorithm"`
	KeyID     *string `json:"key_id"`
}

// Validate returns nil or a *BodyError.
func (r KeypairRequest) Validate() error {
	var items []Item
	if r.Algorithm != nil && *r.Algorithm != "Ed25519" && *r.Algorithm != "ECDH" {
		items = append(items, Item{Type: "string_pattern_mismatch", Loc: []any{"body", "algorithm"}, Input: *r.Algorithm,
			Msg: "String should match pattern '^(ECDH|Ed25519)$'", Ctx: map[string]any{"pattern": "^(ECDH|Ed25519)$"}})
	}
	items = checkStr(items, "key_id", str(r.KeyID), 0, MaxKeyIDChars)
	return itemsErr(checkKeyID(items, r.KeyID))
}

func itemsErr(items []Item) error {
	if len(items) == 0 {
		return nil
	}
	return &BodyError{Items: items}
}

// checkStr applies pydantic's string-length items.
func checkStr(items []Item, field, v string, minLen, maxLen int) []Item {
	switch {
	case len(v) < minLen:
		return append(items, Item{Type: "string_too_short", Loc: []any{"body", field}, Input: v,
			Msg: fmt.Sprintf("String should have at least %d character", minLen), Ctx: map[string]any{"min_length": minLen}})
	case len(v) > maxLen:
		return append(items, Item{Type: "string_too_long", Loc: []any{"body", field}, Input: v,
			Msg: fmt.Sprintf("String should have at most %d characters", maxLen), Ctx: map[string]any{"max_length": maxLen}})
	}
	return items
}

func checkKeyID(items []Item, id *string) []Item {
	if id == nil || *id == "" {
		return items
	}
	if !crypto.ValidKeyID(*id) {
		return append(items, Item{Type: "string_pattern_mismatch", Loc: []any{"body", "key_id"}, Input: *id,
			Msg: "String should match pattern '" + crypto.KeyIDPattern + "'", Ctx: map[string]any{"pattern": crypto.KeyIDPattern}})
	}
	return items
}

func required(items []Item, field string, v *string) []Item {
	if v == nil {
		return append(items, Item{Type: "missing", Loc: []any{"body", field}, Msg: "Field required"})
	}
	return items
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
