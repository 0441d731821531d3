package desk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The visitors of a website inbox (package widget is their door). A
// visitor is a contact of the inbox, known to its browser by a visitor
// token this package signs: the token names the account, the inbox and
// the contact, so a visitor reaches exactly its own conversations in that
// inbox and nothing else, and requests never name a conversation.

// WidgetInbox is a website inbox as its widget sees it.
type WidgetInbox struct {
	AccountID int64
	InboxID   int64
	PublicID  string
	Name      string
	Settings  WebsiteSettings
	// IdentityVersion names the inbox's current identity secret (a
	// fingerprint of its sealed copy): identified visitors' tokens carry
	// it, so rotating the secret ends them.
	IdentityVersion string
}

// Visitor is who a valid visitor token names.
type Visitor struct {
	AccountID  int64
	InboxID    int64
	ContactID  int64
	Identified bool
	// IdentityVersion is the identity secret an identified visitor was
	// verified with (WidgetInbox.IdentityVersion then).
	IdentityVersion string
}

// identityVersion fingerprints a sealed identity secret.
func identityVersion(sealed []byte) string {
	if len(sealed) == 0 {
		return ""
	}
	sum := sha256.Sum256(sealed)
	return hex.EncodeToString(sum[:6])
}

// errNoWidget is the answer for a public id no website inbox has.
func errNoWidget() error {
	return fault.NotFoundf("no chat widget has this id; copy the embed snippet again from the inbox's settings")
}

// WidgetInboxGet routes a snippet's public id to its website inbox (a
// pre-tenant look-up, then the inbox's settings under its tenant).
func (d *Desk) WidgetInboxGet(ctx context.Context, publicID string) (WidgetInbox, error) {
	wi := WidgetInbox{PublicID: publicID}
	if !strings.HasPrefix(publicID, "wi_") || len(publicID) > 64 || input.Text("inbox", publicID, 64) != nil {
		return wi, errNoWidget()
	}
	err := d.DB.Pool.QueryRow(ctx, `SELECT account_id, inbox_id FROM deskwoot_widget_inbox($1)`, publicID).Scan(&wi.AccountID, &wi.InboxID)
	if errors.Is(err, pgx.ErrNoRows) {
		return wi, errNoWidget()
	}
	if err != nil {
		return wi, mapErr(err)
	}
	var raw []byte
	b := &pgx.Batch{}
	var sealed []byte
	b.Queue(`SELECT name, settings, identity_secret FROM inboxes WHERE id = $1 AND channel = 'website'`, wi.InboxID).QueryRow(func(r pgx.Row) error {
		return r.Scan(&wi.Name, &raw, &sealed)
	})
	if err := d.DB.Batch(ctx, wi.AccountID, b); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return wi, errNoWidget()
		}
		return wi, mapErr(err)
	}
	wi.IdentityVersion = identityVersion(sealed)
	if err := json.Unmarshal(raw, &wi.Settings); err != nil {
		return wi, fmt.Errorf("website inbox %d has malformed settings: %w", wi.InboxID, err)
	}
	return wi, nil
}

// VisitorTokenTTL is how long a visitor token lasts; the widget gets a
// fresh one whenever it starts.
const VisitorTokenTTL = 30 * 24 * time.Hour

// visitorTokenKey signs visitor tokens.
func (d *Desk) visitorTokenKey(ctx context.Context) ([]byte, error) {
	key, err := d.widgetKey(ctx)
	if err != nil {
		return nil, err
	}
	return subKey(key, "visitor-token-v1"), nil
}

// VisitorTokenIssue signs a token for v that expires at exp:
// "v1.<base64url of acct:inbox:contact:identified:exp>.<base64url of its
// HMAC-SHA256>".
func (d *Desk) VisitorTokenIssue(ctx context.Context, v Visitor, exp time.Time) (string, error) {
	key, err := d.visitorTokenKey(ctx)
	if err != nil {
		return "", err
	}
	ident := "0"
	if v.Identified {
		ident = "1." + v.IdentityVersion
	}
	body := fmt.Sprintf("%d:%d:%d:%s:%d", v.AccountID, v.InboxID, v.ContactID, ident, exp.Unix())
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(body))
	return "v1." + base64.RawURLEncoding.EncodeToString([]byte(body)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}

