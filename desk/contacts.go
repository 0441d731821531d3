package desk

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/tenancy"
)

// Contact is a customer.
type Contact struct {
	ID               int64          `json:"id"`
	Name             string         `json:"name"`
	Email            *string        `json:"email"`
	Phone            *string        `json:"phone"`
	Identifier       *string        `json:"identifier"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	InboxIDs         []int64        `json:"inbox_ids"`
	CreatedAt        time.Time      `json:"created_at"`
	UpdatedAt        time.Time      `json:"updated_at"`
	// Highlights, in search results, show where the contact matched.
	Highlights []Highlight `json:"highlights,omitempty"`
}

// ContactNote is an internal note on a contact.
type ContactNote struct {
	ID        int64     `json:"id"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// ContactView is a contact with its notes and the conversations in scope.
type ContactView struct {
	Contact       Contact               `json:"contact"`
	Notes         []ContactNote         `json:"notes"`
	Conversations []ConversationSummary `json:"conversations"`
}

const contactColumns = `ct.id, ct.name, ct.email, ct.phone, ct.identifier, ct.custom_attributes,
	coalesce((SELECT array_agg(ci.inbox_id ORDER BY ci.inbox_id) FROM contact_inboxes ci WHERE ci.contact_id = ct.id), '{}'),
	ct.created_at, ct.updated_at`

func scanContact(r pgx.CollectableRow) (Contact, error) {
	var c Contact
	err := r.Scan(&c.ID, &c.Name, &c.Email, &c.Phone, &c.Identifier, &c.CustomAttributes, &c.InboxIDs, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// ContactSearch finds the contacts in scope whose name, email, phone or
// identifier match the query (see search.go), by relevance then newest,
// with highlights: any contact for an unrestricted caller, else one linked
// to a scoped inbox or created by the caller's token.
func (d *Desk) ContactSearch(ctx context.Context, req *tenancy.Request, sc Scope, query, cursorStr string, limit int) ([]Contact, *string, error) {
	if query == "" {
		return nil, nil, invalid("query", "query must be 1 to %d characters", maxQueryChars)
	}
	return d.ContactList(ctx, req, sc, query, cursorStr, limit)
}

// ContactList pages the contacts in scope, newest first; a query makes it
// ContactSearch.
func (d *Desk) ContactList(ctx context.Context, req *tenancy.Request, sc Scope, query, cursorStr string, limit int) ([]Contact, *string, error) {
	if query != "" {
		return d.contactSearch(ctx, req, sc, query, cursorStr, limit)
	}
	limit, cur, err := pageArgs(limit, cursorStr)
	if err != nil {
		return nil, nil, err
	}
	var w where
	if sc.InboxIDs != nil {
		w.add(contactInScope, sc.InboxIDs, sc.TokenID)
	}
	if cur != nil {
		w.add("(ct.created_at, ct.id) < (?, ?)", cur.at, cur.id)
	}
	out, err := collect(ctx, d.DB, req, scanContact, `SELECT `+contactColumns+` FROM contacts ct `+w.sql()+`
		ORDER BY ct.created_at DESC, ct.id DESC LIMIT `+strconv.Itoa(limit+1), w.args...)
	if err != nil {
		return nil, nil, err
	}
	sc.showInboxes(out)
	return pageOf(out, limit, func(c Contact) (time.Time, int64) { return c.CreatedAt, c.ID })
}

// contactInScope is a restricted caller's contacts: linked to one of its
// inboxes or created by its token (two placeholders).
const contactInScope = `(EXISTS (SELECT 1 FROM contact_inboxes ci WHERE ci.contact_id = ct.id AND ci.inbox_id = ANY(?))
	OR ct.created_by_token_id = ?)`

func (d *Desk) contactSearch(ctx context.Context, req *tenancy.Request, sc Scope, query, cursorStr string, limit int) ([]Contact, *string, error) {
	sq, err := parseSearch(query)
	if err != nil {
		return nil, nil, err
	}
	if limit, err = clampLimit(limit); err != nil {
		return nil, nil, err
	}
	offset, err := parseSearchCursor(cursorStr)
	if err != nil {
		return nil, nil, err
	}
	w := searchWhere(sq, sc.InboxIDs)
	w.args = append(w.args, sc.TokenID) // $4
	if sc.InboxIDs != nil {
		w.add(contactInScope, sc.InboxIDs, sc.TokenID)
	}
	out, err := collect(ctx, d.DB, req, scanSearchContact, `WITH `+searchQuerySQL+`,
		hits AS (
			SELECT h.contact_id, h.score FROM q, deskwoot_search_contacts(q.qc, $3, $4, `+strconv.Itoa(searchHits)+`) h
		), page AS (
			SELECT ct.id, ct.created_at, h.score
			FROM hits h CROSS JOIN LATERAL (SELECT ct.id, ct.created_at, ct.created_by_token_id FROM contacts ct WHERE ct.id = h.contact_id OFFSET 0) ct
			`+w.sql()+`
			ORDER BY h.score DESC, ct.created_at DESC, ct.id DESC
			OFFSET `+strconv.Itoa(offset)+` LIMIT `+strconv.Itoa(limit+1)+`
		)
		SELECT `+contactColumns+`,
			`+headline("'simple'", "ct.name", "q.qc", headlineAll)+`,
			`+headline("'simple'", "coalesce(ct.email, '')", "q.qc", headlineAll)+`
		FROM page p JOIN contacts ct ON ct.id = p.id, q
		ORDER BY p.score DESC, p.created_at DESC, p.id DESC`, w.args...)
	if err != nil {
		return nil, nil, err
	}
	sc.showInboxes(out)
	page, next := searchPage(out, offset, limit)
	return page, next, nil
}

// scanSearchContact reads a contact and its marked name and email.
func scanSearchContact(r pgx.CollectableRow) (Contact, error) {
	var c Contact
	var name, email *string
	err := r.Scan(&c.ID, &c.Name, &c.Email, &c.Phone, &c.Identifier, &c.CustomAttributes, &c.InboxIDs, &c.CreatedAt, &c.UpdatedAt, &name, &email)
	for _, f := range []struct {
		field  string
		marked *string
	}{{"name", name}, {"email", email}} {
		if h, ok := markedHighlight(f.field, f.marked); ok {
			c.Highlights = append(c.Highlights, h)
		}
	}
	return c, err
}

// ContactTarget is what the policy needs to know about a contact.
type ContactTarget struct {
	ID               int64
	InboxIDs         []int64
	CreatedByTokenID int64
}

// queue adds the read of contact id's target to b.
func (t *ContactTarget) queue(b *pgx.Batch, id int64) {
	b.Queue(contactTargetSQL, id).QueryRow(func(r pgx.Row) error {
		return r.Scan(&t.ID, &t.InboxIDs, &t.CreatedByTokenID)
	})
}

const contactTargetSQL = `SELECT ct.id, coalesce((SELECT array_agg(inbox_id) FROM contact_inboxes ci WHERE ci.contact_id = ct.id), '{}'),
		coalesce(ct.created_by_token_id, 0)
	FROM contacts ct WHERE ct.id = $1`

// ContactGet reads a contact, its notes, and its conversations in scope.
func (d *Desk) ContactGet(ctx context.Context, req *tenancy.Request, sc Scope, id int64) (ContactView, error) {
	var v ContactView
	b := &pgx.Batch{}
	v.queue(b, sc, id)
	err := d.DB.Read(ctx, req, b)
	v.Contact.InboxIDs = sc.visibleInboxes(v.Contact.InboxIDs)
	return v, withKind(err, "contact", id)
}

// ContactWithTarget reads a contact as ContactGet does and, in the same
// round trip, its target (what the policy decides on): a door that decides on the
// target answers with the view, or not at all.
func (d *Desk) ContactWithTarget(ctx context.Context, req *tenancy.Request, sc Scope, id int64) (ContactTarget, ContactView, error) {
	var t ContactTarget
	var v ContactView
	b := &pgx.Batch{}
	t.queue(b, id)
	v.queue(b, sc, id)
	err := withKind(d.DB.Read(ctx, req, b), "contact", id)
	v.Contact.InboxIDs = sc.visibleInboxes(v.Contact.InboxIDs)
	return t, v, err
}

// queue adds the reads of ContactGet to b.
func (v *ContactView) queue(b *pgx.Batch, sc Scope, id int64) {
	b.Queue(`SELECT `+contactColumns+` FROM contacts ct WHERE ct.id = $1`, id).Query(func(rows pgx.Rows) error {
		var err error
		v.Contact, err = pgx.CollectExactlyOneRow(rows, scanContact)
		return err
	})
	b.Queue(`SELECT id, content, created_at FROM contact_notes WHERE contact_id = $1 ORDER BY id DESC LIMIT 50`, id).
		Query(func(rows pgx.Rows) error {
			var err error
			v.Notes, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ContactNote])
			return err
		})
	b.Queue(`SELECT `+summaryColumns+`
		FROM conversations c JOIN contacts ct ON ct.account_id = c.account_id AND ct.id = c.contact_id
		WHERE c.contact_id = $1 AND ($2::bigint[] IS NULL OR c.inbox_id = ANY($2))
		ORDER BY c.last_activity_at DESC LIMIT 50`, id, sc.InboxIDs).Query(func(rows pgx.Rows) error {
		var err error
		v.Conversations, err = pgx.CollectRows(rows, scanSummary)
		return err
	})
}

// showInboxes keeps in each contact's inbox_ids only the scope's inboxes
// (visibleInboxes).
func (sc Scope) showInboxes(cs []Contact) {
	for i := range cs {
		cs[i].InboxIDs = sc.visibleInboxes(cs[i].InboxIDs)
	}
}

// visibleInboxes is the part of a contact's inbox ids that the scope
// includes: a caller limited to some inboxes (a restricted token, an
// agent) does not learn which other inboxes the contact writes to. Never
// nil, so that it reads as [] in JSON.
func (sc Scope) visibleInboxes(ids []int64) []int64 {
	if sc.InboxIDs == nil {
		return ids
	}
	out := []int64{}
	for _, id := range ids {
		if sc.Allows(id) {
			out = append(out, id)
		}
	}
	return out
}
