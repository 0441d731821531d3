package outbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/egress"
)

// Webhook headers.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderTimestamp      = "X-Deskwoot-Timestamp"
	HeaderSignature      = "X-Deskwoot-Signature"
)

// WebhookPayload is the JSON body POSTed to an api inbox's webhook_url.
type WebhookPayload struct {
	Event        string            `json:"event"` // message.created
	Message      desk.Message      `json:"message"`
	Conversation desk.Conversation `json:"conversation"`
	Contact      desk.Contact      `json:"contact"`
}

// IdempotencyKey is the stable key of a message's delivery: the same on
// every retry and after a crash, so a receiver can drop repeats. It is
// made of the message id, which the payload carries anyway; nothing threads
// by it (unlike an email Message-ID), so it need not be secret.
func IdempotencyKey(messageID int64) string {
	return "deskwoot-message-" + strconv.FormatInt(messageID, 10)
}

// Sign is the X-Deskwoot-Signature value: "sha256=" and the hex HMAC-SHA256
// of "timestamp.body" keyed with the inbox's webhook_secret.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned by VerifySignature.
var ErrBadSignature = errors.New("webhook signature does not match")

// VerifySignature checks a delivery's X-Deskwoot-Signature header against
// the shared secret, the X-Deskwoot-Timestamp header and the raw body, in
// constant time. Receivers should also reject timestamps far from now
// (say five minutes) to refuse replays of old requests.
func VerifySignature(secret, timestamp string, body []byte, header string) error {
	if secret == "" || timestamp == "" || !strings.HasPrefix(header, "sha256=") {
		return fmt.Errorf("%w: need a secret, a timestamp and a sha256= signature", ErrBadSignature)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(header)) {
		return ErrBadSignature
	}
	return nil
}

// postWebhook delivers to an api inbox's webhook. 2xx is delivered; a 4xx
// other than 408 and 429 is permanent; everything else is retried.
func (o *Outbox) postWebhook(ctx context.Context, dl desk.Delivery) error {
	if dl.Webhook.URL == "" {
		return permanent("api inbox %q has no webhook_url; an admin sets one in the inbox settings to deliver replies", dl.InboxName)
	}
	body, err := json.Marshal(WebhookPayload{Event: "message.created", Message: dl.Message, Conversation: dl.Conversation, Contact: dl.Contact})
	if err != nil {
		return permanent("encode webhook body: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return permanent("webhook_url %q: %v", dl.Webhook.URL, err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Deskwoot-Webhook/1")
	req.Header.Set(HeaderIdempotencyKey, IdempotencyKey(dl.Message.ID))
	req.Header.Set(HeaderTimestamp, ts)
	if dl.Webhook.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(dl.Webhook.Secret, ts, body))
	}
	resp, err := o.cfg.HTTPClient.Do(req)
	var de *egress.DialError
	if errors.As(err, &de) {
		return connectError{what: "the webhook", addr: de.Addr, fix: "check webhook_url", err: de}
	}
	if err != nil {
		return fmt.Errorf("webhook POST: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return permanent("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	default:
		return fmt.Errorf("webhook answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
}