// VisitorTokenOpen checks a visitor token for the widget wi at now: a
// token that is malformed, forged, expired or made for another inbox is
// fault.Unauthenticated, and says what the widget does about it.
func (d *Desk) VisitorTokenOpen(ctx context.Context, wi WidgetInbox, token string, now time.Time) (Visitor, error) {
	bad := fault.New(fault.Unauthenticated, "", "visitor token is not valid for this chat; start a new chat without it")
	key, err := d.visitorTokenKey(ctx)
	if err != nil {
		return Visitor{}, err
	}
	parts := strings.Split(token, ".")
	if len(token) > 300 || len(parts) != 3 || parts[0] != "v1" {
		return Visitor{}, bad
	}
	body, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	sum, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		return Visitor{}, bad
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return Visitor{}, bad
	}
	f := strings.Split(string(body), ":")
	if len(f) != 5 {
		return Visitor{}, bad
	}
	var v Visitor
	var exp int64
	v.AccountID, err1 = strconv.ParseInt(f[0], 10, 64)
	v.InboxID, err2 = strconv.ParseInt(f[1], 10, 64)
	contact, err3 := strconv.ParseInt(f[2], 10, 64)
	exp, err4 := strconv.ParseInt(f[4], 10, 64)
	if errors.Join(err1, err2, err3, err4) != nil || v.AccountID != wi.AccountID || v.InboxID != wi.InboxID || contact <= 0 {
		return Visitor{}, bad
	}
	if now.Unix() >= exp {
		return Visitor{}, fault.New(fault.Unauthenticated, "", "visitor token expired; start a new chat")
	}
	v.ContactID = contact
	if version, ok := strings.CutPrefix(f[3], "1."); ok {
		if version != wi.IdentityVersion {
			return Visitor{}, fault.New(fault.Unauthenticated, "", "the site's identity secret changed since this visitor was identified; open the chat again")
		}
		v.Identified, v.IdentityVersion = true, version
	} else if f[3] != "0" {
		return Visitor{}, bad
	}
	return v, nil
}

// Identity is what a site says of its signed-in user
// (window.deskwootSettings); UserHash is hex HMAC-SHA256(identity secret,
// UserID).
type Identity struct {
	UserID, Email, Name, UserHash string
}

func (id Identity) validate() error {
	if err := input.Required("user_id", id.UserID, input.MaxName); err != nil {
		return err
	}
	if id.Email != "" {
		if err := input.Email("email", id.Email); err != nil {
			return err
		}
	}
	if err := input.Text("name", id.Name, input.MaxName); err != nil {
		return err
	}
	return input.Required("user_hash", id.UserHash, 128)
}

// errWrongHash refuses an identity whose hash does not verify.
func errWrongHash() error {
	return fault.New(fault.Forbidden, "user_hash", "user_hash does not match user_id: compute it on your server as the hex HMAC-SHA256 of user_id with the inbox's identity secret (rotated secrets stop verifying at once)")
}

// WidgetIdentify checks a site's identity of its user and makes the
// visitor that contact: found by user_id (the contact's identifier), or
// created with it. Nothing is written unless the hash verifies. The email
// a site passes is stored only on a new contact, and only when no other
// contact has it: the hash vouches for user_id alone, so an email must
// never lead to another contact's conversations.
func (d *Desk) WidgetIdentify(ctx context.Context, wi WidgetInbox, id Identity) (Visitor, error) {
	if err := id.validate(); err != nil {
		return Visitor{}, err
	}
	v := Visitor{AccountID: wi.AccountID, InboxID: wi.InboxID, Identified: true}
	attempt := func() (Visitor, error) {
		err := d.DB.InTenant(ctx, wi.AccountID, func(tx pgx.Tx) error {
			var sealed []byte
			if err := tx.QueryRow(ctx, `SELECT identity_secret FROM inboxes WHERE id = $1 AND channel = 'website'`, wi.InboxID).Scan(&sealed); err != nil {
				return withKind(err, "inbox", wi.InboxID)
			}
			if len(sealed) == 0 {
				return fault.New(fault.Forbidden, "user_hash", "this chat has no identity secret to check user_hash with; an admin rotates one in the inbox's settings")
			}
			secret, err := d.openIdentitySecret(ctx, wi.AccountID, wi.PublicID, sealed)
			if err != nil {
				return err
			}
			v.IdentityVersion = identityVersion(sealed)
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte(id.UserID))
			got, err := hex.DecodeString(strings.ToLower(id.UserHash))
			if err != nil || !hmac.Equal(mac.Sum(nil), got) {
				return errWrongHash()
			}
			err = tx.QueryRow(ctx, `SELECT id FROM contacts WHERE identifier = $1 FOR UPDATE`, id.UserID).Scan(&v.ContactID)
			if errors.Is(err, pgx.ErrNoRows) {
				name := id.Name
				if strings.TrimSpace(name) == "" {
					name = "Website visitor"
				}
				err = tx.QueryRow(ctx, `INSERT INTO contacts (account_id, name, email, identifier)
					SELECT $1, $2, CASE WHEN $3 = '' OR EXISTS (SELECT 1 FROM contacts WHERE lower(email) = lower($3)) THEN NULL ELSE $3 END, $4
					ON CONFLICT DO NOTHING RETURNING id`, wi.AccountID, name, id.Email, id.UserID).Scan(&v.ContactID)
				if errors.Is(err, pgx.ErrNoRows) {
					return errRaced
				}
				if err == nil {
					err = eventAppend(ctx, tx, wi.AccountID, newEvent{typ: EventContactCreated, inboxID: wi.InboxID, contactID: v.ContactID})
				}
			}
			if err != nil {
				return err
			}
			// The email the site gives is where unseen replies go, unless
			// the visitor already chose an address.
			_, err = tx.Exec(ctx, `INSERT INTO contact_inboxes (account_id, contact_id, inbox_id, notify_email) VALUES ($1, $2, $3, nullif($4, ''))
				ON CONFLICT (account_id, contact_id, inbox_id) DO UPDATE SET notify_email = EXCLUDED.notify_email
				WHERE contact_inboxes.notify_email IS NULL AND EXCLUDED.notify_email IS NOT NULL`,
				wi.AccountID, v.ContactID, wi.InboxID, id.Email)
			return err
		})
		return v, mapErr(err)
	}
	return retryRaced(ctx, attempt)
}

