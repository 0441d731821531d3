package desk

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/tenancy"
)

// Offboarding and upkeep (DESIGN §19), admins only: change a person's
// role, deactivate (undoable) or remove them, remove inbox members, delete
// inboxes, teams and labels, edit help-center articles. Each runs as the
// request's unit of work, so the change and its audit row (the admin as
// actor) commit together.
//
// Deactivating or removing a person ends their sessions, personal
// tokens and connected apps: the session and token look-ups read the
// membership's status in the database on every request, so every replica
// refuses them from the next request on; their requests in flight either
// commit before the change or fail without writing (tenancy.ByMember);
// their open streams and long-polls end at once on every replica. Their
// open conversations become unassigned. A removed person's membership
// stays as a row, so the audit log keeps their name.

// PersonPatch is an admin's change to a person: a role, or active false
// (deactivate) or true (reactivate). nil leaves it alone.
type PersonPatch struct {
	Role   *string
	Active *bool
}

// ErrLastAdmin is the change that would leave the workspace without an
// active admin.
func errLastAdmin(name string) error {
	return fault.Conflictf("role", "%s is the workspace's last active admin; make someone else an admin first", name)
}

// member is a person's membership, locked for a change.
type member struct {
	ID           int64
	Name, Email  string
	Kind, Role   string
	Status       string
	activeAdmins int
}

