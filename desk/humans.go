package desk

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/tenancy"
)

// What people alone may do (DESIGN §13): change a conversation's workflow
// fields, delete conversations and contacts, edit contacts and write notes
// on them. Both human doors (REST and the console) call these functions; no
// MCP tool reaches them. Each runs in one tenant transaction that checks
// the person's scope, writes the change and its event, and writes the
// audit row with the person as actor in one unit of work (unitofwork.go),
// so the action and its record commit or roll back together. The caller
// touches the audit sealer after commit.

// OptionalID is an id a change may leave alone (Set false), set (ID > 0)
// or clear (Set with ID 0).
type OptionalID struct {
	Set bool
	ID  int64
}

// HumanConversationPatch is what a person may change on a conversation at
// once: the workflow fields agents may change too, plus clearing the
// assignee or team.
type HumanConversationPatch struct {
	ConversationPatch
	Assignee OptionalID // a human user of the account
	Team     OptionalID
}

// lockConversation locks a conversation the scope may see and returns its
// inbox and contact; one outside the scope is not found.
func lockConversation(ctx context.Context, tx pgx.Tx, sc Scope, id int64) (inboxID, contactID int64, err error) {
	err = tx.QueryRow(ctx, `SELECT inbox_id, contact_id FROM conversations WHERE id = $1 FOR UPDATE`, id).Scan(&inboxID, &contactID)
	if err != nil {
		return 0, 0, withKind(err, "conversation", id)
	}
	if !sc.Allows(inboxID) {
		return 0, 0, notFound("conversation", id)
	}
	return inboxID, contactID, nil
}

// personWrite runs a person's action as a unit of work audited as action,
// with the person as actor; fn does it in u.tx and fills in the audit
// row's target and reasons (u.audit). A known person's unit holds their
// active membership (tenancy.ByMember); one who is not known yet (a link
// opened before sign-in) has none to hold.
func (d *Desk) personWrite(ctx context.Context, acct int64, by Author, action string, fn func(ctx context.Context, u *unit) error) error {
	req := tenancy.Recorded(acct, personEntry(by, action, nil))
	if by.UserID != 0 {
		req = tenancy.ByMember(acct, by.UserID, personEntry(by, action, nil))
	}
	_, err := d.unitOfWork(ctx, req, nil, nil, func() (effect, error) {
		return func(ctx context.Context, u *unit) (any, error) { return nil, fn(ctx, u) }, nil
	})
	return err
}

// personEntry is the audit row of a person's action.
func personEntry(by Author, action string, target map[string]int64) audit.Entry {
	return audit.Entry{ActorKind: "user", ActorID: by.UserID, Action: action, Decision: "allow", Target: target}
}