// WidgetMessage is a message as the widget shows it: the visitor's own
// (from "visitor") and the replies (from "agent", a person or an AI
// agent). Notes never appear.
type WidgetMessage struct {
	ID        int64     `json:"id"`
	From      string    `json:"from"`
	Author    string    `json:"author"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// WidgetMessageCreate records a visitor's message as an incoming message
// of the website inbox, through the path every channel's incoming
// messages take (events, live console, poll_events). A visitor without a
// contact yet (ContactID 0, an anonymous first message) gets one in the
// same transaction; the returned visitor names it.
func (d *Desk) WidgetMessageCreate(ctx context.Context, v Visitor, content string) (Visitor, WidgetMessage, error) {
	if err := input.Required("content", content, MaxContent); err != nil {
		return v, WidgetMessage{}, err
	}
	var m WidgetMessage
	err := d.DB.InTenant(ctx, v.AccountID, func(tx pgx.Tx) error {
		if err := requireChannel(ctx, tx, v.InboxID, "website"); err != nil {
			return err
		}
		if v.ContactID == 0 {
			if err := tx.QueryRow(ctx, `INSERT INTO contacts (account_id, name) VALUES ($1, 'Website visitor') RETURNING id`, v.AccountID).Scan(&v.ContactID); err != nil {
				return err
			}
			if err := eventAppend(ctx, tx, v.AccountID, newEvent{typ: EventContactCreated, inboxID: v.InboxID, contactID: v.ContactID}); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO contact_inboxes (account_id, contact_id, inbox_id) VALUES ($1, $2, $3)`,
				v.AccountID, v.ContactID, v.InboxID); err != nil {
				return err
			}
		} else {
			// The visitor's contact, linked to this inbox, locked so that
			// two first messages cannot start two conversations. A contact
			// deleted since the token was issued is the visitor's no more.
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM contacts c JOIN contact_inboxes ci ON ci.account_id = c.account_id AND ci.contact_id = c.id
				WHERE c.id = $1 AND ci.inbox_id = $2 FOR UPDATE OF c`, v.ContactID, v.InboxID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return fault.New(fault.Unauthenticated, "", "this chat's visitor no longer exists; start a new chat")
			}
			if err != nil {
				return err
			}
		}
		res := IncomingResult{ContactID: v.ContactID}
		if err := appendIncoming(ctx, tx, v.AccountID, v.InboxID, content, "", &res); err != nil {
			return err
		}
		m = WidgetMessage{ID: res.MessageID, From: "visitor", Content: content}
		return tx.QueryRow(ctx, `SELECT created_at FROM messages WHERE id = $1`, res.MessageID).Scan(&m.CreatedAt)
	})
	return v, m, mapErr(err)
}

// widgetMessagesSQL reads the visitor's messages in the inbox: what the
// visitor wrote and the replies, never notes or activity.
const widgetMessagesSQL = `SELECT m.id, CASE WHEN m.type = 'incoming' THEN 'visitor' ELSE 'agent' END,
		CASE WHEN m.type = 'incoming' THEN '' ELSE m.sender_name END, m.content, m.created_at
	FROM messages m JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id
	WHERE c.contact_id = $1 AND c.inbox_id = $2 AND m.type IN ('incoming', 'outgoing') AND NOT m.private`

// WidgetHistory is the visitor's latest messages (at most 100), oldest
// first.
func (d *Desk) WidgetHistory(ctx context.Context, v Visitor) ([]WidgetMessage, error) {
	var out []WidgetMessage
	b := &pgx.Batch{}
	b.Queue(`SELECT * FROM (`+widgetMessagesSQL+` ORDER BY m.id DESC LIMIT 100) x ORDER BY 1`, v.ContactID, v.InboxID).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[WidgetMessage])
			return err
		})
	if err := d.DB.Batch(ctx, v.AccountID, b); err != nil {
		return nil, mapErr(err)
	}
	return nonNil(out), nil
}

// LateCommitWindow is how far back WidgetNews looks for replies that
// committed after a later id: ids are drawn before commit, so two replies
// committing at once can land out of order, but within moments.
const LateCommitWindow = time.Minute

// WidgetNews is what an open widget has not been sent yet: the visitor's
// messages after afterID, and the replies of the last minute not yet shown
// (delivered) and not among have (the ids the stream already sent), which
// catches one with a smaller id that committed after the stream moved past
// it. However many replies wait unseen (a widget whose panel is closed
// acknowledges none), a new one is always among the news.
func (d *Desk) WidgetNews(ctx context.Context, v Visitor, afterID int64, have []int64) ([]WidgetMessage, error) {
	if have == nil {
		have = []int64{}
	}
	var out []WidgetMessage
	b := &pgx.Batch{}
	b.Queue(widgetMessagesSQL+` AND (m.id > $3 OR (m.type = 'outgoing' AND m.delivery_status IN ('pending', 'sent')
			AND m.created_at > now() - make_interval(secs => $4) AND m.id <> ALL ($5)))
		ORDER BY m.id LIMIT 100`, v.ContactID, v.InboxID, afterID, LateCommitWindow.Seconds(), have).
		Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[WidgetMessage])
			return err
		})
	if err := d.DB.Batch(ctx, v.AccountID, b); err != nil {
		return nil, mapErr(err)
	}
	return nonNil(out), nil
}

// WidgetSeen marks replies the widget has shown as delivered. Every id
// must be a reply in the visitor's own conversations of the inbox, else
// nothing changes and the answer is not found.
func (d *Desk) WidgetSeen(ctx context.Context, v Visitor, ids []int64) error {
	if len(ids) == 0 || len(ids) > 100 {
		return invalid("message_ids", "message_ids lists 1 to 100 message ids")
	}
	return mapErr(d.DB.InTenant(ctx, v.AccountID, func(tx pgx.Tx) error {
		var mine int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id
			WHERE m.id = ANY($1) AND c.contact_id = $2 AND c.inbox_id = $3 AND m.type = 'outgoing' AND NOT m.private`,
			ids, v.ContactID, v.InboxID).Scan(&mine)
		if err != nil {
			return err
		}
		if mine != len(uniqueIDs(ids)) {
			return fault.NotFoundf("a message in message_ids is not a reply in this chat")
		}
		_, err = tx.Exec(ctx, `UPDATE messages SET delivery_status = 'delivered', delivery_error = NULL
			WHERE id = ANY($1) AND delivery_status IN ('pending', 'sent', 'emailed')`, ids)
		return err
	}))
}

