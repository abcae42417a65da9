package kafkanet

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"mfn/internal/cfgerr"
)

// rfcServerFirst is the server-first-message of RFC 7677 §3.
const rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"

// rfcClient is a SCRAM-SHA-256 client with the RFC 7677 §3 nonce that has sent its
// client-first-message.
func rfcClient(t *testing.T) *scramClient {
	t.Helper()
	c := &scramClient{hash: sha256.New}
	require.NoError(t, c.Begin("user", "pencil", ""))
	c.nonce = "rOprNGfwEbeRWgbNEkqO"
	first, err := c.Step("")
	require.NoError(t, err)
	require.Equal(t, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", first)
	return c
}

// TestSCRAMClientRFC7677 replays the SCRAM-SHA-256 example of RFC 7677 §3.
func TestSCRAMClientRFC7677(t *testing.T) {
	c := rfcClient(t)
	final, err := c.Step(rfcServerFirst)
	require.NoError(t, err)
	require.Equal(t, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", final)
	_, err = c.Step("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.NoError(t, err)
	require.True(t, c.Done())
}

// TestSCRAMClientRejectsBadServer checks that a wrong server signature or a nonce that
// does not extend ours fails the exchange.
func TestSCRAMClientRejectsBadServer(t *testing.T) {
	c := rfcClient(t)
	_, err := c.Step(rfcServerFirst)
	require.NoError(t, err)
	_, err = c.Step("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
	require.ErrorContains(t, err, "signature mismatch")
	require.False(t, c.Done())

	require.NoError(t, c.Begin("user", "pencil", ""))
	_, err = c.Step("")
	require.NoError(t, err)
	_, err = c.Step("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	require.ErrorContains(t, err, "nonce")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"tls half cert", TLSConfig{CertFile: "c.pem"}.Validate(), "tls.cert_file: "},
		{"tls ok", TLSConfig{Enabled: true, CertFile: "c.pem", KeyFile: "k.pem"}.Validate(), ""},
		{"sasl unknown", SASLConfig{Mechanism: "GSSAPI"}.Validate(), `sasl.mechanism: unknown "GSSAPI"`},
		{"sasl no user", SASLConfig{Mechanism: "plain"}.Validate(), "sasl.user: empty"},
		{"sasl off", SASLConfig{}.Validate(), ""},
		{"sasl scram", SASLConfig{Mechanism: "scram-sha-512", User: "u"}.Validate(), ""},
		{"brokers empty", ValidateBrokers(nil), "brokers: empty"},
		{"broker form", ValidateBrokers([]string{"a:1", "nohost"}), `brokers[1]: "nohost" is not host:port`},
		{"brokers ok", ValidateBrokers([]string{"a:1", "[::1]:9092"}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				require.NoError(t, tc.err)
				return
			}
			require.ErrorContains(t, tc.err, tc.want)
			require.ErrorContains(t, cfgerr.Prefix("source.kafka.", tc.err), "source.kafka."+tc.want)
		})
	}
}

func TestParseVersion(t *testing.T) {
	v, err := ParseVersion("2.1.0", "x")
	require.NoError(t, err)
	require.Equal(t, sarama.V2_1_0_0, v)
	_, err = ParseVersion("0.10.2.0", "idempotence needs it")
	require.EqualError(t, err, "version: 0.10.2.0 is older than 0.11.0.0 (idempotence needs it)")
	_, err = ParseVersion("banana", "x")
	var ce *cfgerr.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "version", ce.Key)
}

func TestNewSaramaConfig(t *testing.T) {
	sc, err := NewSaramaConfig("cid", "2.1.0", TLSConfig{}, SASLConfig{})
	require.NoError(t, err)
	require.Equal(t, "cid", sc.ClientID)
	require.Equal(t, sarama.V2_1_0_0, sc.Version)
	require.False(t, sc.Net.TLS.Enable)
	require.False(t, sc.Net.SASL.Enable)

	sc, err = NewSaramaConfig("cid", "2.1.0", TLSConfig{Enabled: true, ServerName: "kafka.local"},
		SASLConfig{Mechanism: "scram-sha-256", User: "u", Password: "p"})
	require.NoError(t, err)
	require.True(t, sc.Net.TLS.Enable)
	require.Equal(t, "kafka.local", sc.Net.TLS.Config.ServerName)
	require.True(t, sc.Net.SASL.Enable)
	require.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA256), sc.Net.SASL.Mechanism)
	require.Equal(t, "u", sc.Net.SASL.User)
	cl, ok := sc.Net.SASL.SCRAMClientGeneratorFunc().(*scramClient)
	require.True(t, ok)
	require.Equal(t, sha256.Size, cl.hash().Size())
	require.NoError(t, sc.Validate())

	_, err = NewSaramaConfig("cid", "nope", TLSConfig{}, SASLConfig{})
	require.Error(t, err)
}

func TestApplyTLSFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not pem"), 0o600))
	err := Apply(sarama.NewConfig(), TLSConfig{Enabled: true, CAFile: bad}, SASLConfig{})
	require.ErrorContains(t, err, "no PEM certificates")
	err = Apply(sarama.NewConfig(), TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")}, SASLConfig{})
	require.ErrorIs(t, err, os.ErrNotExist)
	err = Apply(sarama.NewConfig(), TLSConfig{Enabled: true, CertFile: bad, KeyFile: bad}, SASLConfig{})
	require.ErrorContains(t, err, "client certificate")
}
