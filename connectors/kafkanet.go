package connectors

// This file is duplicated in publishers/kafkanet.go (package name aside): publishers must
// not import connectors, and the shared part is too small for its own package.

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"os"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// CAFile is a PEM bundle for the broker certificates (empty: system roots).
	CAFile string `mapstructure:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS (both or neither).
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// ServerName overrides the name checked in the broker certificate.
	ServerName         string `mapstructure:"server_name"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// SASLConfig enables SASL authentication.
type SASLConfig struct {
	// Mechanism is "" (off), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `mapstructure:"mechanism"`
	User      string `mapstructure:"user"`
	Password  string `mapstructure:"password"`
}

func (t TLSConfig) validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return cfgErr("tls.cert_file", "cert_file and key_file must be set together")
	}
	return nil
}

func (s SASLConfig) validate() error {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if s.User == "" {
			return cfgErr("sasl.user", "empty")
		}
		return nil
	default:
		return cfgErr("sasl.mechanism", "unknown %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
	}
}

// applyNet sets sarama's TLS and SASL options.
func applyNet(c *sarama.Config, t TLSConfig, s SASLConfig) error {
	if t.Enabled {
		tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in by config
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return fmt.Errorf("read tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("tls.ca_file %s: no PEM certificates", t.CAFile)
			}
			tc.RootCAs = pool
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return fmt.Errorf("load tls client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	mech := strings.ToUpper(s.Mechanism)
	if mech == "" {
		return nil
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.User = s.User
	c.Net.SASL.Password = s.Password
	c.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
	switch mech {
	case sarama.SASLTypeSCRAMSHA256:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
	case sarama.SASLTypeSCRAMSHA512:
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
	}
	return nil
}

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