func uniqueIDs(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// WidgetNotifyEmail keeps the address the visitor wants unseen replies
// mailed to (for this inbox). It is the visitor's word, so it stays beside
// the contact's link to the inbox and never becomes the contact's email.
func (d *Desk) WidgetNotifyEmail(ctx context.Context, v Visitor, email string) error {
	if err := input.Email("email", email); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE contact_inboxes SET notify_email = $3 WHERE contact_id = $1 AND inbox_id = $2`, v.ContactID, v.InboxID, email).
		Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return fault.New(fault.Unauthenticated, "", "this chat's visitor no longer exists; start a new chat")
			}
			return nil
		})
	return mapErr(d.DB.Batch(ctx, v.AccountID, b))
}

// UnseenReplyAfter is how long a reply may stay unseen in the widget
// before it is mailed to the visitor's address.
const UnseenReplyAfter = 10 * time.Minute

// WidgetUnseenMail mails a website reply the widget has not shown to the
// address its visitor left in the widget (or the site gave with its
// identity), and marks it emailed; the mail goes out as
// mail to people (package mailout) through the operator's relay. A reply
// already shown, or whose visitor left no address, is left alone; without
// a relay the message records that email is not configured.
func (d *Desk) WidgetUnseenMail(ctx context.Context, acct, messageID int64) error {
	return mapErr(d.DB.InTenant(ctx, acct, func(tx pgx.Tx) error {
		var status, content, inboxName, author string
		var to *string
		err := tx.QueryRow(ctx, `SELECT m.delivery_status, m.content, i.name, m.sender_name, ci.notify_email
			FROM messages m
			JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id
			JOIN inboxes i ON i.account_id = m.account_id AND i.id = m.inbox_id
			LEFT JOIN contact_inboxes ci ON ci.account_id = c.account_id AND ci.contact_id = c.contact_id AND ci.inbox_id = c.inbox_id
			WHERE m.id = $1 AND m.type = 'outgoing' AND i.channel = 'website' FOR UPDATE OF m`, messageID).
			Scan(&status, &content, &inboxName, &author, &to)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // gone, or not a website reply
		}
		if err != nil || status != DeliverySent || to == nil {
			return err
		}
		if d.Mail == nil {
			_, err := tx.Exec(ctx, `UPDATE messages SET delivery_error = $2 WHERE id = $1`, messageID,
				"not seen in the chat widget within 10 minutes; email is not configured on this server (DESKWOOT_SMTP_RELAY_URL), so it was not mailed")
			return err
		}
		body := fmt.Sprintf("%s replied to your chat on %s:\n\n%s\n\nReply by opening the chat on the site again.\n", author, inboxName, content)
		if _, err := d.mailWrite(ctx, tx, tx, acct, MailNew{Kind: "widget_reply", To: *to, Subject: "New reply from " + inboxName, Body: body}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE messages SET delivery_status = 'emailed' WHERE id = $1`, messageID)
		return err
	}))
}

