package devreceiver

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/outbox"
)

const secret = "s3cret"

// deliver POSTs a delivery of content as the outbox signs it, with the
// signing secret and timestamp given.
func deliver(t *testing.T, h http.Handler, key, content, signWith string, at time.Time) int {
	t.Helper()
	body, _ := json.Marshal(outbox.WebhookPayload{Event: "message.created",
		Message:      desk.Message{ID: 7, ConversationID: 3, Type: "outgoing", Content: content, Sender: desk.Sender{Kind: "agent", Name: "triage-bot"}},
		Conversation: desk.Conversation{ID: 3}, Contact: desk.Contact{Name: "Pat Lee"}})
	ts := strconv.FormatInt(at.Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader(string(body)))
	req.Header.Set(outbox.HeaderIdempotencyKey, key)
	req.Header.Set(outbox.HeaderTimestamp, ts)
	req.Header.Set(outbox.HeaderSignature, outbox.Sign(signWith, ts, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestSignedDeliveryIsShownOnce(t *testing.T) {
	rc := New(secret)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console") })
	h := rc.Mount(next)

	if c := deliver(t, h, "deskwoot-message-7", "Refunded <b>twice</b>", secret, time.Now()); c != http.StatusNoContent {
		t.Fatalf("a signed delivery got %d, want 204", c)
	}
	// The outbox's retry carries the same key: counted, not listed twice.
	if c := deliver(t, h, "deskwoot-message-7", "Refunded <b>twice</b>", secret, time.Now()); c != http.StatusNoContent {
		t.Fatalf("a retried delivery got %d, want 204", c)
	}
	ds := rc.Deliveries()
	if len(ds) != 1 || ds[0].Attempts != 2 || ds[0].ConversationID != 3 || ds[0].Contact != "Pat Lee" ||
		ds[0].Sender != "triage-bot" || ds[0].SenderKind != "agent" || ds[0].Content != "Refunded <b>twice</b>" {
		t.Fatalf("deliveries = %+v", ds)
	}

	page := get(h, PagePath)
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(body, "Refunded &lt;b&gt;twice&lt;/b&gt;") || !strings.Contains(body, `href="/conversations/3"`) ||
		!strings.Contains(body, "Pat Lee") || !strings.Contains(body, "received 2 times") {
		t.Fatalf("page %d:\n%s", page.Code, body)
	}
	var js struct{ Deliveries []Delivery }
	if rec := get(h, PagePath+"?format=json"); json.Unmarshal(rec.Body.Bytes(), &js) != nil || len(js.Deliveries) != 1 {
		t.Fatalf("JSON page: %s", rec.Body)
	}
	if rec := get(h, "/conversations"); rec.Body.String() != "console" {
		t.Fatalf("other paths must reach the console, got %q", rec.Body)
	}
}

func TestUnsignedOrStaleDeliveryIsRefused(t *testing.T) {
	rc := New(secret)
	h := rc.Mount(http.NotFoundHandler())
	for name, c := range map[string]int{
		"wrong secret": deliver(t, h, "k1", "hi", "another secret", time.Now()),
		"stale":        deliver(t, h, "k2", "hi", secret, time.Now().Add(-10*time.Minute)),
	} {
		if c != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", name, c)
		}
	}
	if rec := get(h, WebhookPath); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET %s: %d, want 405", WebhookPath, rec.Code)
	}
	if ds := rc.Deliveries(); len(ds) != 0 {
		t.Fatalf("refused deliveries were kept: %+v", ds)
	}
	if body := get(h, PagePath).Body.String(); !strings.Contains(body, "Nothing received yet") {
		t.Fatalf("empty page:\n%s", body)
	}
}
