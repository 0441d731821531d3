package desk

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/tenancy"
)

// The functions here run inside the caller's transaction (a unit of work,
// see unitofwork.go, puts the idempotency claim, the effect and the audit
// row in one), so they take a pgx.Tx rather than entering the tenant
// themselves.

// ConversationRead reads a conversation inside tx.
func ConversationRead(ctx context.Context, tx pgx.Tx, id int64) (Conversation, error) {
	var c Conversation
	err := scanConversation(tx.QueryRow(ctx, conversationSelect, id), &c)
	return c, withKind(err, "conversation", id)
}

var priorities = []string{"none", "low", "medium", "high", "urgent"}

// ConversationPatch changes a conversation; nil fields stay as they are.
type ConversationPatch struct {
	Status           *string
	Priority         *string
	AddLabels        []string
	RemoveLabels     []string
	CustomAttributes map[string]any // merged into the existing attributes; a null value removes a key
	SnoozedUntil     *time.Time
}

// ConversationUpdate applies a patch. Labels must exist in the account;
// snoozing needs a time in the future.
func (d *Desk) ConversationUpdate(ctx context.Context, tx pgx.Tx, acct, id int64, p ConversationPatch, now time.Time) (Conversation, error) {
	changes, err := patchApply(ctx, tx, id, p, now)
	if err != nil {
		return Conversation{}, err
	}
	return d.updated(ctx, tx, acct, id, changes)
}

// Empty reports whether the patch changes nothing.
func (p ConversationPatch) Empty() bool {
	return p.Status == nil && p.Priority == nil && len(p.AddLabels) == 0 && len(p.RemoveLabels) == 0 &&
		len(p.CustomAttributes) == 0 && p.SnoozedUntil == nil
}