// WidgetArticleSearch finds the inbox's workspace's published articles for
// the widget, with the one search engine (ArticleSearch).
func (d *Desk) WidgetArticleSearch(ctx context.Context, wi WidgetInbox, query string) ([]Article, error) {
	return d.ArticleSearch(ctx, tenancy.For(wi.AccountID), query, 10)
}

// WidgetArticle reads one published article of the inbox's workspace.
func (d *Desk) WidgetArticle(ctx context.Context, wi WidgetInbox, id int64) (Article, error) {
	return d.ArticleGet(ctx, tenancy.For(wi.AccountID), id, true)
}

// VisitorRef names a visitor of a website inbox.
type VisitorRef struct{ ContactID, InboxID int64 }

// WidgetActiveVisitors lists the visitors of the account's website inboxes
// that have messages (theirs or replies, never notes) with an id above
// afterID, and the account's highest message id (afterID when none is
// higher): one read that tells an account's waiting widget streams which
// of them have news (package widget).
func (d *Desk) WidgetActiveVisitors(ctx context.Context, acct, afterID int64) (map[VisitorRef]bool, int64, error) {
	active := map[VisitorRef]bool{}
	top := afterID
	b := &pgx.Batch{}
	b.Queue(`SELECT DISTINCT c.contact_id, c.inbox_id
		FROM messages m JOIN conversations c ON c.account_id = m.account_id AND c.id = m.conversation_id
		WHERE m.id > $1 AND m.type IN ('incoming', 'outgoing') AND NOT m.private
			AND m.inbox_id IN (SELECT id FROM inboxes WHERE channel = 'website')`, afterID).
		Query(func(rows pgx.Rows) error {
			var ref VisitorRef
			_, err := pgx.ForEachRow(rows, []any{&ref.ContactID, &ref.InboxID}, func() error {
				active[ref] = true
				return nil
			})
			return err
		})
	b.Queue(`SELECT coalesce(max(id), $1) FROM messages WHERE id > $1`, afterID).QueryRow(func(r pgx.Row) error { return r.Scan(&top) })
	if err := d.DB.Batch(ctx, acct, b); err != nil {
		return nil, afterID, mapErr(err)
	}
	return active, top, nil
}

// WidgetTopMessage is the account's highest message id: where a feed of
// its widget streams starts.
func (d *Desk) WidgetTopMessage(ctx context.Context, acct int64) (int64, error) {
	var top int64
	b := &pgx.Batch{}
	b.Queue(`SELECT coalesce(max(id), 0) FROM messages`).QueryRow(func(r pgx.Row) error { return r.Scan(&top) })
	if err := d.DB.Batch(ctx, acct, b); err != nil {
		return 0, mapErr(err)
	}
	return top, nil
}
