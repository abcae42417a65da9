package kafkanet

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"mfn/internal/cfgerr"
)

// TLSConfig enables TLS to the brokers (`tls:` under a kafka source or sink).
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

// SASLConfig enables SASL authentication (`sasl:` under a kafka source or sink).
type SASLConfig struct {
	// Mechanism is "" (off), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (any case).
	Mechanism string `mapstructure:"mechanism"`
	User      string `mapstructure:"user"`
	Password  string `mapstructure:"password"`
}

// Validate checks t; the error names "tls.<key>". Files are read only by Apply.
func (t TLSConfig) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return cfgerr.New("tls.cert_file", "cert_file and key_file must be set together")
	}
	return nil
}

// Validate checks s; the error names "sasl.<key>".
func (s SASLConfig) Validate() error {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if s.User == "" {
			return cfgerr.New("sasl.user", "empty")
		}
		return nil
	default:
		return cfgerr.New("sasl.mechanism", "unknown %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
	}
}

// ValidateBrokers checks that the list is not empty and every entry is host:port;
// errors name "brokers" or "brokers[i]".
func ValidateBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return cfgerr.New("brokers", "empty")
	}
	for i, b := range brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return cfgerr.New(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b)
		}
	}
	return nil
}

// ParseVersion parses a broker protocol version that must be at least 0.11.0.0
// (record batches v2, idempotent producer); why says in the error what needs it.
// Errors name "version".
func ParseVersion(version, why string) (sarama.KafkaVersion, error) {
	v, err := sarama.ParseKafkaVersion(version)
	if err != nil {
		return v, cfgerr.New("version", "%v", err)
	}
	if !v.IsAtLeast(sarama.V0_11_0_0) {
		return v, cfgerr.New("version", "%s is older than 0.11.0.0 (%s)", version, why)
	}
	return v, nil
}

// NewSaramaConfig returns a sarama config with what sources and sinks share: protocol
// version, client id, short metadata retries and dial timeout (so an absent broker
// fails fast and the caller's own backoff takes over), TLS and SASL. The caller adds
// its consumer or producer settings and calls Validate on the result.
func NewSaramaConfig(clientID, version string, t TLSConfig, s SASLConfig) (*sarama.Config, error) {
	v, err := sarama.ParseKafkaVersion(version)
	if err != nil {
		return nil, err
	}
	sc := sarama.NewConfig()
	sc.Version = v
	sc.ClientID = clientID
	sc.Metadata.Retry.Max = 2
	sc.Metadata.Retry.Backoff = 200 * time.Millisecond
	sc.Net.DialTimeout = 5 * time.Second
	if err := Apply(sc, t, s); err != nil {
		return nil, err
	}
	return sc, nil
}

// Apply sets sarama's TLS and SASL options from t and s; it reads the certificate
// files named in t.
func Apply(c *sarama.Config, t TLSConfig, s SASLConfig) error {
	if t.Enabled {
		tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12} // #nosec G402 -- InsecureSkipVerify is an explicit opt-in by config
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