// patchApply checks and writes a patch inside tx and returns what changed,
// for the caller's conversation.updated event.
func patchApply(ctx context.Context, tx pgx.Tx, id int64, p ConversationPatch, now time.Time) (map[string]any, error) {
	if p.Status != nil && !slices.Contains(statuses, *p.Status) {
		return nil, invalid("status", "status must be one of open, pending, resolved, snoozed")
	}
	if p.Priority != nil && !slices.Contains(priorities, *p.Priority) {
		return nil, invalid("priority", "priority must be one of none, low, medium, high, urgent")
	}
	if p.SnoozedUntil != nil && !p.SnoozedUntil.After(now) {
		return nil, invalid("snoozed_until", "snoozed_until must be in the future")
	}
	if p.Status != nil && *p.Status == "snoozed" && p.SnoozedUntil == nil {
		return nil, invalid("snoozed_until", "status snoozed needs snoozed_until, a time in the future")
	}
	if p.SnoozedUntil != nil && p.Status != nil && *p.Status != "snoozed" {
		return nil, invalid("snoozed_until", "snoozed_until goes with status snoozed")
	}
	labels := append(slices.Clone(p.AddLabels), p.RemoveLabels...)
	if len(labels) > 0 {
		var missing []string
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(l), '{}') FROM unnest($1::text[]) l
			WHERE NOT EXISTS (SELECT 1 FROM labels WHERE name = l)`, labels).Scan(&missing); err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			field := "remove_labels"
			if slices.Contains(p.AddLabels, missing[0]) {
				field = "add_labels"
			}
			return nil, invalid(field, "label %q does not exist; see list_labels", missing[0])
		}
	}
	status := p.Status
	if p.SnoozedUntil != nil {
		s := "snoozed"
		status = &s
	}
	if err := input.Attributes("custom_attributes", p.CustomAttributes); err != nil {
		return nil, err
	}
	attrs := p.CustomAttributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	tag, err := tx.Exec(ctx, `UPDATE conversations SET
			status = coalesce($2, status),
			priority = coalesce($3, priority),
			labels = ARRAY(SELECT DISTINCT l FROM unnest(labels || $4::text[]) l WHERE l <> ALL ($5::text[]) ORDER BY l),
			custom_attributes = jsonb_strip_nulls(custom_attributes || $6::jsonb),
			snoozed_until = CASE WHEN coalesce($2, status) = 'snoozed' THEN coalesce($7, snoozed_until) END,
			updated_at = now()
		WHERE id = $1`, id, status, p.Priority, nonNilStrings(p.AddLabels), nonNilStrings(p.RemoveLabels), attrs, p.SnoozedUntil)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, notFound("conversation", id)
	}
	changes := map[string]any{}
	if status != nil {
		changes["status"] = *status
	}
	if p.Priority != nil {
		changes["priority"] = *p.Priority
	}
	if len(p.AddLabels) > 0 {
		changes["labels_added"] = p.AddLabels
	}
	if len(p.RemoveLabels) > 0 {
		changes["labels_removed"] = p.RemoveLabels
	}
	if len(p.CustomAttributes) > 0 {
		changes["custom_attributes"] = p.CustomAttributes
	}
	if p.SnoozedUntil != nil {
		changes["snoozed_until"] = p.SnoozedUntil
	}
	return changes, nil
}

// updated reads the conversation after a change and appends its
// conversation.updated event naming what changed.
func (d *Desk) updated(ctx context.Context, tx pgx.Tx, acct, id int64, changes map[string]any) (Conversation, error) {
	c, err := ConversationRead(ctx, tx, id)
	if err != nil {
		return c, err
	}
	return c, conversationEvent(ctx, tx, acct, EventConversationUpdated, c, changes)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ConversationAssign sets the assignee and/or team. A zero id leaves that
// side as it is; the assignee must be a member, the team must exist.
func (d *Desk) ConversationAssign(ctx context.Context, tx pgx.Tx, acct int64, a Assignment) (Conversation, error) {
	id, assigneeID, teamID := a.ConversationID, a.AssigneeID, a.TeamID
	if assigneeID == 0 && teamID == 0 {
		return Conversation{}, invalid("", "give assignee_id, team_id or both")
	}
	if assigneeID != 0 {
		if err := tx.QueryRow(ctx, `SELECT user_id FROM account_users WHERE user_id = $1 AND status = 'active' FOR KEY SHARE`, assigneeID).Scan(&assigneeID); err != nil {
			return Conversation{}, named(err, "assignee_id", "user", assigneeID)
		}
	}
	if teamID != 0 {
		if err := tx.QueryRow(ctx, `SELECT id FROM teams WHERE id = $1`, teamID).Scan(&teamID); err != nil {
			return Conversation{}, named(err, "team_id", "team", teamID)
		}
	}
	tag, err := tx.Exec(ctx, `UPDATE conversations SET
			assignee_id = CASE WHEN $2::bigint = 0 THEN assignee_id ELSE $2 END,
			team_id = CASE WHEN $3::bigint = 0 THEN team_id ELSE $3 END,
			updated_at = now()
		WHERE id = $1`, id, assigneeID, teamID)
	if err != nil {
		return Conversation{}, err
	}
	if tag.RowsAffected() == 0 {
		return Conversation{}, notFound("conversation", id)
	}
	changes := map[string]any{}
	if assigneeID != 0 {
		changes["assignee_id"] = assigneeID
	}
	if teamID != 0 {
		changes["team_id"] = teamID
	}
	c, err := d.updated(ctx, tx, acct, id, changes)
	if err != nil || assigneeID == 0 {
		return c, err
	}
	return c, d.notifyAssigned(ctx, tx, acct, id, assigneeID, Author{Kind: "agent", Name: "The AI agent"})
}

// notifyAssigned tells the new assignee (unless they assigned it to
// themselves).
func (d *Desk) notifyAssigned(ctx context.Context, tx pgx.Tx, acct, convID, assignee int64, by Author) error {
	if assignee == by.UserID {
		return nil
	}
	var inboxID int64
	if err := tx.QueryRow(ctx, `SELECT inbox_id FROM conversations WHERE id = $1`, convID).Scan(&inboxID); err != nil {
		return withKind(err, "conversation", convID)
	}
	who := by.Name
	if who == "" {
		who = "Someone"
	}
	return d.notify(ctx, tx, acct, notice{kind: NotifyAssigned, inboxID: inboxID, convID: convID,
		to: audienceUsers, users: []int64{assignee}, actor: by.UserID, actorWho: who})
}

// Escalation hands a conversation from the agent to people: it is
// reopened, assigned to the team (or unassigned from the agent), its
// priority raised, and a private note records the reason.
type Escalation struct {
	ConversationID int64
	Reason         string
	Priority       string // "" raises to at least high
	TeamID         int64
	By             Author
}

// conversationEscalate runs an Escalation in tx.
func (d *Desk) conversationEscalate(ctx context.Context, tx pgx.Tx, acct int64, e Escalation) (Conversation, Message, error) {
	id := e.ConversationID
	if strings.TrimSpace(e.Reason) == "" || len(e.Reason) > 2000 {
		return Conversation{}, Message{}, invalid("reason", "reason must be 1 to 2000 characters")
	}
	if e.Priority != "" && !slices.Contains(priorities, e.Priority) {
		return Conversation{}, Message{}, invalid("priority", "priority must be one of none, low, medium, high, urgent")
	}
	if e.TeamID != 0 {
		if err := tx.QueryRow(ctx, `SELECT id FROM teams WHERE id = $1`, e.TeamID).Scan(&e.TeamID); err != nil {
			return Conversation{}, Message{}, named(err, "team_id", "team", e.TeamID)
		}
	}
	cur, err := ConversationRead(ctx, tx, id)
	if err != nil {
		return Conversation{}, Message{}, err
	}
	priority := e.Priority
	if priority == "" {
		priority = cur.Priority
		if slices.Index(priorities, priority) < slices.Index(priorities, "high") {
			priority = "high"
		}
	}
	_, err = tx.Exec(ctx, `UPDATE conversations SET status = 'open', snoozed_until = NULL, priority = $2, escalated = true,
			team_id = CASE WHEN $3::bigint = 0 THEN team_id ELSE $3 END,
			assignee_id = CASE WHEN assignee_id = $4 THEN NULL ELSE assignee_id END,
			updated_at = now()
		WHERE id = $1`, id, priority, e.TeamID, e.By.UserID)
	if err != nil {
		return Conversation{}, Message{}, err
	}
	note, err := d.MessageInsert(ctx, tx, acct, id, "Escalated to a human: "+e.Reason, true, e.By)
	if err != nil {
		return Conversation{}, Message{}, err
	}
	changes := map[string]any{"escalated": true, "reason": e.Reason, "status": "open", "priority": priority}
	if e.TeamID != 0 {
		changes["team_id"] = e.TeamID
	}
	c, err := d.updated(ctx, tx, acct, id, changes)
	if err != nil {
		return c, note, err
	}
	// The team hears of it, else the inbox's members and the admins.
	n := notice{kind: NotifyEscalated, inboxID: c.InboxID, convID: id, to: audienceInbox, actor: e.By.UserID, reason: shorten(e.Reason, maxReason)}
	if c.Team != nil {
		n.to, n.teamID = audienceTeam, c.Team.ID
	}
	return c, note, d.notify(ctx, tx, acct, n)
}

// conversationStart opens an outbound conversation with one contact in an
// inbox and writes its first outgoing message (o.NeedsApproval is the
// caller's to handle).
func (d *Desk) conversationStart(ctx context.Context, tx pgx.Tx, acct int64, o Outreach) (Conversation, Message, error) {
	inboxID, contactID, subject, content, by := o.InboxID, o.ContactID, o.Subject, o.Content, o.By
	if len(subject) > 300 {
		return Conversation{}, Message{}, invalid("subject", "subject is at most 300 characters")
	}
	if strings.TrimSpace(content) == "" || len(content) > MaxContent {
		return Conversation{}, Message{}, invalid("content", "content must be 1 to %d characters", MaxContent)
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO conversations (account_id, inbox_id, contact_id, subject) VALUES ($1, $2, $3, $4) RETURNING id`,
		acct, inboxID, contactID, subject).Scan(&id)
	if err != nil {
		return Conversation{}, Message{}, withKind(err, "inbox or contact", inboxID)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO contact_inboxes (account_id, contact_id, inbox_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		acct, contactID, inboxID); err != nil {
		return Conversation{}, Message{}, err
	}
	c, err := ConversationRead(ctx, tx, id)
	if err != nil {
		return Conversation{}, Message{}, err
	}
	if err := conversationEvent(ctx, tx, acct, EventConversationCreated, c, map[string]any{"outbound": true}); err != nil {
		return Conversation{}, Message{}, err
	}
	m, err := d.MessageInsert(ctx, tx, acct, id, content, false, by)
	if err != nil {
		return Conversation{}, Message{}, err
	}
	c, err = ConversationRead(ctx, tx, id)
	return c, m, err
}

