// Package devreceiver is the customer's end of the demo's api inbox under
// `deskwoot dev`: it takes the inbox's signed webhook deliveries at
// /dev/webhook, checks each signature, and lists what arrived at
// /dev/inbox-receiver, so a newcomer sees replies (theirs and the agent's)
// reach the customer instead of waiting for a webhook that does not exist.
// Only `deskwoot dev` mounts it; `deskwoot serve` never does.
package devreceiver

import (
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/outbox"
)

// Paths the receiver answers on.
const (
	WebhookPath = "/dev/webhook"
	PagePath    = "/dev/inbox-receiver"
)

// Keep is how many deliveries the receiver remembers, newest first.
const Keep = 200

// maxAge is how far a delivery's timestamp may be from now: a receiver
// refuses replays of old signed requests (outbox.VerifySignature's advice).
const maxAge = 5 * time.Minute

// Delivery is one message as the customer's side received it.
type Delivery struct {
	ReceivedAt     time.Time `json:"received_at"`
	IdempotencyKey string    `json:"idempotency_key"`
	MessageID      int64     `json:"message_id"`
	ConversationID int64     `json:"conversation_id"`
	Contact        string    `json:"contact"`
	Sender         string    `json:"sender"`
	SenderKind     string    `json:"sender_kind"` // user (a person) or agent (an MCP token)
	Content        string    `json:"content"`
	// Attempts counts deliveries with this key: the outbox retries with the
	// same key, and a receiver acts on it once.
	Attempts int `json:"attempts"`
}

// Receiver records the deliveries whose signature verifies with Secret.
// It is safe for concurrent use.
type Receiver struct {
	secret string
	now    func() time.Time

	mu   sync.Mutex
	list []Delivery // newest first, at most Keep
}

// New returns a receiver for deliveries signed with secret (the inbox's
// webhook_secret).
func New(secret string) *Receiver {
	return &Receiver{secret: secret, now: time.Now}
}

// Mount answers the receiver's two paths and hands everything else to next.
func (rc *Receiver) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case WebhookPath:
			rc.webhook(w, r)
		case PagePath:
			rc.page(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// Deliveries returns what arrived, newest first.
func (rc *Receiver) Deliveries() []Delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Delivery(nil), rc.list...)
}

// webhook takes one delivery: 204 when recorded, 401 when the signature
// or timestamp does not check (the outbox records that as a failed
// delivery, with this answer as its error, so nothing stays pending).
func (rc *Receiver) webhook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a Deskwoot webhook delivery here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "the body is over 1 MB or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	ts := r.Header.Get(outbox.HeaderTimestamp)
	if err := outbox.VerifySignature(rc.secret, ts, body, r.Header.Get(outbox.HeaderSignature)); err != nil {
		http.Error(w, "X-Deskwoot-Signature does not match this inbox's webhook_secret", http.StatusUnauthorized)
		return
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || rc.now().Sub(time.Unix(sec, 0)).Abs() > maxAge {
		http.Error(w, "X-Deskwoot-Timestamp is more than 5 minutes from now; a replayed delivery is refused", http.StatusUnauthorized)
		return
	}
	var p outbox.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil || p.Event != "message.created" {
		http.Error(w, "the body is not a message.created delivery", http.StatusBadRequest)
		return
	}
	rc.record(Delivery{
		ReceivedAt: rc.now(), IdempotencyKey: r.Header.Get(outbox.HeaderIdempotencyKey),
		MessageID: p.Message.ID, ConversationID: p.Conversation.ID, Contact: p.Contact.Name,
		Sender: p.Message.Sender.Name, SenderKind: p.Message.Sender.Kind, Content: p.Message.Content,
	})
	w.WriteHeader(http.StatusNoContent)
}

// record keeps d, or counts a repeat of a key already kept.
func (rc *Receiver) record(d Delivery) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range rc.list {
		if d.IdempotencyKey != "" && rc.list[i].IdempotencyKey == d.IdempotencyKey {
			rc.list[i].Attempts++
			return
		}
	}
	d.Attempts = 1
	rc.list = append([]Delivery{d}, rc.list...)
	if len(rc.list) > Keep {
		rc.list = rc.list[:Keep]
	}
}

//go:embed page.html
var pageFS embed.FS

var pageTmpl = template.Must(template.ParseFS(pageFS, "page.html"))

// page lists the deliveries: HTML, or JSON with ?format=json.
func (rc *Receiver) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET this page", http.StatusMethodNotAllowed)
		return
	}
	list := rc.Deliveries()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"deliveries": list})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// An error here is the client gone mid-page; there is no one to tell.
	_ = pageTmpl.Execute(w, map[string]any{"Deliveries": list, "Webhook": WebhookPath})
}
