package desk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// DefaultInboundRotationGrace is how long a rotated-out inbound address
// keeps receiving mail (DESKWOOT_INBOUND_ROTATION_GRACE).
const DefaultInboundRotationGrace = 7 * 24 * time.Hour

// Receiving addresses of email inboxes are assigned by Deskwoot, never
// claimed: the database generates a random local part for every email inbox
// (migrations/0010_inbound_addresses.sql), and the address is that local
// part under the server's inbound domain (Desk.InboundDomain). The tenant's
// own mailbox forwards to it; replies still leave from the tenant's
// from_address through its SMTP relay.

// RetiringAddress is a rotated-out inbound address that still receives
// mail until AcceptedUntil.
type RetiringAddress struct {
	Address       string    `json:"address"`
	AcceptedUntil time.Time `json:"accepted_until"`
}

// inboundRow is one live row of the tenant's inbound addresses.
type inboundRow struct {
	inboxID   int64
	localPart string
	expiresAt *time.Time
}

func (d *Desk) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Desk) rotationGrace() time.Duration {
	if d.InboundRotationGrace > 0 {
		return d.InboundRotationGrace
	}
	return DefaultInboundRotationGrace
}

// inboundAddress is the full address of a local part, or "" when the server
// has no inbound domain configured.
func (d *Desk) inboundAddress(local string) string {
	if d.InboundDomain == "" {
		return ""
	}
	return local + "@" + strings.ToLower(d.InboundDomain)
}

const inboundAddressesSQL = `SELECT inbox_id, local_part, expires_at FROM deskwoot_inbound_addresses($1)`

func scanInbound(rows pgx.Rows) ([]inboundRow, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (inboundRow, error) {
		var x inboundRow
		return x, r.Scan(&x.inboxID, &x.localPart, &x.expiresAt)
	})
}

// withInbound fills the receiving address, the rotated-out addresses still
// in grace, and the forwarding instructions of the email inboxes in ibs
// (admins' view: the address lets anyone put mail into the inbox).
func (d *Desk) withInbound(ibs []Inbox, rows []inboundRow) {
	for i := range ibs {
		ib := &ibs[i]
		if ib.Channel != "email" {
			continue
		}
		current := ""
		for _, r := range rows {
			if r.inboxID != ib.ID {
				continue
			}
			if r.expiresAt == nil {
				current = d.inboundAddress(r.localPart)
			} else if a := d.inboundAddress(r.localPart); a != "" {
				ib.PreviousInboundAddresses = append(ib.PreviousInboundAddresses, RetiringAddress{Address: a, AcceptedUntil: r.expiresAt.UTC()})
			}
		}
		if current != "" {
			ib.InboundAddress = &current
		}
		ib.ForwardingInstructions = d.forwardingInstructions(*ib, current)
	}
}

// forwardingInstructions tells an admin how mail reaches the inbox.
func (d *Desk) forwardingInstructions(ib Inbox, address string) string {
	if address == "" {
		return "This server receives no mail yet: its operator sets DESKWOOT_INBOUND_DOMAIN (and DESKWOOT_SMTP_ADDR), then the inbox's receiving address appears here."
	}
	from := settingString(ib.Settings, "from_address")
	mailbox := "your support mailbox"
	if from != "" {
		mailbox = from
	}
	s := fmt.Sprintf("Deskwoot receives this inbox's mail at %s. In your mail provider, forward every message that arrives at %s to %s "+
		"(Gmail: Settings > Forwarding and POP/IMAP; Microsoft 365: a forwarding rule on the mailbox). "+
		"Forward or redirect, so the customer stays the sender; not \"forward as attachment\". "+
		"Customers keep writing to %s, and replies leave from it through your SMTP relay. "+
		"Keep this address private: anyone who knows it can put mail into the inbox; rotate it if it leaks.",
		address, mailbox, address, mailbox)
	for _, p := range ib.PreviousInboundAddresses {
		s += fmt.Sprintf(" The previous address %s is still accepted until %s; point your forwarding at the new one before then.",
			p.Address, p.AcceptedUntil.Format(time.RFC3339))
	}
	return s
}