// ConversationChange applies a person's patch to a conversation in scope,
// with one conversation.updated event and one audit row
// (conversation.update).
func (d *Desk) ConversationChange(ctx context.Context, acct int64, sc Scope, id int64, p HumanConversationPatch, by Author, now time.Time) (Conversation, error) {
	if p.ConversationPatch.Empty() && !p.Assignee.Set && !p.Team.Set {
		return Conversation{}, invalid("", "nothing to change; give status, priority, assignee_id, team_id, add_labels or remove_labels")
	}
	if p.Assignee.ID < 0 || p.Team.ID < 0 {
		return Conversation{}, invalid("", "assignee_id and team_id are positive ids, or null to clear")
	}
	var c Conversation
	err := d.personWrite(ctx, acct, by, "conversation.update", func(ctx context.Context, u *unit) error {
		tx, e := u.tx, u.audit
		inboxID, _, err := lockConversation(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		changes := map[string]any{}
		if !p.ConversationPatch.Empty() {
			if changes, err = patchApply(ctx, tx, id, p.ConversationPatch, now); err != nil {
				return err
			}
		}
		if p.Assignee.Set || p.Team.Set {
			if err := assignOrClear(ctx, tx, id, p.Assignee, p.Team, changes); err != nil {
				return err
			}
		}
		if p.Assignee.Set && p.Assignee.ID != 0 {
			// A person took it: no longer waiting as escalated.
			if _, err := tx.Exec(ctx, `UPDATE conversations SET escalated = false WHERE id = $1`, id); err != nil {
				return err
			}
			if err := d.notifyAssigned(ctx, tx, acct, id, p.Assignee.ID, by); err != nil {
				return err
			}
		}
		if c, err = d.updated(ctx, tx, acct, id, changes); err != nil {
			return err
		}
		e.Target, e.Reasons = map[string]int64{"conversation_id": id, "inbox_id": inboxID}, changedKeys(changes)
		return nil
	})
	return c, err
}

// assignOrClear sets or clears the assignee and team. An assignee must be
// an active person of the account (not the agent's service account),
// whose membership the check holds until commit: an offboarding of them
// meanwhile waits, and then unassigns this conversation too. A team must
// exist. Either outside the account is not found.
func assignOrClear(ctx context.Context, tx pgx.Tx, id int64, assignee, team OptionalID, changes map[string]any) error {
	if assignee.ID != 0 {
		err := tx.QueryRow(ctx, `SELECT au.user_id FROM account_users au JOIN users u ON u.id = au.user_id
			WHERE au.user_id = $1 AND u.kind = 'human' AND au.status = 'active' FOR KEY SHARE OF au`, assignee.ID).Scan(&assignee.ID)
		if err != nil {
			return named(err, "assignee_id", "user", assignee.ID)
		}
	}
	if team.ID != 0 {
		if err := tx.QueryRow(ctx, `SELECT id FROM teams WHERE id = $1`, team.ID).Scan(&team.ID); err != nil {
			return named(err, "team_id", "team", team.ID)
		}
	}
	_, err := tx.Exec(ctx, `UPDATE conversations SET
			assignee_id = CASE WHEN $2 THEN nullif($3, 0) ELSE assignee_id END,
			team_id = CASE WHEN $4 THEN nullif($5, 0) ELSE team_id END,
			updated_at = now()
		WHERE id = $1`, id, assignee.Set, assignee.ID, team.Set, team.ID)
	if assignee.Set {
		changes["assignee_id"] = nullID(assignee.ID)
	}
	if team.Set {
		changes["team_id"] = nullID(team.ID)
	}
	return err
}

// changedKeys names what a change touched, sorted, for the audit row.
func changedKeys(changes map[string]any) []string {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, "changed="+k)
	}
	slices.Sort(keys)
	return keys
}

// ConversationDelete removes a conversation in scope with its messages and
// drafts, appends conversation.deleted and audits conversation.delete.
// Queued deliveries of its messages find nothing and stop.
func (d *Desk) ConversationDelete(ctx context.Context, acct int64, sc Scope, id int64, by Author) error {
	return d.personWrite(ctx, acct, by, "conversation.delete", func(ctx context.Context, u *unit) error {
		tx, e := u.tx, u.audit
		inboxID, contactID, err := lockConversation(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		n, err := conversationRemove(ctx, tx, acct, id, inboxID, contactID)
		if err != nil {
			return err
		}
		e.Target = map[string]int64{"conversation_id": id, "inbox_id": inboxID, "contact_id": contactID}
		e.Reasons = []string{"messages=" + strconv.FormatInt(n, 10)}
		return nil
	})
}

// conversationRemove deletes a locked conversation's drafts, messages and
// row, and appends conversation.deleted. It returns how many messages went.
func conversationRemove(ctx context.Context, tx pgx.Tx, acct, id, inboxID, contactID int64) (int64, error) {
	if _, err := tx.Exec(ctx, `DELETE FROM drafts WHERE conversation_id = $1`, id); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM messages WHERE conversation_id = $1`, id)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM conversations WHERE id = $1`, id); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), eventAppend(ctx, tx, acct, newEvent{typ: EventConversationDeleted, inboxID: inboxID,
		conversationID: id, contactID: contactID, data: map[string]any{"messages": tag.RowsAffected()}})
}

// SeesContact reports whether the scope includes a contact: every contact
// for an unrestricted scope, else one linked to a scoped inbox or created
// by the scope's token.
func (sc Scope) SeesContact(inboxIDs []int64, createdByToken int64) bool {
	if sc.InboxIDs == nil || (sc.TokenID != 0 && createdByToken == sc.TokenID) {
		return true
	}
	for _, id := range inboxIDs {
		if sc.Allows(id) {
			return true
		}
	}
	return false
}

