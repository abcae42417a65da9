package publishers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"mfn/internal/cfgerr"
	"mfn/telemetry"
)

// WebhookConfig configures the webhook sink (`webhook:` of a sink in mfn.yaml).
//
// Each result is one POST of the JSON envelope with Content-Type: application/json,
// X-Request-ID, X-Correlation-ID (when set), Idempotency-Key (the same for every
// delivery of the same result, so receivers can drop retried duplicates) and, when
// Secret is set, X-MFN-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes,
// keyed with Secret>. 2xx is success; 408, 429, 5xx and network errors are retried
// (honouring Retry-After); any other status is a permanent failure (dead letter).
// Redirects are followed only for 307/308 (method and body kept); a 301/302/303 is a
// permanent failure, since following it would GET without the result.
type WebhookConfig struct {
	URL string `mapstructure:"url"`
	// Headers are added to every request; they cannot override the headers above.
	Headers map[string]string `mapstructure:"headers"`
	// Secret keys the HMAC signature; empty sends no signature.
	Secret string `mapstructure:"secret"`
	// Timeout per request. Default 10s.
	Timeout time.Duration `mapstructure:"timeout"`
}

// DefaultWebhookConfig returns the webhook sink's defaults: 10s per request; no URL.
func DefaultWebhookConfig() WebhookConfig { return WebhookConfig{Timeout: 10 * time.Second} }

// Validate checks the configuration; keys are relative to webhook.
func (c WebhookConfig) Validate() error {
	if c.URL == "" {
		return cfgerr.New("url", "empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfgerr.New("url", "%q is not an http(s) URL", c.URL)
	}
	if c.Timeout <= 0 {
		return cfgerr.New("timeout", "must be positive")
	}
	return nil
}

// Webhook is the HTTP sink; one Publish is one POST (retries are the Retry decorator's).
type Webhook struct {
	cfg    WebhookConfig
	log    *zap.Logger
	client *http.Client
}

// NewWebhook validates cfg.
func NewWebhook(cfg WebhookConfig, log *zap.Logger) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Webhook{cfg: cfg, log: log, client: &http.Client{Timeout: cfg.Timeout, CheckRedirect: checkRedirect}}, nil
}

// checkRedirect follows only 307/308, which repeat the POST with its body. net/http
// turns a POST into a body-less GET on 301/302/303, whose 2xx (say, a login page) would
// count as delivered; such a redirect is returned as is and fails as a 3xx status.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 || req.Response == nil {
		return http.ErrUseLastResponse
	}
	switch req.Response.StatusCode {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return nil
	}
	return http.ErrUseLastResponse
}

// Sign returns the X-MFN-Signature value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Publish POSTs rec.Body once.
func (w *Webhook) Publish(ctx context.Context, rec Record) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(rec.Body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook request: %w", err))
	}
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range rec.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mfn/"+Version)
	req.Header.Set("X-Request-ID", rec.RequestID)
	if rec.CorrelationID != "" {
		req.Header.Set("X-Correlation-ID", rec.CorrelationID)
	}
	if rec.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", rec.IdempotencyKey)
	}
	if w.cfg.Secret != "" {
		req.Header.Set("X-MFN-Signature", Sign(w.cfg.Secret, rec.Body))
	}
	telemetry.InjectHTTP(ctx, req.Header) // traceparent: the receiver continues the job's trace
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook POST %s: %w", w.cfg.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		err := fmt.Errorf("webhook POST %s: status %d", w.cfg.URL, code)
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return &RetryAfterError{Err: err, After: d}
		}
		return err
	default:
		return Permanent(fmt.Errorf("webhook POST %s: status %d", w.cfg.URL, code))
	}
}

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// Close releases idle connections.
func (w *Webhook) Close(context.Context) error {
	w.client.CloseIdleConnections()
	return nil
}