// lockMember locks the account's active admins (so that two admins
// demoting each other at once cannot both succeed: the second sees the
// first's change) and the person's membership. The admins' lock lets
// the members' own writes (which hold their membership with KEY SHARE,
// tenancy.ByMember) go on; the person's lock waits for theirs to commit,
// and any that start later wait for this change and then find it. A
// removed person, or the agent's service account, is not found.
func lockMember(ctx context.Context, tx pgx.Tx, id int64) (member, error) {
	var m member
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM account_users
		WHERE role = 'admin' AND status = 'active' ORDER BY user_id FOR NO KEY UPDATE) a`).Scan(&m.activeAdmins); err != nil {
		return m, err
	}
	err := tx.QueryRow(ctx, `SELECT u.id, u.name, coalesce(u.email, ''), u.kind, au.role, au.status
		FROM account_users au JOIN users u ON u.id = au.user_id
		WHERE au.user_id = $1 AND au.status <> 'removed' AND u.kind = 'human' FOR UPDATE OF au`, id).
		Scan(&m.ID, &m.Name, &m.Email, &m.Kind, &m.Role, &m.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, notFound("user", id)
	}
	return m, err
}

// lastAdmin says whether m is the only active admin.
func (m member) lastAdmin() bool {
	return m.Role == "admin" && m.Status == identity.StatusActive && m.activeAdmins <= 1
}

// reasons adds to the request's audit reasons.
func reasons(req *tenancy.Request, rs ...string) {
	if req.Audit != nil {
		req.Audit.Reasons = append(req.Audit.Reasons, rs...)
	}
}

// PersonChange changes a person's role or deactivates or reactivates them
// (audited by the request, with the person as target). Deactivating ends
// their sessions and personal tokens and unassigns their open
// conversations; demoting an admin revokes the apps they connected. Demoting or deactivating the last active admin is
// ErrConflict.
func (d *Desk) PersonChange(ctx context.Context, req *tenancy.Request, id int64, p PersonPatch, now time.Time) (identity.User, error) {
	if p.Role == nil && p.Active == nil {
		return identity.User{}, fault.Invalidf("", "nothing to change; give role or active")
	}
	if p.Role != nil && *p.Role != "admin" && *p.Role != "agent" {
		return identity.User{}, fault.Invalidf("role", "role must be admin or agent")
	}
	var out identity.User
	req.Audit.Touched("user_id", id)
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		m, err := lockMember(ctx, tx, id)
		if err != nil {
			return err
		}
		demote := p.Role != nil && *p.Role != "admin"
		deactivate := p.Active != nil && !*p.Active
		if (demote || deactivate) && m.lastAdmin() {
			return errLastAdmin(m.Name)
		}
		if p.Role != nil && *p.Role != m.Role {
			if _, err := tx.Exec(ctx, `UPDATE account_users SET role = $2 WHERE user_id = $1`, id, *p.Role); err != nil {
				return err
			}
			reasons(req, "role="+m.Role+"→"+*p.Role)
			if m.Role == "admin" {
				// Only admins connect apps to the MCP server, granting what
				// an admin may; an agent keeps none of those grants. The
				// account's long-polls wake, so one on such an app ends now.
				apps, err := revokeApps(ctx, tx, id, now)
				if err != nil {
					return err
				}
				if apps > 0 {
					if _, err := tx.Exec(ctx, `SELECT pg_notify('deskwoot_events', $1::bigint::text)`, req.AccountID); err != nil {
						return err
					}
				}
				reasons(req, "apps_revoked="+strconv.FormatInt(apps, 10))
			}
			m.Role = *p.Role
		}
		switch {
		case deactivate && m.Status == identity.StatusActive:
			if _, err := d.offboard(ctx, tx, req, id, identity.StatusDeactivated, now); err != nil {
				return err
			}
			m.Status = identity.StatusDeactivated
		case p.Active != nil && *p.Active && m.Status == identity.StatusDeactivated:
			if _, err := tx.Exec(ctx, `UPDATE account_users SET status = 'active' WHERE user_id = $1`, id); err != nil {
				return err
			}
			reasons(req, "status=active")
			m.Status = identity.StatusActive
		}
		out = identity.User{ID: m.ID, Kind: m.Kind, Email: m.Email, Name: m.Name, Role: m.Role, Status: m.Status}
		return nil
	})
	return out, err
}

// PersonRemoved says what removing a person changed.
type PersonRemoved struct {
	Unassigned int `json:"unassigned"`
}

// PersonRemove removes a person from the workspace: their sessions and
// personal tokens end, their inbox and team memberships go, their open
// conversations become unassigned, and pending invitations to them are
// withdrawn. The membership stays as a removed row (the audit log keeps
// their name); an invitation can bring them back. Removing the last active
// admin is ErrConflict.
func (d *Desk) PersonRemove(ctx context.Context, req *tenancy.Request, id int64, now time.Time) (PersonRemoved, error) {
	var out PersonRemoved
	req.Audit.Touched("user_id", id)
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		m, err := lockMember(ctx, tx, id)
		if err != nil {
			return err
		}
		if m.lastAdmin() {
			return errLastAdmin(m.Name)
		}
		for _, q := range []string{
			`DELETE FROM inbox_members WHERE user_id = $1`,
			`DELETE FROM team_members WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $2
			WHERE lower(email) = lower($1) AND accepted_at IS NULL AND revoked_at IS NULL`, m.Email, now); err != nil {
			return err
		}
		out.Unassigned, err = d.offboard(ctx, tx, req, id, identity.StatusRemoved, now)
		return err
	})
	return out, err
}

// offboard sets the membership's status, ends the person's sessions,
// personal tokens and the apps they connected to the MCP server (OAuth
// grants: their consent, on their devices), unassigns their open
// conversations (a deactivated person's are unassigned already) and says
// how many. Once it commits, every replica ends the person's open
// streams and wakes the account's long-polls (accessEnded), so that none
// of them waits for its next re-check. Tokens an admin minted on
// Settings → MCP server belong to the workspace and stay.
func (d *Desk) offboard(ctx context.Context, tx pgx.Tx, req *tenancy.Request, id int64, status string, now time.Time) (int, error) {
	if _, err := tx.Exec(ctx, `UPDATE account_users SET status = $2 WHERE user_id = $1`, id, status); err != nil {
		return 0, err
	}
	if err := identity.SessionsEnd(ctx, tx, id, now); err != nil {
		return 0, err
	}
	apps, err := revokeApps(ctx, tx, id, now)
	if err != nil {
		return 0, err
	}
	if err := accessEnded(ctx, tx, req.AccountID, id); err != nil {
		return 0, err
	}
	n, err := d.unassign(ctx, tx, req.AccountID, `assignee_id = $1`, id)
	if err != nil {
		return 0, err
	}
	reasons(req, "status="+status, "unassigned="+strconv.Itoa(n), "apps_revoked="+strconv.FormatInt(apps, 10))
	return n, nil
}

// revokeApps revokes the apps person id connected to the MCP server (OAuth
// grants: their consent, on their devices) and says how many.
func revokeApps(ctx context.Context, tx pgx.Tx, id int64, now time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE mcp_tokens SET revoked_at = $2 WHERE kind = 'oauth' AND created_by = $1 AND revoked_at IS NULL`, id, now)
	return tag.RowsAffected(), err
}