// ContactInput creates or changes a contact; nil fields stay as they are.
type ContactInput struct {
	Name             *string
	Email            *string
	Phone            *string
	Identifier       *string
	CustomAttributes map[string]any
}

func (in ContactInput) validate(creating bool) error {
	for name, v := range map[string]*string{"name": in.Name, "email": in.Email, "phone": in.Phone, "identifier": in.Identifier} {
		if v == nil {
			continue
		}
		if err := input.Text(name, *v, input.MaxName); err != nil {
			return err
		}
	}
	if in.Email != nil && *in.Email != "" {
		if err := input.Email("email", *in.Email); err != nil {
			return err
		}
	}
	if err := input.Attributes("custom_attributes", in.CustomAttributes); err != nil {
		return err
	}
	if creating && empty(in.Name) && empty(in.Email) && empty(in.Phone) && empty(in.Identifier) {
		return invalid("", "give at least one of name, email, phone or identifier")
	}
	return nil
}

// contactFields names the values a contact write sent.
func contactFields(in ContactInput) tenancy.Fields {
	f := tenancy.Fields{}
	if in.Email != nil {
		f["email"] = *in.Email
	}
	if in.Identifier != nil {
		f["identifier"] = *in.Identifier
	}
	return f
}

func empty(s *string) bool { return s == nil || strings.TrimSpace(*s) == "" }

