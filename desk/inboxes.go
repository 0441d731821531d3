package desk

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Inbox is a channel the account talks to customers on.
type Inbox struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Channel   string          `json:"channel"`
	Settings  json.RawMessage `json:"settings,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	// InboundAddress is where Deskwoot receives an email inbox's mail, with
	// how to forward to it and the rotated-out addresses still accepted.
	// Shown to admins only, with the settings.
	InboundAddress           *string           `json:"inbound_address,omitempty"`
	ForwardingInstructions   string            `json:"forwarding_instructions,omitempty"`
	PreviousInboundAddresses []RetiringAddress `json:"previous_inbound_addresses,omitempty"`
	// PublicID and EmbedSnippet are a website inbox's widget (admins'
	// view); IdentitySecret is shown once, at creation and rotation.
	PublicID       string `json:"public_id,omitempty"`
	EmbedSnippet   string `json:"embed_snippet,omitempty"`
	IdentitySecret string `json:"identity_secret,omitempty"`
}

// InboxInput creates an inbox.
type InboxInput struct {
	Name     string
	Channel  string
	Settings map[string]any
}

func (in InboxInput) validate() error {
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		return invalid("name", "name must be 1 to 200 characters")
	}
	switch in.Channel {
	case "api":
		if u, ok := in.Settings["webhook_url"]; ok && u != nil {
			s, _ := u.(string)
			p, err := url.Parse(s)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return invalid("settings.webhook_url", "settings.webhook_url must be an http(s) URL")
			}
		}
	case "email":
	case "website":
		return websiteSettingsValidate(in.Settings)
	default:
		return invalid("channel", "channel must be api, email or website")
	}
	return channelSettingsValidate(in.Channel, in.Settings)
}

// InboxCreate adds an inbox, with the request's audit row; admins only
// (the caller checks the role).
func (d *Desk) InboxCreate(ctx context.Context, req *tenancy.Request, in InboxInput) (Inbox, error) {
	if err := in.validate(); err != nil {
		return Inbox{}, err
	}
	if _, ok := in.Settings["inbound_address"]; ok {
		return Inbox{}, d.errInboundAssigned(0, "")
	}
	if in.Settings == nil {
		in.Settings = map[string]any{}
	}
	var ib Inbox
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		if in.Channel == "website" {
			var err error
			if ib, err = d.websiteCreate(ctx, tx, req.AccountID, in); err == nil {
				req.Audit.Touched("inbox_id", ib.ID)
			}
			return err
		}
		var raw []byte
		err := tx.QueryRow(ctx, `INSERT INTO inboxes (account_id, name, channel, settings) VALUES ($1, $2, $3, $4)
			RETURNING id, name, channel, settings, created_at`, req.AccountID, in.Name, in.Channel, in.Settings).
			Scan(&ib.ID, &ib.Name, &ib.Channel, &raw, &ib.CreatedAt)
		if err != nil {
			return err
		}
		req.Audit.Touched("inbox_id", ib.ID)
		ib.Settings = redact(raw)
		return d.loadInbound(ctx, tx, []*Inbox{&ib}, d.now())
	})
	return ib, err
}

// InboxList lists the inboxes in scope. withSettings is for admins: channel
// settings are never shown to agents or tokens, and their secrets are
// shown to nobody.
func (d *Desk) InboxList(ctx context.Context, req *tenancy.Request, sc Scope, withSettings bool) ([]Inbox, error) {
	var out []Inbox
	b := &pgx.Batch{}
	b.Queue(`SELECT id, name, channel, CASE WHEN $2 THEN settings END, created_at, CASE WHEN $2 THEN public_id END FROM inboxes
		WHERE ($1::bigint[] IS NULL OR id = ANY($1)) ORDER BY id`, sc.InboxIDs, withSettings).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Inbox, error) {
				var ib Inbox
				var settings []byte
				var publicID *string
				err := r.Scan(&ib.ID, &ib.Name, &ib.Channel, &settings, &ib.CreatedAt, &publicID)
				ib.Settings = redact(settings)
				d.withWebsite(&ib, publicID)
				return ib, err
			})
			return err
		})
	var live []inboundRow
	if withSettings {
		b.Queue(inboundAddressesSQL, d.now()).Query(func(rows pgx.Rows) error {
			var err error
			live, err = scanInbound(rows)
			return err
		})
	}
	if err := d.DB.Read(ctx, req, b); err != nil {
		return nil, err
	}
	if withSettings {
		d.withInbound(out, live)
	}
	return out, nil
}

// InboxGet reads one inbox (without settings).
func (d *Desk) InboxGet(ctx context.Context, req *tenancy.Request, id int64) (Inbox, error) {
	var ib Inbox
	b := &pgx.Batch{}
	b.Queue(`SELECT id, name, channel, created_at FROM inboxes WHERE id = $1`, id).QueryRow(func(r pgx.Row) error {
		return r.Scan(&ib.ID, &ib.Name, &ib.Channel, &ib.CreatedAt)
	})
	if err := d.DB.Read(ctx, req, b); err != nil {
		return ib, withKind(err, "inbox", id)
	}
	return ib, nil
}

// InboxMemberAdd makes a user a member of an inbox (agents see the inboxes
// they are members of), with the request's audit row.
func (d *Desk) InboxMemberAdd(ctx context.Context, req *tenancy.Request, inboxID, userID int64) error {
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO inbox_members (account_id, inbox_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			req.AccountID, inboxID, userID)
		if err != nil {
			return named(err, "user_id", "inbox or user", inboxID)
		}
		req.Audit.Touched("inbox_id", inboxID)
		req.Audit.Touched("user_id", userID)
		return nil
	})
}

// MemberInboxIDs lists the inboxes a user is a member of (never nil, so an
// agent with no inboxes sees nothing rather than everything).
func (d *Desk) MemberInboxIDs(ctx context.Context, acct, userID int64) ([]int64, error) {
	ids := []int64{}
	b := &pgx.Batch{}
	b.Queue(`SELECT inbox_id FROM inbox_members WHERE user_id = $1 ORDER BY inbox_id`, userID).Query(func(rows pgx.Rows) error {
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if ids == nil {
			ids = []int64{}
		}
		return err
	})
	return ids, d.DB.Batch(ctx, acct, b)
}

// secretSettings are channel settings never shown back, only replaced.
var secretSettings = []string{"webhook_secret", "smtp_password"}

// redact hides secret values in settings JSON ("********" when set).
func redact(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	for _, k := range secretSettings {
		if v, ok := m[k]; ok && v != nil && v != "" {
			m[k] = "********"
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// InboxPatch changes an inbox; nil fields stay. Settings are merged into
// the current ones (a null value removes a key); admins only.
type InboxPatch struct {
	Name     *string
	Settings map[string]any
}

// InboxUpdate applies a patch after validating the merged settings for the
// inbox's channel, with the request's audit row.
func (d *Desk) InboxUpdate(ctx context.Context, req *tenancy.Request, id int64, p InboxPatch) (Inbox, error) {
	var ib Inbox
	req.Audit.Touched("inbox_id", id)
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		var current map[string]any
		var name string
		if err := tx.QueryRow(ctx, `SELECT name, channel, settings FROM inboxes WHERE id = $1 FOR UPDATE`, id).
			Scan(&name, &ib.Channel, &current); err != nil {
			return withKind(err, "inbox", id)
		}
		if _, ok := p.Settings["inbound_address"]; ok {
			current, err := d.currentInbound(ctx, tx, id)
			if err != nil {
				return err
			}
			return d.errInboundAssigned(id, current)
		}
		if p.Name != nil {
			name = *p.Name
		}
		merged := current
		if merged == nil {
			merged = map[string]any{}
		}
		for k, v := range p.Settings {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		if err := (InboxInput{Name: name, Channel: ib.Channel, Settings: merged}).validate(); err != nil {
			return err
		}
		var raw []byte
		var publicID *string
		err := tx.QueryRow(ctx, `UPDATE inboxes SET name = $2, settings = $3 WHERE id = $1
			RETURNING id, name, channel, settings, created_at, public_id`, id, name, merged).Scan(&ib.ID, &ib.Name, &ib.Channel, &raw, &ib.CreatedAt, &publicID)
		if err != nil {
			return mapErr(err)
		}
		ib.Settings = redact(raw)
		d.withWebsite(&ib, publicID)
		return d.loadInbound(ctx, tx, []*Inbox{&ib}, d.now())
	})
	return ib, err
}

// InboxMemberIDs lists the users who are members of an inbox.
func (d *Desk) InboxMemberIDs(ctx context.Context, acct, inboxID int64) ([]int64, error) {
	return collect(ctx, d.DB, tenancy.For(acct), pgx.RowTo[int64], `SELECT user_id FROM inbox_members WHERE inbox_id = $1 ORDER BY user_id`, inboxID)
}