// unassign clears the assignee of the open (not resolved) conversations
// that match cond (with args), each with its conversation.updated
// event, and says how many.
func (d *Desk) unassign(ctx context.Context, tx pgx.Tx, acct int64, cond string, args ...any) (int, error) {
	return d.conversationsChange(ctx, tx, acct, `UPDATE conversations SET assignee_id = NULL, updated_at = now()
		WHERE `+cond+` AND status <> 'resolved'`, map[string]any{"assignee_id": nil}, args...)
}

// conversationsChange runs an UPDATE of conversations (without RETURNING)
// and appends conversation.updated with changes for each one it changed.
func (d *Desk) conversationsChange(ctx context.Context, tx pgx.Tx, acct int64, update string, changes map[string]any, args ...any) (int, error) {
	rows, _ := tx.Query(ctx, update+` RETURNING id, inbox_id, contact_id, status`, args...)
	type changed struct {
		ID, InboxID, ContactID int64
		Status                 string
	}
	cs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[changed])
	if err != nil {
		return 0, err
	}
	for _, c := range cs {
		if err := eventAppend(ctx, tx, acct, newEvent{typ: EventConversationUpdated, inboxID: c.InboxID, conversationID: c.ID,
			contactID: c.ContactID, data: map[string]any{"changes": changes, "status": c.Status}}); err != nil {
			return 0, err
		}
	}
	return len(cs), nil
}

// InboxMemberRemove takes a person out of an inbox; their open
// conversations there become unassigned (they no longer see them). One
// who is not a member is not found.
func (d *Desk) InboxMemberRemove(ctx context.Context, req *tenancy.Request, inboxID, userID int64) error {
	req.Audit.Touched("inbox_id", inboxID)
	req.Audit.Touched("user_id", userID)
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM inbox_members WHERE inbox_id = $1 AND user_id = $2`, inboxID, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fault.NotFoundf("user %d is not a member of inbox %d", userID, inboxID)
		}
		var admin bool
		if err := tx.QueryRow(ctx, `SELECT role = 'admin' FROM account_users WHERE user_id = $1`, userID).Scan(&admin); err != nil {
			return err
		}
		if admin { // admins see every inbox anyway
			return nil
		}
		n, err := d.unassign(ctx, tx, req.AccountID, `assignee_id = $1 AND inbox_id = $2`, userID, inboxID)
		reasons(req, "unassigned="+strconv.Itoa(n))
		return err
	})
}

// InboxDeletion is what deleting an inbox takes with it.
type InboxDeletion struct {
	Name          string `json:"name"`
	Conversations int    `json:"conversations"`
}

// InboxDeletePreview says what deleting an inbox would take with it (the
// confirm step shows it).
func (d *Desk) InboxDeletePreview(ctx context.Context, req *tenancy.Request, id int64) (InboxDeletion, error) {
	var out InboxDeletion
	b := &pgx.Batch{}
	b.Queue(`SELECT name, (SELECT count(*) FROM conversations WHERE inbox_id = $1) FROM inboxes WHERE id = $1`, id).
		QueryRow(func(r pgx.Row) error { return r.Scan(&out.Name, &out.Conversations) })
	return out, withKind(d.DB.Read(ctx, req, b), "inbox", id)
}

// InboxDelete deletes an inbox with its conversations (their messages
// and drafts, each with its conversation.deleted event), its members,
// contact links and drafts. MCP tokens and invitations restricted to it
// lose it; a token left with no inbox is revoked. confirmName, when not
// nil, must be the inbox's name (the console's typed confirmation).
func (d *Desk) InboxDelete(ctx context.Context, req *tenancy.Request, id int64, confirmName *string, now time.Time) (InboxDeletion, error) {
	var out InboxDeletion
	req.Audit.Touched("inbox_id", id)
	err := d.inUnit(ctx, req, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT name FROM inboxes WHERE id = $1 FOR UPDATE`, id).Scan(&out.Name); err != nil {
			return withKind(err, "inbox", id)
		}
		if confirmName != nil && strings.TrimSpace(*confirmName) != out.Name {
			return fault.Invalidf("confirm_name", "confirm_name must be the inbox's name, %s, typed exactly", out.Name)
		}
		rows, _ := tx.Query(ctx, `SELECT id, contact_id FROM conversations WHERE inbox_id = $1 ORDER BY id FOR UPDATE`, id)
		convs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ ID, ContactID int64 }])
		if err != nil {
			return err
		}
		for _, c := range convs {
			if _, err := conversationRemove(ctx, tx, req.AccountID, c.ID, id, c.ContactID); err != nil {
				return err
			}
		}
		out.Conversations = len(convs)
		var revoked int
		if err := tx.QueryRow(ctx, `WITH t AS (
				UPDATE mcp_tokens SET inbox_ids = array_remove(inbox_ids, $1),
					revoked_at = CASE WHEN inbox_ids = ARRAY[$1]::bigint[] THEN coalesce(revoked_at, $2) ELSE revoked_at END
				WHERE $1 = ANY(inbox_ids) RETURNING revoked_at = $2 AS now_revoked)
			SELECT count(*) FILTER (WHERE now_revoked) FROM t`, id, now).Scan(&revoked); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM drafts WHERE inbox_id = $1`,
			`DELETE FROM contact_inboxes WHERE inbox_id = $1`,
			`DELETE FROM inbox_members WHERE inbox_id = $1`,
			`UPDATE invitations SET inbox_ids = array_remove(inbox_ids, $1) WHERE $1 = ANY(inbox_ids)`,
			`DELETE FROM inboxes WHERE id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		reasons(req, "conversations="+strconv.Itoa(len(convs)), "tokens_revoked="+strconv.Itoa(revoked))
		return nil
	})
	return out, err
}

