// Package desk is the help-desk domain: inboxes, contacts, conversations,
// messages, labels, teams and help-center articles. Every function enters
// the tenant through tenancy: a door's call through the request it passes
// (tenancy.Request: Read for reads, a unit of work for changes, whose
// audit row commits with them), the rest through InTenant or Batch;
// nothing here knows HTTP or MCP.
package desk

import (
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Desk is the domain service over the tenant-fenced database.
type Desk struct {
	DB *tenancy.DB
	// EventRetention is how long events are kept (DefaultEventRetention when 0).
	EventRetention time.Duration
	// Hub wakes long-polls; nil polls without waiting for notifications.
	Hub *EventHub
	// Outbox enqueues the delivery of each outgoing message in the
	// transaction that stores it; nil stores messages without delivering.
	Outbox DeliveryQueue
	// Mail enqueues mail to people (invitations, password resets,
	// notifications) in the transaction that causes it; nil when no relay
	// is set (DESKWOOT_SMTP_RELAY_URL): links are then shown to the admin
	// once, and notifications stay in the app.
	Mail MailQueue
	// PublicURL is the base URL links in mail to people point at
	// (invitations, password resets, notifications).
	PublicURL string
	// InboundDomain is the domain of the receiving addresses Deskwoot
	// assigns to email inboxes (DESKWOOT_INBOUND_DOMAIN); empty receives
	// no mail.
	InboundDomain string
	// InboundRotationGrace is how long a rotated-out receiving address
	// still receives (DefaultInboundRotationGrace when 0).
	InboundRotationGrace time.Duration
	// Now is the clock of the inbound-address grace period (tests move
	// it); time.Now when nil.
	Now func() time.Time

	mu           sync.Mutex
	eventKey     []byte              // signs event cursors; read once
	widgetSecret []byte              // the server's widget key (website.go); read once
	pruned       map[int64]time.Time // when each account's events were last pruned
	polls        pollShare           // concurrent polls of one position share a read
}

// Re-exported sentinels, so callers of desk need not import tenancy to map errors.
var (
	ErrNotFound = tenancy.ErrNotFound
	ErrConflict = tenancy.ErrConflict
	ErrInvalid  = tenancy.ErrInvalid
	// ErrUnavailable: PostgreSQL is out of reach for a moment.
	ErrUnavailable = tenancy.ErrUnavailable
)

// invalid is bad input in field (the name callers send it by: "status",
// "settings.smtp_port"), or about the input as a whole when field is "";
// the sentence names the field too.
func invalid(field, format string, args ...any) error {
	return fault.Invalidf(field, format, args...)
}

func notFound(kind string, id int64) error {
	return fault.NotFoundf("%s %d not found", kind, id)
}

// Scope narrows what a caller sees: an MCP token's inbox list (nil = every
// inbox) and, for contacts, the token that may see contacts it created.
type Scope struct {
	InboxIDs []int64
	TokenID  int64
}

// Page bounds.
const (
	DefaultLimit = 25
	MaxLimit     = 100
)

// pageArgs checks a page's size and cursor.
func pageArgs(limit int, cursorStr string) (int, *cursor, error) {
	n, err := clampLimit(limit)
	if err != nil {
		return 0, nil, err
	}
	cur, err := parseCursor(cursorStr)
	return n, cur, err
}

func clampLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 1 || n > MaxLimit:
		return 0, invalid("limit", "limit must be 1 to %d", MaxLimit)
	}
	return n, nil
}

// A cursor is an opaque keyset position: a time and an id, base64url encoded
// with a version tag. Cursors carry no tenant data of their own: RLS still
// fences whatever they point at.
type cursor struct {
	at time.Time
	id int64
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte("c1:" + strconv.FormatInt(c.at.UnixMicro(), 10) + ":" + strconv.FormatInt(c.id, 10)))
}

func parseCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(raw), ":")
	if err != nil || len(parts) != 3 || parts[0] != "c1" {
		return nil, invalid("cursor", "cursor is not one this server issued; start again without a cursor")
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return nil, invalid("cursor", "cursor is not one this server issued; start again without a cursor")
	}
	return &cursor{at: time.UnixMicro(us).UTC(), id: id}, nil
}

// nextCursor returns the cursor after the last item when the page was full
// (one extra row was fetched), else nil.
func nextCursor(more bool, at time.Time, id int64) *string {
	if !more {
		return nil
	}
	s := cursor{at: at, id: id}.String()
	return &s
}

// withKind turns a bare not-found into one that names the object.
func withKind(err error, kind string, id int64) error {
	if err = mapErr(err); errors.Is(err, ErrNotFound) {
		return notFound(kind, id)
	}
	return err
}

// named is withKind for an object the input names in field (a user in
// assignee_id, a team in team_id): one that is not found is a fault of
// that field.
func named(err error, field, kind string, id int64) error {
	err = withKind(err, kind, id)
	if fe, ok := err.(*fault.Error); ok && fe.Kind == fault.NotFound {
		fe.Field = field
	}
	return err
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("", "%q is not an id", s)
	}
	return id, nil
}

// Allows reports whether the scope includes the inbox.
func (sc Scope) Allows(inboxID int64) bool {
	return sc.InboxIDs == nil || slices.Contains(sc.InboxIDs, inboxID)
}

// mapErr maps a database error (see tenancy.MapError); values name what
// the write sent, so a conflict can say what collided.
func mapErr(err error, values ...tenancy.Fields) error { return tenancy.MapError(err, values...) }