func settingString(raw []byte, key string) string {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

// errInboundAssigned refuses a request that names an inbound address.
func (d *Desk) errInboundAssigned(id int64, current string) error {
	if current == "" {
		return invalid("settings.inbound_address", "the inbound address is assigned by Deskwoot; leave out inbound_address, then forward your mail to the receiving address shown in the inbox's settings")
	}
	return invalid("settings.inbound_address", "the inbound address is assigned by Deskwoot; forward your mail to %s (rotate it with POST /api/v1/inboxes/%d/inbound_address/rotate)", current, id)
}

// InboxInboundRotate gives an email inbox a new receiving address; the old
// one keeps receiving for the rotation grace period, then is refused at
// RCPT. It returns the inbox as admins see it. Admins only (the caller
// checks the role). The request's audit row commits with the rotation.
func (d *Desk) InboxInboundRotate(ctx context.Context, req *tenancy.Request, id int64) (Inbox, error) {
	now := d.now()
	var ib Inbox
	req.Audit.Touched("inbox_id", id)
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT id, name, channel, settings, created_at FROM inboxes WHERE id = $1 FOR UPDATE`, id).
			Scan(&ib.ID, &ib.Name, &ib.Channel, &raw, &ib.CreatedAt)
		if err != nil {
			return withKind(err, "inbox", id)
		}
		ib.Settings = redact(raw)
		if ib.Channel != "email" {
			return invalid("", "inbox %d is an %s inbox; only email inboxes have a receiving address", id, ib.Channel)
		}
		var local *string
		if err := tx.QueryRow(ctx, `SELECT deskwoot_inbound_address_rotate($1, $2, make_interval(secs => $3))`,
			id, now, d.rotationGrace().Seconds()).Scan(&local); err != nil {
			return mapErr(err)
		}
		if local == nil {
			return fmt.Errorf("inbox %d has no receiving address to rotate", id) // the trigger gives every email inbox one
		}
		return d.loadInbound(ctx, tx, []*Inbox{&ib}, now)
	})
	return ib, err
}

// loadInbound reads the tenant's live addresses and fills them into ibs.
func (d *Desk) loadInbound(ctx context.Context, tx pgx.Tx, ibs []*Inbox, now time.Time) error {
	rows, _ := tx.Query(ctx, inboundAddressesSQL, now)
	live, err := scanInbound(rows)
	if err != nil {
		return err
	}
	for _, ib := range ibs {
		one := []Inbox{*ib}
		d.withInbound(one, live)
		*ib = one[0]
	}
	return nil
}

// currentInbound is an inbox's current receiving address ("" when none, or
// no inbound domain is configured).
func (d *Desk) currentInbound(ctx context.Context, tx pgx.Tx, id int64) (string, error) {
	rows, _ := tx.Query(ctx, inboundAddressesSQL, d.now())
	live, err := scanInbound(rows)
	if err != nil {
		return "", err
	}
	for _, r := range live {
		if r.inboxID == id && r.expiresAt == nil {
			return d.inboundAddress(r.localPart), nil
		}
	}
	return "", nil
}

// EmailInbox routes a receiving address to its account and email inbox. It
// runs before the tenant is known, through a narrow SECURITY DEFINER
// function. An address outside the inbound domain, one no inbox has, or a
// rotated-out one past its grace period is ErrNotFound.
func (d *Desk) EmailInbox(ctx context.Context, address string) (acct, inboxID int64, err error) {
	address = strings.Trim(strings.TrimSpace(address), "<>")
	at := strings.LastIndexByte(address, '@')
	if d.InboundDomain == "" || at < 1 || !strings.EqualFold(address[at+1:], d.InboundDomain) {
		return 0, 0, fault.NotFoundf("no inbox receives mail for %s", address)
	}
	err = d.DB.Pool.QueryRow(ctx, `SELECT account_id, inbox_id FROM deskwoot_inbound_mailbox($1, $2)`, address[:at], d.now()).Scan(&acct, &inboxID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fault.NotFoundf("no inbox receives mail for %s", address)
	}
	return acct, inboxID, mapErr(err)
}