// TeamDelete deletes a team; its conversations keep their assignee and
// lose the team (each with its conversation.updated event).
func (d *Desk) TeamDelete(ctx context.Context, req *tenancy.Request, id int64) error {
	req.Audit.Touched("team_id", id)
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM teams WHERE id = $1 FOR UPDATE`, id).Scan(&name); err != nil {
			return withKind(err, "team", id)
		}
		n, err := d.conversationsChange(ctx, tx, req.AccountID, `UPDATE conversations SET team_id = NULL, updated_at = now() WHERE team_id = $1`,
			map[string]any{"team_id": nil}, id)
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM team_members WHERE team_id = $1`, `DELETE FROM teams WHERE id = $1`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		reasons(req, "conversations="+strconv.Itoa(n))
		return nil
	})
}

// LabelDelete deletes a label and takes it off every conversation (each
// with its conversation.updated event).
func (d *Desk) LabelDelete(ctx context.Context, req *tenancy.Request, id int64) error {
	req.Audit.Touched("label_id", id)
	return d.inUnit(ctx, req, func(tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM labels WHERE id = $1 FOR UPDATE`, id).Scan(&name); err != nil {
			return withKind(err, "label", id)
		}
		n, err := d.conversationsChange(ctx, tx, req.AccountID, `UPDATE conversations SET labels = array_remove(labels, $1), updated_at = now()
			WHERE $1 = ANY(labels)`, map[string]any{"remove_labels": []string{name}}, name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM labels WHERE id = $1`, id); err != nil {
			return err
		}
		reasons(req, "conversations="+strconv.Itoa(n))
		return nil
	})
}

// ArticlePatch is an edit of a help-center article; nil leaves a field.
type ArticlePatch struct {
	Title, Body, Status *string
}

// ArticleChange edits an article's title, body or status.
func (d *Desk) ArticleChange(ctx context.Context, req *tenancy.Request, id int64, p ArticlePatch) (Article, error) {
	switch {
	case p.Title == nil && p.Body == nil && p.Status == nil:
		return Article{}, fault.Invalidf("", "nothing to change; give title, body or status")
	case p.Title != nil && (strings.TrimSpace(*p.Title) == "" || utf8.RuneCountInString(*p.Title) > 300):
		return Article{}, fault.Invalidf("title", "title must be 1 to 300 characters")
	case p.Body != nil && utf8.RuneCountInString(*p.Body) > 200000:
		return Article{}, fault.Invalidf("body", "body must be at most 200000 characters")
	case p.Status != nil && !slices.Contains([]string{"published", "draft"}, *p.Status):
		return Article{}, fault.Invalidf("status", "status must be published or draft")
	}
	var a Article
	b := &pgx.Batch{}
	b.Queue(`UPDATE articles SET title = coalesce($2, title), body = coalesce($3, body), status = coalesce($4, status), updated_at = now()
		WHERE id = $1 RETURNING id, title, body, '', status, updated_at`, id, trimmed(p.Title), p.Body, p.Status).
		QueryRow(func(r pgx.Row) error { return r.Scan(&a.ID, &a.Title, &a.Body, &a.Snippet, &a.Status, &a.UpdatedAt) })
	req.Audit.Touched("article_id", id)
	return a, withKind(d.DB.Unit(ctx, req, b, nothingMore), "article", id)
}