// lockContact locks a contact the scope may see; one outside the scope is
// not found.
func lockContact(ctx context.Context, tx pgx.Tx, sc Scope, id int64) error {
	var inboxIDs []int64
	var created *int64
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT array_agg(ci.inbox_id) FROM contact_inboxes ci WHERE ci.contact_id = ct.id), '{}'),
			ct.created_by_token_id
		FROM contacts ct WHERE ct.id = $1 FOR UPDATE`, id).Scan(&inboxIDs, &created)
	if err != nil {
		return withKind(err, "contact", id)
	}
	var by int64
	if created != nil {
		by = *created
	}
	if !sc.SeesContact(inboxIDs, by) {
		return notFound("contact", id)
	}
	return nil
}

// ContactDeleted says what a contact's deletion removed.
type ContactDeleted struct {
	Conversations int `json:"conversations"`
}

// ContactDelete removes a contact and everything that is only about them:
// their conversations (each with its messages and drafts, and its own
// conversation.deleted event), outbound drafts addressed to them, their
// notes and inbox links. A conversation cannot outlive its contact (the
// foreign key), and a person asking to be forgotten expects their messages
// gone too. It appends contact.deleted and audits contact.delete.
func (d *Desk) ContactDelete(ctx context.Context, acct int64, sc Scope, id int64, by Author) (ContactDeleted, error) {
	var out ContactDeleted
	err := d.personWrite(ctx, acct, by, "contact.delete", func(ctx context.Context, u *unit) error {
		tx, e := u.tx, u.audit
		if err := lockContact(ctx, tx, sc, id); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT id, inbox_id FROM conversations WHERE contact_id = $1 ORDER BY id FOR UPDATE`, id)
		convs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ ID, InboxID int64 }])
		if err != nil {
			return err
		}
		for _, c := range convs {
			if _, err := conversationRemove(ctx, tx, acct, c.ID, c.InboxID, id); err != nil {
				return err
			}
		}
		out.Conversations = len(convs)
		for _, q := range []string{
			`DELETE FROM drafts WHERE contact_id = $1`,
			`DELETE FROM contact_notes WHERE contact_id = $1`,
			`DELETE FROM contact_inboxes WHERE contact_id = $1`,
			`DELETE FROM contacts WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		if err := eventAppend(ctx, tx, acct, newEvent{typ: EventContactDeleted, contactID: id,
			data: map[string]any{"conversations": len(convs)}}); err != nil {
			return err
		}
		e.Target, e.Reasons = map[string]int64{"contact_id": id}, []string{"conversations=" + strconv.Itoa(len(convs))}
		return nil
	})
	return out, err
}

// ContactChange applies a person's edit to a contact in scope (name,
// email, phone, custom attributes merged with null removing a key), with
// its contact.updated event and a contact.update audit row.
func (d *Desk) ContactChange(ctx context.Context, acct int64, sc Scope, id int64, in ContactInput, by Author) (Contact, error) {
	if in.Identifier != nil {
		return Contact{}, invalid("identifier", "identifier cannot be changed")
	}
	if in.Name == nil && in.Email == nil && in.Phone == nil && len(in.CustomAttributes) == 0 {
		return Contact{}, invalid("", "nothing to change; give name, email, phone or custom_attributes")
	}
	if in.Name != nil && strings.TrimSpace(*in.Name) == "" {
		return Contact{}, invalid("name", "name cannot be blank")
	}
	var c Contact
	err := d.personWrite(ctx, acct, by, "contact.update", func(ctx context.Context, u *unit) error {
		tx, e := u.tx, u.audit
		if err := lockContact(ctx, tx, sc, id); err != nil {
			return err
		}
		var err error
		if c, err = d.contactUpdate(ctx, tx, acct, ContactEdit{ContactID: id, Input: in}); err != nil {
			return err
		}
		c.InboxIDs = sc.visibleInboxes(c.InboxIDs)
		var reasons []string
		for name, v := range map[string]bool{"name": in.Name != nil, "email": in.Email != nil, "phone": in.Phone != nil,
			"custom_attributes": len(in.CustomAttributes) > 0} {
			if v {
				reasons = append(reasons, "changed="+name)
			}
		}
		slices.Sort(reasons)
		e.Target, e.Reasons = map[string]int64{"contact_id": id}, reasons
		return nil
	})
	return c, err
}

// ContactNoteAdd writes a person's note on a contact in scope and audits
// contact.note.
func (d *Desk) ContactNoteAdd(ctx context.Context, acct int64, sc Scope, id int64, content string, by Author) (ContactNote, error) {
	var n ContactNote
	err := d.personWrite(ctx, acct, by, "contact.note", func(ctx context.Context, u *unit) error {
		tx, e := u.tx, u.audit
		if err := lockContact(ctx, tx, sc, id); err != nil {
			return err
		}
		var err error
		if n, err = d.contactNoteCreate(ctx, tx, acct, ContactNoteNew{ContactID: id, Content: content, By: by}); err != nil {
			return err
		}
		e.Target = map[string]int64{"contact_id": id, "note_id": n.ID}
		return nil
	})
	return n, err
}

// ContactView reads a contact in scope with its notes and conversations in
// scope; one outside the scope is not found.
func (d *Desk) ContactView(ctx context.Context, acct int64, sc Scope, id int64) (ContactView, error) {
	v, err := d.ContactGet(ctx, tenancy.For(acct), sc, id)
	if err != nil {
		return v, err
	}
	if !sc.SeesContact(v.Contact.InboxIDs, 0) { // people have no token
		return ContactView{}, notFound("contact", id)
	}
	return v, nil
}

// PersonScope is what a person sees: admins every inbox, agents the
// inboxes they are members of (DESIGN §12).
func (d *Desk) PersonScope(ctx context.Context, acct, userID int64, role string) (Scope, error) {
	if role == "admin" {
		return Scope{}, nil
	}
	ids, err := d.MemberInboxIDs(ctx, acct, userID)
	return Scope{InboxIDs: ids}, err
}

// ConversationFor reads a conversation a person may see, with a page of its
// messages (oldest first); one outside their inboxes is not found.
func (d *Desk) ConversationFor(ctx context.Context, acct int64, sc Scope, id int64, msgCursor string, msgLimit int) (ConversationView, error) {
	v, err := d.conversationGet(ctx, tenancy.For(acct), id, msgCursor, msgLimit, nil)
	if err != nil {
		return v, err
	}
	if !sc.Allows(v.Conversation.InboxID) {
		return ConversationView{}, notFound("conversation", id)
	}
	return v, nil
}

// ThreadSide is what a person's thread page shows beside the conversation
// and its messages: the catalog its controls choose from, the
// conversation's AI drafts (oldest first) and the person's unread
// notifications (the bell).
type ThreadSide struct {
	Catalog Catalog
	Drafts  []ThreadDraft
	Unread  int
}

// Thread is ConversationFor for person userID's thread page: it reads the
// ThreadSide in the same round trip, so the page costs the database no
// more trips than REST's read of the conversation. A conversation outside
// scope sc is not found, and nothing read beside it is returned.
func (d *Desk) Thread(ctx context.Context, acct int64, sc Scope, userID, id int64, msgCursor string, msgLimit int) (ConversationView, ThreadSide, error) {
	var side ThreadSide
	v, err := d.conversationGet(ctx, tenancy.For(acct), id, msgCursor, msgLimit, func(b *pgx.Batch) {
		side.Catalog.queue(b, sc)
		b.Queue(threadDraftsSQL, id).Query(func(rows pgx.Rows) error {
			var err error
			side.Drafts, err = pgx.CollectRows(rows, scanThreadDraft)
			return err
		})
		queueUnread(b, userID, &side.Unread)
	})
	if err != nil {
		return ConversationView{}, ThreadSide{}, err
	}
	if !sc.Allows(v.Conversation.InboxID) {
		return ConversationView{}, ThreadSide{}, notFound("conversation", id)
	}
	return v, side, nil
}

// PersonMessage writes a person's reply (queued for delivery) or private
// note on a conversation in scope (one outside it is not found), with its
// audit row (message.reply or message.note) in the same unit of work.
func (d *Desk) PersonMessage(ctx context.Context, acct int64, sc Scope, id int64, content string, private bool, by Author) (Message, error) {
	action := "message.reply"
	if private {
		action = "message.note"
	}
	var m Message
	err := d.personWrite(ctx, acct, by, action, func(ctx context.Context, u *unit) error {
		if _, _, err := lockConversation(ctx, u.tx, sc, id); err != nil {
			return err
		}
		var err error
		m, err = d.messageAppend(ctx, u.tx, u, acct, MessageParams{ConversationID: id, Content: content, Private: private, By: by})
		u.audit.Target = map[string]int64{"conversation_id": id, "message_id": m.ID}
		if err != nil {
			return err
		}
		if !private {
			// A person answered: no longer waiting as escalated.
			_, err := u.tx.Exec(ctx, `UPDATE conversations SET escalated = false WHERE id = $1 AND escalated`, id)
			return err
		}
		return d.notifyMentions(ctx, u.tx, acct, id, content, by)
	})
	return m, err
}

// notifyMentions tells the people a private note names with @name.
func (d *Desk) notifyMentions(ctx context.Context, tx pgx.Tx, acct, convID int64, content string, by Author) error {
	users, err := mentioned(ctx, tx, content)
	if err != nil || len(users) == 0 {
		return err
	}
	var inboxID int64
	if err := tx.QueryRow(ctx, `SELECT inbox_id FROM conversations WHERE id = $1`, convID).Scan(&inboxID); err != nil {
		return withKind(err, "conversation", convID)
	}
	return d.notify(ctx, tx, acct, notice{kind: NotifyMentioned, inboxID: inboxID, convID: convID,
		to: audienceUsers, users: users, actor: by.UserID, actorWho: by.Name})
}

// Catalog is what a person's screens choose from: the inboxes in scope,
// labels, people (and the agent) and teams.
type Catalog struct {
	Inboxes []Inbox
	Labels  []Label
	People  []Agent
	Teams   []Team
	// Drafts counts the pending drafts in scope (the navigation shows it).
	Drafts int
}

// queue adds the catalog's reads to b (the caller's round trip).
func (k *Catalog) queue(b *pgx.Batch, sc Scope) {
	// Only the filters in use, as ConversationList; the pending drafts
	// are counted from drafts_pending_idx alone (0085).
	drafts, inboxes := where{}, where{}
	drafts.add("status = 'pending'")
	if sc.InboxIDs != nil {
		drafts.add("inbox_id = ANY(?)", sc.InboxIDs)
		inboxes.add("id = ANY(?)", sc.InboxIDs)
	}
	b.Queue(`SELECT count(*) FROM drafts `+drafts.sql(), drafts.args...).
		QueryRow(func(r pgx.Row) error { return r.Scan(&k.Drafts) })
	b.Queue(`SELECT id, name, channel, created_at FROM inboxes `+inboxes.sql()+` ORDER BY id`, inboxes.args...).
		Query(func(rows pgx.Rows) error {
			var err error
			k.Inboxes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Inbox, error) {
				var ib Inbox
				return ib, r.Scan(&ib.ID, &ib.Name, &ib.Channel, &ib.CreatedAt)
			})
			return err
		})
	b.Queue(labelListSQL).Query(func(rows pgx.Rows) error {
		var err error
		k.Labels, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Label])
		return err
	})
	b.Queue(agentListSQL).Query(func(rows pgx.Rows) error {
		var err error
		k.People, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Agent])
		return err
	})
	b.Queue(teamListSQL).Query(func(rows pgx.Rows) error {
		var err error
		k.Teams, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Team])
		return err
	})
}

// CatalogGet reads the catalog in scope in one round trip.
func (d *Desk) CatalogGet(ctx context.Context, acct int64, sc Scope) (Catalog, error) {
	var k Catalog
	b := &pgx.Batch{}
	k.queue(b, sc)
	return k, d.DB.Batch(ctx, acct, b)
}