func nullable(s *string) any {
	if s == nil || *s == "" {
		return nil
	}
	return *s
}

// contactCreate adds a contact, linked to the inbox when given, and
// records the token that created it (a restricted token may see what it
// created). A taken email or identifier is ErrConflict.
func (d *Desk) contactCreate(ctx context.Context, tx pgx.Tx, acct int64, c ContactNew) (Contact, error) {
	in, inboxID, tokenID := c.Input, c.InboxID, c.By.TokenID
	if err := in.validate(true); err != nil {
		return Contact{}, err
	}
	attrs := in.CustomAttributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO contacts (account_id, name, email, phone, identifier, custom_attributes, created_by_token_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		acct, name, nullable(in.Email), nullable(in.Phone), nullable(in.Identifier), attrs, nullID(tokenID)).Scan(&id)
	if err != nil {
		// One sentence whoever asks ("a contact with email … already
		// exists"): it names the value sent, never the contact that has it,
		// so a token limited to some inboxes learns that the value is taken
		// and nothing about a contact outside them (README, "Contacts").
		return Contact{}, mapErr(err, contactFields(in))
	}
	if inboxID != 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO contact_inboxes (account_id, contact_id, inbox_id) VALUES ($1, $2, $3)`, acct, id, inboxID); err != nil {
			return Contact{}, named(mapErr(err), "inbox_id", "inbox", inboxID)
		}
	}
	if err := eventAppend(ctx, tx, acct, newEvent{typ: EventContactCreated, inboxID: inboxID, contactID: id}); err != nil {
		return Contact{}, err
	}
	return ContactRead(ctx, tx, id)
}

// contactUpdate changes a contact's fields; custom attributes are merged
// (a null value removes a key).
func (d *Desk) contactUpdate(ctx context.Context, tx pgx.Tx, acct int64, c ContactEdit) (Contact, error) {
	id, in := c.ContactID, c.Input
	if err := in.validate(false); err != nil {
		return Contact{}, err
	}
	attrs := in.CustomAttributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	tag, err := tx.Exec(ctx, `UPDATE contacts SET
			name = coalesce($2, name),
			email = CASE WHEN $3::text IS NULL THEN email ELSE nullif($3, '') END,
			phone = CASE WHEN $4::text IS NULL THEN phone ELSE nullif($4, '') END,
			custom_attributes = jsonb_strip_nulls(custom_attributes || $5::jsonb),
			updated_at = now()
		WHERE id = $1`, id, in.Name, in.Email, in.Phone, attrs)
	if err != nil {
		return Contact{}, mapErr(err, contactFields(in)) // as in ContactCreate
	}
	if tag.RowsAffected() == 0 {
		return Contact{}, notFound("contact", id)
	}
	changed := []string{}
	for name, v := range map[string]*string{"name": in.Name, "email": in.Email, "phone": in.Phone} {
		if v != nil {
			changed = append(changed, name)
		}
	}
	if len(in.CustomAttributes) > 0 {
		changed = append(changed, "custom_attributes")
	}
	slices.Sort(changed)
	if err := eventAppend(ctx, tx, acct, newEvent{typ: EventContactUpdated, contactID: id, data: map[string]any{"changed": changed}}); err != nil {
		return Contact{}, err
	}
	return ContactRead(ctx, tx, id)
}

// ContactRead reads a contact inside tx.
func ContactRead(ctx context.Context, tx pgx.Tx, id int64) (Contact, error) {
	rows, _ := tx.Query(ctx, `SELECT `+contactColumns+` FROM contacts ct WHERE ct.id = $1`, id)
	c, err := pgx.CollectExactlyOneRow(rows, scanContact)
	return c, withKind(err, "contact", id)
}

// contactNoteCreate adds an internal note to a contact.
func (d *Desk) contactNoteCreate(ctx context.Context, tx pgx.Tx, acct int64, cn ContactNoteNew) (ContactNote, error) {
	contactID, content, by := cn.ContactID, cn.Content, cn.By
	if strings.TrimSpace(content) == "" || len(content) > 10000 {
		return ContactNote{}, invalid("content", "content must be 1 to 10000 characters")
	}
	var n ContactNote
	err := tx.QueryRow(ctx, `INSERT INTO contact_notes (account_id, contact_id, content, author_id, token_id)
		VALUES ($1, $2, $3, $4, $5) RETURNING id, content, created_at`,
		acct, contactID, content, nullID(by.UserID), nullID(by.TokenID)).Scan(&n.ID, &n.Content, &n.CreatedAt)
	return n, withKind(mapErr(err), "contact", contactID)
}
