package kafkanet

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// scramClient is a SCRAM (RFC 5802/7677) client for sarama, which ships none; it is
// small enough to keep here rather than add a module.
type scramClient struct {
	hash       func() hash.Hash
	user, pass string
	nonce      string
	first      string // client-first-message-bare
	serverSig  []byte
	step       int
	done       bool
}

func (x *scramClient) Begin(user, password, _ string) error {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("scram nonce: %w", err)
	}
	x.user, x.pass, x.nonce = user, password, base64.RawStdEncoding.EncodeToString(b)
	x.step, x.done = 0, false
	return nil
}

func (x *scramClient) Step(challenge string) (string, error) {
	x.step++
	switch x.step {
	case 1:
		name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(x.user)
		x.first = "n=" + name + ",r=" + x.nonce
		return "n,," + x.first, nil
	case 2:
		attrs := scramAttrs(challenge)
		nonce, salt64, iters := attrs["r"], attrs["s"], attrs["i"]
		if !strings.HasPrefix(nonce, x.nonce) {
			return "", errors.New("scram: server nonce does not extend ours")
		}
		salt, err := base64.StdEncoding.DecodeString(salt64)
		if err != nil {
			return "", fmt.Errorf("scram salt: %w", err)
		}
		n, err := strconv.Atoi(iters)
		if err != nil || n < 1 {
			return "", fmt.Errorf("scram iteration count %q", iters)
		}
		salted, err := pbkdf2.Key(x.hash, x.pass, salt, n, x.hash().Size())
		if err != nil {
			return "", fmt.Errorf("scram pbkdf2: %w", err)
		}
		clientKey := scramHMAC(x.hash, salted, "Client Key")
		h := x.hash()
		h.Write(clientKey)
		storedKey := h.Sum(nil)
		final := "c=biws,r=" + nonce
		authMsg := x.first + "," + challenge + "," + final
		sig := scramHMAC(x.hash, storedKey, authMsg)
		proof := make([]byte, len(clientKey))
		for i := range clientKey {
			proof[i] = clientKey[i] ^ sig[i]
		}
		x.serverSig = scramHMAC(x.hash, scramHMAC(x.hash, salted, "Server Key"), authMsg)
		return final + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
	default:
		attrs := scramAttrs(challenge)
		if e := attrs["e"]; e != "" {
			return "", fmt.Errorf("scram: server error %q", e)
		}
		v, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || !hmac.Equal(v, x.serverSig) {
			return "", errors.New("scram: server signature mismatch")
		}
		x.done = true
		return "", nil
	}
}

func (x *scramClient) Done() bool { return x.done }

func scramHMAC(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func scramAttrs(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}
