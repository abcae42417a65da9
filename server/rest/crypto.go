package rest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"mfn/crypto"
	"mfn/jobs"
	"mfn/server/envelope"
	"mfn/server/requestid"
)

// The /api/* endpoints (api-contract §9) with the [GO] fixes: strict base64, 404 for an
// unknown key_id, 409 for a key_id that exists, a bounded key store, the algorithm
// actually used in every answer. The key store is crypto.Store; the body rules are jobs'.

// cryptoErr maps a key store refusal onto its status and code; other errors pass as
// they are (500 without details).
func cryptoErr(err error) error {
	var ce *crypto.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch {
	case errors.Is(err, crypto.ErrKeyNotFound):
		return &envelope.Error{Status: http.StatusNotFound, Code: envelope.CodeKeyNotFound, Message: ce.Message}
	case errors.Is(err, crypto.ErrKeyExists):
		return &envelope.Error{Status: http.StatusConflict, Code: envelope.CodeKeyExists, Message: ce.Message}
	case errors.Is(err, crypto.ErrStoreFull):
		return &envelope.Error{Status: http.StatusInsufficientStorage, Code: envelope.CodeKeyStoreFull, Message: ce.Message}
	case errors.Is(err, crypto.ErrDecrypt):
		return &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeDecrypt, Message: ce.Message}
	}
	return badRequest(ce.Message) // ErrNoKey
}

func badRequest(msg string) *envelope.Error {
	return &envelope.Error{Status: http.StatusBadRequest, Code: envelope.CodeCrypto, Message: msg}
}

// bindCrypto decodes and validates (422), then checks the enable flag (503): the
// reference's order, where 422 wins over 503.
func (a *API) bindCrypto(c echo.Context, dst any, validate func() error) error {
	if err := a.body.bind(c, dst); err != nil {
		return err
	}
	if err := validate(); err != nil {
		return err
	}
	if !a.keys.Enabled() {
		return &envelope.Error{Status: http.StatusServiceUnavailable, Code: envelope.CodeUnavailable, Message: "Cryptographic operations are disabled"}
	}
	return nil
}

// fail audits a failed operation and returns its answer.
func (a *API) fail(c echo.Context, op, keyID string, err error) error {
	err = cryptoErr(err)
	a.audit(c, op, keyID, err)
	return err
}

func (a *API) audit(c echo.Context, op, keyID string, err error) {
	a.keys.Audit(requestid.FromHeader(c.Response().Header()), op, keyID, err)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// bindAEAD decodes and validates an encrypt (payload "plaintext") or decrypt request and
// resolves its AES key; errors are already audited.
func (a *API) bindAEAD(c echo.Context, op, payloadField string) (payload, aad []byte, key crypto.AESKey, err error) {
	var req jobs.AEADRequest
	if err := a.bindCrypto(c, &req, func() error { return req.Validate(payloadField) }); err != nil {
		return nil, nil, key, err
	}
	if payload, err = crypto.DecodeBase64(*req.Payload(payloadField)); err != nil {
		return nil, nil, key, a.fail(c, op, str(req.KeyID), badRequest("Invalid base64-encoded "+payloadField))
	}
	if aad, err = crypto.DecodeBase64(str(req.AssociatedData)); err != nil {
		return nil, nil, key, a.fail(c, op, str(req.KeyID), badRequest("Invalid base64-encoded associated data"))
	}
	if key, err = a.keys.EncryptionKey(str(req.KeyID), op == "encrypt", a.clientID(c.Request())); err != nil {
		return nil, nil, key, a.fail(c, op, str(req.KeyID), err)
	}
	return payload, aad, key, nil
}

func (a *API) encrypt(c echo.Context) error {
	pt, aad, key, err := a.bindAEAD(c, "encrypt", "plaintext")
	if err != nil {
		return err
	}
	ct, err := key.Seal(pt, aad)
	if err != nil {
		return a.fail(c, "encrypt", key.ID, err)
	}
	a.audit(c, "encrypt", key.ID, nil)
	return c.JSON(http.StatusOK, map[string]string{"ciphertext": crypto.EncodeBase64(ct), "key_id": key.ID, "algorithm": key.Algorithm()})
}

func (a *API) decrypt(c echo.Context) error {
	ct, aad, key, err := a.bindAEAD(c, "decrypt", "ciphertext")
	if err != nil {
		return err
	}
	pt, err := key.Open(ct, aad)
	if err != nil {
		return a.fail(c, "decrypt", key.ID, err)
	}
	a.audit(c, "decrypt", key.ID, nil)
	return c.JSON(http.StatusOK, map[string]string{"plaintext": crypto.EncodeBase64(pt), "key_id": key.ID, "algorithm": key.Algorithm()})
}

func (a *API) sign(c echo.Context) error {
	var req jobs.SignRequest
	if err := a.bindCrypto(c, &req, func() error { return req.Validate() }); err != nil {
		return err
	}
	msg, err := crypto.DecodeBase64(*req.Message)
	if err != nil {
		return a.fail(c, "sign", str(req.KeyID), badRequest("Invalid base64-encoded message"))
	}
	sig, id, err := a.keys.Sign(str(req.KeyID), a.clientID(c.Request()), msg)
	if err != nil {
		return a.fail(c, "sign", str(req.KeyID), err)
	}
	a.audit(c, "sign", id, nil)
	return c.JSON(http.StatusOK, map[string]string{"signature": crypto.EncodeBase64(sig), "key_id": id, "algorithm": "Ed25519"})
}

func (a *API) verify(c echo.Context) error {
	var req jobs.VerifyRequest
	if err := a.bindCrypto(c, &req, func() error { return req.Validate() }); err != nil {
		return err
	}
	msg, err := crypto.DecodeBase64(*req.Message)
	if err != nil {
		return a.fail(c, "verify", str(req.KeyID), badRequest("Invalid base64-encoded message"))
	}
	sig, err := crypto.DecodeBase64(*req.Signature)
	if err != nil {
		return a.fail(c, "verify", str(req.KeyID), badRequest("Invalid base64-encoded signature"))
	}
	var pub []byte
	var keyID any // null when a caller-supplied public key has no key_id
	if pk := str(req.PublicKey); pk != "" {
		pub, err = crypto.DecodeBase64(pk)
		if err != nil {
			return a.fail(c, "verify", "external", badRequest("Invalid base64-encoded public key"))
		}
		if req.KeyID != nil && *req.KeyID != "" {
			keyID = *req.KeyID
		}
	} else {
		p, id, err := a.keys.SigningPublicKey(str(req.KeyID))
		if err != nil {
			return a.fail(c, "verify", str(req.KeyID), err)
		}
		pub, keyID = p, id
	}
	valid := crypto.Verify(pub, msg, sig)
	a.audit(c, "verify", fmt.Sprint(keyID), nil)
	return c.JSON(http.StatusOK, map[string]any{"valid": valid, "key_id": keyID, "algorithm": "Ed25519"})
}

func (a *API) keypair(c echo.Context) error {
	var req jobs.KeypairRequest
	if err := a.bindCrypto(c, &req, func() error { return req.Validate() }); err != nil {
		return err
	}
	alg := "Ed25519"
	if req.Algorithm != nil {
		alg = *req.Algorithm
	}
	id, pub, err := a.keys.Keypair(alg, str(req.KeyID), a.clientID(c.Request()))
	if err != nil {
		return a.fail(c, "keypair", id, err)
	}
	a.audit(c, "keypair", id, nil)
	return c.JSON(http.StatusOK, map[string]string{"key_id": id, "public_key": crypto.EncodeBase64(pub), "algorithm": alg})
}
